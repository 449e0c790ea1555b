from __future__ import annotations

from pathlib import Path

import numpy as np

from models.embedding_cache import EmbeddingCache, content_key


def test_vectors_survive_reopening(tmp_path: Path) -> None:
    keys = [content_key("model", "document", t) for t in ("a", "b")]
    vectors = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many(keys, vectors)
    cache.close()
    reopened = EmbeddingCache(tmp_path / "c.sqlite")
    found = reopened.get_many(keys + [content_key("model", "document", "c")], 3)
    assert len(reopened) == 2
    assert set(found) == set(keys)
    np.testing.assert_array_equal(found[keys[1]], vectors[1])


def test_keys_differ_by_model_role_and_text() -> None:
    base = content_key("m1", "document", "text")
    assert base == content_key("m1", "document", "text")
    assert base != content_key("m2", "document", "text")
    assert base != content_key("m1", "query", "text")
    assert base != content_key("m1", "document", "text ")


def test_vectors_of_another_dimension_are_not_returned(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    key = content_key("m", "document", "x")
    cache.put_many([key], np.ones((1, 4), dtype=np.float32))
    assert cache.get_many([key], 3) == {}


def test_a_damaged_cache_file_is_set_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = EmbeddingCache(path)
    assert len(cache) == 0
    assert [p.name.startswith("c.sqlite.damaged-") for p in tmp_path.iterdir()].count(True) == 1
