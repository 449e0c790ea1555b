"""Fine-tuning the encoder on the organisation's own documents."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.encoder import Encoder
from models.exceptions import EncoderMismatchError
from models.finetune import ACCEPTED_MARK, FineTuneConfig, Pair, mine_pairs
from models.recommender import Recommender
from models.records import Document
from pipelines import ingest, registry, tracking, train
from pipelines.cli import app
from pipelines.exceptions import PipelineError
from pipelines.registry import fetch
from pipelines.tracking import import_mlflow


@pytest.fixture(scope="module")
def tuned(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tuned") / "encoder"
    documents = ingest.run([small_dataset / "documents.jsonl"]).documents
    config = FineTuneConfig(batch_size=8, max_pairs=16, learning_rate=1e-4)
    result = train.run(documents, out, config=config, judgments=[small_dataset])
    assert result.pairs == 16 and result.steps == 2
    return out


def test_pairs_are_what_is_asked_and_the_text_that_answers_it(small_dataset: Path) -> None:
    documents = ingest.run([small_dataset / "documents.jsonl"]).documents
    pairs = mine_pairs(documents, max_positive_chars=100)
    answered = [d for d in documents if ACCEPTED_MARK in d.text]
    assert answered and len(pairs) == len(documents) + len(answered)
    assert pairs[0].anchor == documents[0].title
    assert all(len(p.positive) <= 100 for p in pairs)


def test_a_question_is_paired_with_its_accepted_answer() -> None:
    thread = Document(
        "q1",
        "Kafka lag",
        "Lag grows on one partition.\n\nAccepted answer:\nRebalance the partitions."
        "\n\nAnswer:\nRestart it.",
    )
    report = Document("r1", "Roof report", "Tiles were replaced.")
    assert mine_pairs([thread, report]) == [
        Pair("Kafka lag", thread.text),
        Pair("Kafka lag\n\nLag grows on one partition.", "Rebalance the partitions."),
        Pair("Roof report", "Tiles were replaced."),
    ]


def test_judged_queries_add_pairs(small_dataset: Path, tmp_path: Path) -> None:
    documents = ingest.run([small_dataset / "documents.jsonl"]).documents
    pairs = train.judged_pairs([small_dataset], documents, max_positive_chars=300)
    assert len(pairs) >= 30 and all(p.anchor and 0 < len(p.positive) <= 300 for p in pairs)
    # Exported feedback is only queries and resource judgments: that is enough.
    for name in ("queries.jsonl", "qrels_resources.tsv"):
        shutil.copy(small_dataset / name, tmp_path / name)
    assert train.judged_pairs([tmp_path], documents, max_positive_chars=300) == pairs


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

    # Registered, the model carries the tuned encoder: it answers without the folder
    # (resources only: this index was built without people).
    registered = registry.register(tmp_path / "i", name="whoknows-tuned")
    files = fetch(registered.uri, tmp_path / "cache", tracking.tracking_uri())
    assert files.encoder is not None and (files.encoder / "whoknows-finetune.json").is_file()
    shutil.rmtree(tuned.parent / "moved", ignore_errors=True)
    tuned.rename(tuned.parent / "moved")
    mlflow = import_mlflow()
    mlflow.set_tracking_uri(tracking.tracking_uri())
    try:
        model = mlflow.pyfunc.load_model(registered.uri)
        answer = model.predict(["How do I reset an Alexa device?"])[0]
    finally:
        (tuned.parent / "moved").rename(tuned)
    assert answer["resources"]


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
