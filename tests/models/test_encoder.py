from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.embedding_cache import EmbeddingCache
from models.encoder import DEFAULT_MODEL_NAME, Encoder, default_model_path
from models.exceptions import EncoderLoadError


def test_default_model_comes_from_the_installed_package(encoder: Encoder) -> None:
    assert default_model_path().is_dir()
    assert encoder.info.name == DEFAULT_MODEL_NAME
    assert encoder.dimension == 384
    assert encoder.info.fingerprint.startswith("sha256:")


def test_vectors_are_unit_length_and_meaningful(encoder: Encoder) -> None:
    query = encoder.encode_queries(["how do I reset my password"])
    docs = encoder.encode_documents(
        [
            "Resetting a forgotten password: use the account recovery page.",
            "Boiler maintenance schedule.",
        ]
    )
    assert query.shape == (1, 384) and docs.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-5)
    scores = docs @ query[0]
    assert scores[0] > scores[1] + 0.2


def test_cached_passages_are_not_embedded_again(tmp_path: Path, encoder: Encoder) -> None:
    fresh = Encoder(cache=EmbeddingCache(tmp_path / "cache.sqlite"))
    calls: list[int] = []
    original = fresh._encode

    def counting(texts: list[str], role: str) -> np.ndarray:
        calls.append(len(texts))
        return original(texts, role)

    fresh._encode = counting  # type: ignore[method-assign]
    first = fresh.encode_documents(["alpha", "beta", "alpha"])
    second = fresh.encode_documents(["beta", "gamma", "alpha"])
    assert calls == [2, 1], "duplicates and cached texts must not be re-embedded"
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first[1], second[0])


def test_progress_reports_new_embeddings(encoder: Encoder) -> None:
    seen: list[tuple[str, int, int]] = []
    encoder.encode_documents(
        [f"progress text {i}" for i in range(3)],
        progress=lambda stage, done, total: seen.append((stage, done, total)),
        stage="passages",
    )
    assert seen[0] == ("passages", 0, 3) and seen[-1] == ("passages", 3, 3)


def test_missing_model_folder_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="does not exist"):
        Encoder(tmp_path / "nowhere")


def test_folder_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(EncoderLoadError, match="not a sentence-transformers model folder"):
        Encoder(tmp_path)
