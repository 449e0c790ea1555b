"""The topics stage and `whoknows topics` on the sample index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from models.encoder import Encoder
from models.exceptions import ArtifactError, ArtifactNotFoundError
from models.recommender import Recommender
from models.topics import TopicConfig, TopicModel, expertise_map
from pipelines import topics as pipeline
from pipelines.cli.insights import topics as topics_command

runner = CliRunner(env={"COLUMNS": "250"})  # wide enough for whole table cells


@pytest.fixture(scope="module")
def written(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> pipeline.TopicsResult:
    return pipeline.run(sample_index, tmp_path_factory.mktemp("topics") / "sample", TopicConfig())


def cli() -> typer.Typer:
    """The command alone (pipelines.cli registers it as `whoknows topics`)."""
    app = typer.Typer()
    app.command()(topics_command)
    return app


def test_run_writes_a_model_the_service_can_load(
    written: pipeline.TopicsResult, sample_index: Path, encoder: Encoder
) -> None:
    out = written.path
    assert {p.name for p in out.iterdir()} == {
        "topic-model.json", "assignments.npy", "centroids.npy", "topics.json", "topics.md",
    }  # fmt: skip
    model = TopicModel.load(out)
    assert model.count == written.model.count == 13, "sqrt(320 / 2) topics"
    assert sum(model.sizes()) == 320 and model.fitted_on == 320
    recommender = Recommender.load(sample_index, encoder=encoder)
    again = expertise_map(recommender, model, TopicConfig())
    assert again == written.map
    summary = json.loads((out / "topics.json").read_text())
    assert summary["topic_count"] == 13 and summary["index_version"] == recommender.index_version
    assert [t["label"] for t in summary["topics"]] == [t.label for t in written.map.topics]
    report = (out / "topics.md").read_text()
    assert all(f"| {t.label} |" in report for t in written.map.topics)


def test_the_sample_s_topics_follow_its_departments(written: pipeline.TopicsResult) -> None:
    found = written.map
    assert set(found.departments) == {
        "Artificial Intelligence", "Cardano", "Internet of Things", "Quantum Computing",
    }  # fmt: skip
    assert all(t.documents > 0 and t.label for t in found.topics)
    # Each site is its own community: every topic is someone's, mostly one site's.
    assert all(t.departments[0].expertise >= 0.5 for t in found.topics)
    quantum = [t for t in found.topics if t.silo == "Quantum Computing"]
    assert quantum and any({"quantum", "qubit", "qubits"} & set(t.terms) for t in quantum)


def test_run_replaces_its_own_output_but_nothing_else(
    written: pipeline.TopicsResult, sample_index: Path, tmp_path: Path
) -> None:
    again = pipeline.run(sample_index, written.path, TopicConfig(count=4))
    assert TopicModel.load(written.path).count == again.model.count == 4
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep")
    with pytest.raises(ArtifactError, match="refusing to replace"):
        pipeline.run(sample_index, foreign, TopicConfig())
    with pytest.raises(ArtifactNotFoundError, match="no whoknows index"):
        pipeline.run(tmp_path / "nowhere", tmp_path / "out", TopicConfig())


def test_the_command_prints_the_topics(sample_index: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("seed: 1\ntopics:\n  count: 6\n  silo_share: 0.9\n")
    out = tmp_path / "topics"
    result = runner.invoke(
        cli(), ["--index", str(sample_index), "--out", str(out), "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "topics.json").read_text())
    assert summary["topic_count"] == 6 and summary["seed"] == 1
    # The service describes the topics with the parameters the stage used.
    assert TopicConfig.from_dict(summary["config"]) == TopicConfig(count=6, seed=1, silo_share=0.9)
    for column in ("label", "docs", "bus factor", "silo", "fragile"):
        assert column in result.stdout
    assert all(t["label"] in result.stdout for t in summary["topics"])
    assert f"wrote {out}: 6 topics over 320 documents" in result.output

    chosen = runner.invoke(
        cli(), ["--index", str(sample_index), "--out", str(out), "--topics", "3"]
    )
    assert chosen.exit_code == 0, chosen.output
    assert TopicModel.load(out).count == 3


def test_the_command_explains_a_missing_index(tmp_path: Path) -> None:
    result = runner.invoke(
        cli(), ["--index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "t")]
    )
    assert result.exit_code == 1
    assert "error:" in result.output and "no whoknows index" in result.output
    assert not (tmp_path / "t").exists()
