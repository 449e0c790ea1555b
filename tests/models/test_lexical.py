from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.exceptions import ArtifactFormatError
from models.lexical import LexicalIndex, tokenize


def test_tokens_are_stemmed_without_stop_words() -> None:
    assert tokenize(["The consumers are lagging"]) == [["consum", "lag"]]


def test_scores_rank_exact_words_first() -> None:
    index = LexicalIndex.build(["Kafka consumer lag grows", "Roof tiles broken", ""])
    scores = index.scores("kafka consumers lagging")
    assert scores[0] > 0 and scores[1] == 0 and scores[2] == 0
    assert not index.scores("zzz unknown words").any()
    assert not index.scores("the of and").any()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = LexicalIndex.build(["alpha beta", "beta gamma"])
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25", 2)
    np.testing.assert_array_equal(loaded.scores("gamma"), index.scores("gamma"))
    with pytest.raises(ArtifactFormatError, match="indexes 2 items, expected 3"):
        LexicalIndex.load(tmp_path / "bm25", 3)
    with pytest.raises(ArtifactFormatError, match="missing"):
        LexicalIndex.load(tmp_path / "nothing", 2)


def test_an_empty_collection_is_allowed(tmp_path: Path) -> None:
    index = LexicalIndex.build([])
    assert index.scores("anything").shape == (0,)
    index.save(tmp_path / "bm25")
    assert LexicalIndex.load(tmp_path / "bm25", 0).scores("x").shape == (0,)
