"""Fine-tuning the encoder on the organisation's own documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.encoder import Encoder
from models.exceptions import EncoderMismatchError
from models.finetune import FineTuneConfig, mine_pairs
from models.recommender import Recommender
from pipelines import ingest, train
from pipelines.cli import app
from pipelines.exceptions import PipelineError


@pytest.fixture(scope="module")
def tuned(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tuned") / "encoder"
    documents = ingest.run([small_dataset / "documents.jsonl"]).documents
    config = FineTuneConfig(batch_size=8, max_pairs=16, learning_rate=1e-4)
    result = train.run(documents, out, config=config, judgments=[small_dataset])
    assert result.pairs == 16 and result.steps == 2
    return out


def test_pairs_are_titles_and_the_text_that_answers_them(small_dataset: Path) -> None:
    documents = ingest.run([small_dataset / "documents.jsonl"]).documents
    pairs = mine_pairs(documents, max_positive_chars=100)
    assert len(pairs) == len(documents)
    assert pairs[0].anchor == documents[0].title and len(pairs[0].positive) <= 100


def test_judged_queries_add_pairs(small_dataset: Path) -> None:
    documents = ingest.run([small_dataset / "documents.jsonl"]).documents
    pairs = train.judged_pairs([small_dataset], documents)
    assert len(pairs) >= 30 and all(p.anchor and p.positive for p in pairs)


def test_the_tuned_folder_is_a_model_that_build_accepts(tuned: Path, encoder: Encoder) -> None:
    model = Encoder(tuned)
    assert model.info.name == "encoder" and model.info.fingerprint != encoder.info.fingerprint
    text = ["How do I reset an Alexa device?"]
    moved = float(np.dot(model.encode_documents(text)[0], encoder.encode_documents(text)[0]))
    assert 0.8 < moved < 0.99999, "fine-tuning changed the vectors, but not beyond recognition"
    assert (tuned / "whoknows-finetune.json").is_file()


def test_an_index_of_the_tuned_encoder_refuses_the_default_one(
    tuned: Path, small_dataset: Path, tmp_path: Path, encoder: Encoder
) -> None:
    runner = CliRunner()
    built = runner.invoke(
        app,
        [
            "build",
            "-d",
            str(small_dataset / "documents.jsonl"),
            "--out",
            str(tmp_path / "i"),
            "--encoder",
            str(tuned),
            "--no-cache",
            "--no-track",
        ],
    )
    assert built.exit_code == 0, built.output
    assert Recommender.load(tmp_path / "i").encoder.info.name == "encoder"
    with pytest.raises(EncoderMismatchError):
        Recommender.load(tmp_path / "i", encoder=encoder)


def test_documents_without_titles_and_texts_are_not_enough(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="training pairs"):
        train.run([], tmp_path / "model")


def test_train_command(small_dataset: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--documents",
            str(small_dataset / "documents.jsonl"),
            "--out",
            str(tmp_path / "m"),
            "--max-pairs",
            "8",
            "--no-track",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "build with --encoder" in result.output
