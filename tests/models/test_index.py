from __future__ import annotations

import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from models.assembly import assemble, embed
from models.config import RecommenderConfig
from models.encoder import Encoder
from models.exceptions import ArtifactFormatError, ConfigurationError
from models.index import VectorIndex, base, create_index, load_index
from models.index.factory import AUTO_FLAT_LIMIT
from models.index.hnsw import EF_CHOICES, HNSWIndex
from tests.conftest import tiny_records

KINDS = ["flat", "hnsw"]


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
    assert create_index("auto", 8, AUTO_FLAT_LIMIT + 1).kind == "hnsw"
    with pytest.raises(ConfigurationError, match="unknown index type"):
        create_index("annoy", 8)


def test_empty_index_answers_nothing() -> None:
    hits = create_index("flat", 16).search(unit_vectors(2), 5)
    assert hits.ids.shape == (2, 0)


def test_hnsw_with_a_selective_filter_matches_exact_search() -> None:
    vectors = unit_vectors(5000)
    graph, exact = create_index("hnsw", 16), create_index("flat", 16)
    graph.build(vectors, np.arange(5000))
    exact.build(vectors, np.arange(5000))
    allowed = np.zeros(5000, dtype=bool)
    allowed[np.random.default_rng(1).choice(5000, 50, replace=False)] = True
    a, b = graph.search(vectors[:4], 20, allowed), exact.search(vectors[:4], 20, allowed)
    np.testing.assert_array_equal(a.ids, b.ids)


def test_auto_follows_the_exact_search_limit() -> None:
    assert create_index("auto", 8, 2000, exact_limit=1000).kind == "hnsw"
    assert create_index("auto", 8, 1000, exact_limit=1000).kind == "flat"


def _recall(graph: HNSWIndex, exact: VectorIndex, queries: np.ndarray) -> float:
    found, truth = graph.search(queries, 10).ids, exact.search(queries, 10).ids
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


@pytest.mark.parametrize("target", [0.8, 0.99])
def test_tuning_picks_the_shallowest_depth_that_reaches_the_recall_target(
    target: float, tmp_path: Path
) -> None:
    vectors = unit_vectors(20_000, d=32, seed=3)
    graph, exact = create_index("hnsw", 32), create_index("flat", 32)
    assert isinstance(graph, HNSWIndex)
    graph.build(vectors, np.arange(20_000))
    exact.build(vectors, np.arange(20_000))
    tuned = graph.tune(target)
    assert tuned["reached"] and tuned["recall_at_10"] >= target
    assert tuned["ef_search"] == graph.ef_search
    chosen = EF_CHOICES.index(graph.ef_search)
    queries = unit_vectors(300, d=32, seed=4)  # queries the tuning never saw
    assert _recall(graph, exact, queries) >= target - 0.05
    if chosen > 0:  # one step shallower would have missed the target
        graph.ef_search = EF_CHOICES[chosen - 1]
        assert graph.tune(target)["ef_search"] == EF_CHOICES[chosen]
    graph.ef_search = tuned["ef_search"]
    graph.save(tmp_path / "graph.faiss")
    loaded = load_index(tmp_path / "graph.faiss", "hnsw", 32)
    assert isinstance(loaded, HNSWIndex) and loaded.ef_search == tuned["ef_search"]


def test_a_large_build_records_its_tuning_in_the_manifest(encoder: Encoder) -> None:
    documents, people = tiny_records()
    config = RecommenderConfig(exact_search_limit=4, recall_target=0.9)
    made = assemble(embed(documents, people, encoder, config), encoder, config)
    assert made.manifest.index_kind == "hnsw"
    assert made.manifest.search["recall_target"] == 0.9
    assert made.manifest.search["recall_at_10"] >= 0.9
    exact = RecommenderConfig()
    small = assemble(embed(documents, people, encoder, exact), encoder, exact)
    assert small.manifest.index_kind == "flat" and small.manifest.search == {}


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
