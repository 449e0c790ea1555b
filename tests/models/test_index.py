from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.exceptions import ArtifactFormatError, ConfigurationError
from models.index import create_index, load_index
from models.index.factory import AUTO_FLAT_LIMIT

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
    assert (hits.ids[:, 0] == np.arange(1000, 1020)).mean() >= 0.95
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
