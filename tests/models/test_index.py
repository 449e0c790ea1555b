from __future__ import annotations

import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from models.artifact import Manifest, atomic_directory
from models.assembly import assemble, embed, embeddings_of
from models.config import RecommenderConfig
from models.encoder import Encoder
from models.exceptions import ArtifactFormatError, ConfigurationError
from models.index import VectorIndex, base, create_index, load_index
from models.index.base import ApproximateIndex
from models.index.factory import AUTO_FLAT_LIMIT
from models.index.ivf import IVFIndex
from tests.conftest import tiny_records

KINDS = ["flat", "hnsw", "ivf"]
APPROXIMATE = ["hnsw", "ivf"]


def unit_vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", KINDS)
def test_each_vector_finds_itself_with_cosine_one(kind: str) -> None:
    vectors = unit_vectors(200)
    index = create_index(kind, 16)
    index.build(vectors, np.arange(1000, 1200))
    hits = index.search(vectors[:20], 3)
    found_itself = (hits.ids[:, 0] == np.arange(1000, 1020)).mean()
    # Exact search finds every vector; a graph may miss one now and then.
    assert found_itself >= (1.0 if kind == "flat" else 0.95)
    np.testing.assert_allclose(hits.scores[:, 0], 1.0, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_remove_keeps_other_ids_stable(kind: str) -> None:
    vectors = unit_vectors(50)
    index = create_index(kind, 16)
    index.build(vectors, np.arange(50))
    assert index.remove(np.array([3, 7, 999])) == 2
    assert len(index) == 48
    assert not set(index.ids()) & {3, 7}
    hits = index.search(vectors[10:11], 1)
    assert hits.ids[0, 0] == 10


@pytest.mark.parametrize("kind", KINDS)
def test_filter_applies_before_the_top_k_cut(kind: str) -> None:
    vectors = unit_vectors(100)
    index = create_index(kind, 16)
    index.build(vectors, np.arange(100))
    allowed = np.zeros(100, dtype=bool)
    allowed[[5, 50, 95]] = True
    hits = index.search(vectors[0:1], 10, allowed=allowed)
    found = hits.ids[0][hits.ids[0] >= 0]
    assert set(found) == {5, 50, 95}
    assert np.isinf(hits.scores[0][3:]).all()


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_give_the_same_answers(kind: str, tmp_path: Path) -> None:
    vectors = unit_vectors(64)
    index = create_index(kind, 16)
    index.build(vectors, np.arange(64) * 3)
    index.save(tmp_path / "v.faiss")
    loaded = load_index(tmp_path / "v.faiss", kind, 16)
    before, after = index.search(vectors[:5], 4), loaded.search(vectors[:5], 4)
    np.testing.assert_array_equal(before.ids, after.ids)


def test_adding_an_existing_id_is_refused() -> None:
    index = create_index("flat", 16)
    index.add(unit_vectors(3), np.array([1, 2, 3]))
    with pytest.raises(ConfigurationError, match="already in the index"):
        index.add(unit_vectors(1), np.array([2]))


def test_wrong_dimension_is_refused() -> None:
    index = create_index("flat", 16)
    with pytest.raises(ConfigurationError, match="dimension"):
        index.add(unit_vectors(2, d=8), np.array([1, 2]))


def test_loading_with_another_dimension_fails(tmp_path: Path) -> None:
    index = create_index("flat", 16)
    index.build(unit_vectors(4), np.arange(4))
    index.save(tmp_path / "v.faiss")
    with pytest.raises(ArtifactFormatError, match="dimension 16"):
        load_index(tmp_path / "v.faiss", "flat", 32)


def test_auto_picks_exact_search_for_small_collections() -> None:
    assert create_index("auto", 8, 1000).kind == "flat"
    assert (
        create_index("auto", 8, AUTO_FLAT_LIMIT + 1).kind == RecommenderConfig().approximate_index
    )
    with pytest.raises(ConfigurationError, match="unknown index type"):
        create_index("annoy", 8)


def test_empty_index_answers_nothing() -> None:
    hits = create_index("flat", 16).search(unit_vectors(2), 5)
    assert hits.ids.shape == (2, 0)


@pytest.mark.parametrize("kind", APPROXIMATE)
def test_a_selective_filter_matches_exact_search(kind: str) -> None:
    vectors = unit_vectors(5000)
    index, exact = create_index(kind, 16), create_index("flat", 16)
    index.build(vectors, np.arange(5000))
    exact.build(vectors, np.arange(5000))
    if isinstance(index, IVFIndex):
        index.nprobe = 1  # unfiltered, one cell would miss most allowed vectors
    allowed = np.zeros(5000, dtype=bool)
    allowed[np.random.default_rng(1).choice(5000, 50, replace=False)] = True
    a, b = index.search(vectors[:4], 20, allowed), exact.search(vectors[:4], 20, allowed)
    np.testing.assert_array_equal(a.ids, b.ids)


def test_auto_follows_the_exact_search_limit_and_the_approximate_setting() -> None:
    assert create_index("auto", 8, 2000, exact_limit=1000).kind == "ivf"
    assert create_index("auto", 8, 1000, exact_limit=1000).kind == "flat"
    assert create_index("auto", 8, 2000, 1000, approximate="hnsw").kind == "hnsw"
    assert create_index("auto", 8, 1000, 1000, approximate="hnsw").kind == "flat"
    assert create_index("ivf", 8, 10, approximate="hnsw").kind == "ivf"  # a kind is forced
    assert create_index("hnsw", 8, 10**6).kind == "hnsw"
    with pytest.raises(ConfigurationError, match="approximate index type"):
        create_index("auto", 8, 2000, 1000, approximate="flat")
    with pytest.raises(ConfigurationError, match="approximate_index must be one of ivf, hnsw"):
        RecommenderConfig(approximate_index="annoy")


def _recall(index: VectorIndex, exact: VectorIndex, queries: np.ndarray) -> float:
    found, truth = index.search(queries, 10).ids, exact.search(queries, 10).ids
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


@pytest.mark.parametrize("kind", APPROXIMATE)
@pytest.mark.parametrize("target", [0.8, 0.99])
def test_tuning_picks_the_fastest_depth_that_reaches_the_recall_target(
    kind: str, target: float, tmp_path: Path
) -> None:
    vectors = unit_vectors(20_000, d=32, seed=3)
    index, exact = create_index(kind, 32), create_index("flat", 32)
    assert isinstance(index, ApproximateIndex)
    index.build(vectors, np.arange(20_000))
    exact.build(vectors, np.arange(20_000))
    tuned = index.tune(target)
    assert tuned["reached"] and tuned["recall_at_10"] >= target
    assert tuned[index.knob] == index.depth
    assert set(tuned) == {index.knob, "recall_at_10", "recall_target", "queries", "reached"}
    choices = index.choices()
    chosen = choices.index(index.depth)
    queries = unit_vectors(300, d=32, seed=4)  # queries the tuning never saw
    assert _recall(index, exact, queries) >= target - 0.05
    if chosen > 0:  # one step faster would have missed the target
        index.depth = choices[chosen - 1]
        assert index.tune(target)[index.knob] == choices[chosen]
    index.depth = tuned[index.knob]
    index.save(tmp_path / "index.faiss")
    loaded = load_index(tmp_path / "index.faiss", kind, 32)
    assert isinstance(loaded, ApproximateIndex) and loaded.depth == tuned[index.knob]


def test_ivf_probing_every_cell_is_exact_search() -> None:
    vectors = unit_vectors(5000, seed=5)
    index, exact = create_index("ivf", 16), create_index("flat", 16)
    assert isinstance(index, IVFIndex)
    index.build(vectors, np.arange(5000) * 2)
    exact.build(vectors, np.arange(5000) * 2)
    assert 1 < index.nlist < 5000
    queries = unit_vectors(50, seed=6)
    index.nprobe = 1
    assert _recall(index, exact, queries) < 0.9  # one cell is not the whole collection
    index.nprobe = index.nlist
    a, b = index.search(queries, 10), exact.search(queries, 10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_ivf_filtered_search_visits_as_many_cells_as_unfiltered() -> None:
    vectors = unit_vectors(5000, seed=10)
    index, exact = create_index("ivf", 16), create_index("flat", 16)
    assert isinstance(index, IVFIndex)
    index.build(vectors, np.arange(5000))
    exact.build(vectors, np.arange(5000))
    allowed = np.random.default_rng(2).random(5000) < 0.5  # not selective: no exact scan
    queries = unit_vectors(20, seed=11)
    index.nprobe = index.nlist
    a, b = index.search(queries, 10, allowed), exact.search(queries, 10, allowed)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert allowed[a.ids].all()


def test_ivf_gives_back_the_exact_vectors_and_similarities() -> None:
    vectors = unit_vectors(3000, seed=7)
    index = create_index("ivf", 16)
    index.build(vectors, np.arange(3000) + 10)
    order = np.argsort(index.ids())
    np.testing.assert_array_equal(index.ids()[order], np.arange(3000) + 10)
    np.testing.assert_array_equal(index.vectors()[order], vectors)
    asked = np.array([2999 + 10, 10, 1500])
    np.testing.assert_allclose(
        index.similarities(vectors[0], asked), vectors[asked - 10] @ vectors[0], atol=1e-6
    )
    with pytest.raises(ConfigurationError, match="not in the index"):
        index.similarities(vectors[0], np.array([5]))


def test_ivf_removes_in_place_and_keeps_its_cells_and_depth(tmp_path: Path) -> None:
    vectors = unit_vectors(3000, seed=8)
    index = create_index("ivf", 16)
    assert isinstance(index, IVFIndex)
    index.build(vectors, np.arange(3000))
    index.nprobe = 3
    cells = index.nlist
    gone = np.arange(0, 3000, 3)
    assert index.remove(np.concatenate([gone, [5000]])) == 1000
    assert (len(index), index.nlist, index.nprobe) == (2000, cells, 3)
    assert not set(index.ids()) & set(gone.tolist())
    with pytest.raises(ConfigurationError, match="not in the index"):
        index.similarities(vectors[0], np.array([0]))
    index.nprobe = index.nlist
    hits = index.search(vectors[1:2], 1)
    assert hits.ids[0, 0] == 1
    index.add(vectors[:1], np.array([0]))  # a removed id can come back
    index.save(tmp_path / "v.faiss")
    loaded = load_index(tmp_path / "v.faiss", "ivf", 16)
    assert isinstance(loaded, IVFIndex)
    assert (len(loaded), loaded.nlist, loaded.nprobe) == (2001, cells, cells)
    np.testing.assert_allclose(
        loaded.similarities(vectors[0], np.array([0, 1])), vectors[[0, 1]] @ vectors[0], atol=1e-6
    )
    assert loaded.remove(np.array([1, 2])) == 2  # the id table survives a save


def test_ivf_builds_are_repeatable() -> None:
    vectors = unit_vectors(4000, seed=9)
    first, second = create_index("ivf", 16), create_index("ivf", 16)
    first.build(vectors, np.arange(4000))
    second.build(vectors, np.arange(4000))
    np.testing.assert_array_equal(first.ids(), second.ids())  # the same cells


@pytest.mark.parametrize("approximate", APPROXIMATE)
def test_a_large_build_records_its_tuning_in_the_manifest(
    approximate: str, encoder: Encoder
) -> None:
    documents, people = tiny_records()
    config = RecommenderConfig(
        exact_search_limit=4, recall_target=0.9, approximate_index=approximate
    )
    made = assemble(embed(documents, people, encoder, config), encoder, config)
    assert made.manifest.index_kind == approximate
    knob = {"hnsw": "ef_search", "ivf": "nprobe"}[approximate]
    assert made.manifest.search[knob] >= 1
    assert made.manifest.search["recall_target"] == 0.9
    assert made.manifest.search["recall_at_10"] >= 0.9
    exact = RecommenderConfig()
    small = assemble(embed(documents, people, encoder, exact), encoder, exact)
    assert small.manifest.index_kind == "flat" and small.manifest.search == {}


def test_an_approximate_index_gives_an_update_the_vectors_it_was_built_with(
    encoder: Encoder, tmp_path: Path
) -> None:
    """An update reads every unchanged vector back from the saved index."""
    documents, people = tiny_records()
    config = RecommenderConfig(exact_search_limit=4, approximate_index="ivf")
    embeddings = embed(documents, people, encoder, config)
    made = assemble(embeddings, encoder, config)
    with atomic_directory(tmp_path / "index") as directory:
        made.parts.write(directory)
        made.manifest.write(directory)
    again = embeddings_of(tmp_path / "index")
    assert Manifest.read(tmp_path / "index").index_kind == "ivf"
    np.testing.assert_array_equal(again.passage_vectors, embeddings.passage_vectors)


def test_a_search_thread_limit_reaches_every_thread_that_searches() -> None:
    """OpenMP keeps its thread count per thread: the service sets it at start-up and
    answers in other threads, where a plain omp_set_num_threads(1) did not reach."""
    index = create_index("flat", 16)
    index.build(unit_vectors(50), np.arange(50))
    seen: list[int] = []

    def search() -> None:
        index.search(unit_vectors(1, seed=1), 3)
        seen.append(faiss.omp_get_max_threads())

    try:
        base.limit_search_threads(1)
        thread = threading.Thread(target=search)
        thread.start()
        thread.join()
    finally:
        base.limit_search_threads(None)
    assert seen == [1]
