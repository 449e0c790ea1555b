from __future__ import annotations

import os
import subprocess
import sys
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


def test_feedback_finds_documents_that_share_the_feedback_words() -> None:
    index = LexicalIndex.build(
        [
            "kafka consumer lag partitions rebalance",
            "consumer group rebalance partitions offsets",
            "roof tiles broken after the storm",
        ]
    )
    scores = index.feedback_scores(np.array([0]), terms=5)
    # The second document shares feedback words with the first, the third none.
    assert scores[1] > 0 and scores[2] == 0 and scores[0] > scores[1]
    assert not index.feedback_scores(np.array([], dtype=np.int64), terms=5).any()


def test_feedback_survives_save_and_load(tmp_path: Path) -> None:
    index = LexicalIndex.build(["alpha beta", "beta gamma", "delta"])
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25", 3)
    np.testing.assert_allclose(
        loaded.feedback_scores(np.array([1]), 3), index.feedback_scores(np.array([1]), 3)
    )
    assert LexicalIndex.build([]).feedback_scores(np.array([0]), 3).shape == (0,)


def test_a_build_is_the_same_whatever_python_s_hash_seed(tmp_path: Path) -> None:
    # Words that tie for query expansion must be numbered the same in every build,
    # or two builds of the same records rank differently.
    script = (
        "import sys; from pathlib import Path; from models.lexical import LexicalIndex; "
        "index = LexicalIndex.build(['alpha beta gamma delta', 'gamma delta alpha', 'beta']); "
        "index.save(Path(sys.argv[1])); "
        "print(index.feedback_scores([0, 1], 2).tolist())"
    )
    runs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script, str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
        runs.append((done.stdout, files))
    assert runs[0] == runs[1] == runs[2]
