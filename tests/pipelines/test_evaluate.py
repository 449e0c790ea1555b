from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.recommender import Recommender
from pipelines import evaluate
from pipelines.exceptions import DatasetError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def test_scores_match_hand_computed_values() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 2, "c": 1}, "q3": {"z": 1}}
    run = {"q1": {"x": 2.0, "a": 1.0}, "q2": {"b": 1.0}}  # q3 answered nothing: it counts as 0
    metrics = evaluate.score(qrels, run, ["q1", "q2", "q3"])
    assert metrics["n_queries"] == 3
    assert metrics["RR@10"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert metrics["P@1"] == pytest.approx(1 / 3)
    assert metrics["R@100"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_queries_without_text_or_relevant_items_are_not_counted() -> None:
    metrics = evaluate.score(
        {"q1": {"a": 1}, "gone": {"a": 1}, "q2": {"a": 0}}, {"q1": {"a": 1.0}}, ["q1", "q2"]
    )
    assert metrics["n_queries"] == 1 and metrics["nDCG@10"] == 1.0


def test_qrels_with_a_header_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("query_id\tdoc_id\tgrade\nq1\td1\t2\nq1\td2\t1\n")
    assert evaluate.read_qrels(path) == {"q1": {"d1": 2, "d2": 1}}
    path.write_text("query_id\tdoc_id\tgrade\nq1 d1 2\n")
    with pytest.raises(DatasetError, match="q.tsv:2"):
        evaluate.read_qrels(path)


def test_a_dataset_missing_files_is_named(tmp_path: Path) -> None:
    (tmp_path / "documents.jsonl").write_text("")
    with pytest.raises(DatasetError, match="missing people.jsonl, queries.jsonl"):
        evaluate.load_dataset(tmp_path)


def test_sample_evaluation_writes_the_agreed_keys(sample: Recommender, tmp_path: Path) -> None:
    dataset = evaluate.load_dataset(SAMPLE)
    result = evaluate.evaluate(sample, dataset)
    out = tmp_path / "metrics.json"
    evaluate.write_metrics(result, out)
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"resources", "people"}
    for task in metrics.values():
        assert set(task) == {"nDCG@10", "RR@10", "P@1", "R@100", "n_queries"}
    assert metrics["resources"]["n_queries"] == len(dataset.qrels["resources"])
    # Far above chance on 320 documents and 386 people: the ranking works.
    assert metrics["resources"]["nDCG@10"] > 0.4
    assert metrics["people"]["R@100"] > 0.7


def test_every_evaluation_is_an_mlflow_run(sample_index: Path, tmp_path: Path) -> None:
    import mlflow

    from pipelines.cli import app
    from pipelines.tracking import EXPERIMENT, tracking_uri

    runner = CliRunner()
    out = tmp_path / "metrics.json"
    result = runner.invoke(
        app, ["evaluate", str(SAMPLE), "--out", str(out), "--index", str(sample_index)]
    )
    assert result.exit_code == 0, result.output
    run_id = result.output.split("MLflow run ")[1].split()[0]
    mlflow.set_tracking_uri(tracking_uri())
    run = mlflow.get_run(run_id)
    assert run.info.experiment_id == mlflow.get_experiment_by_name(EXPERIMENT).experiment_id
    assert run.data.params["dataset"] == "sample" and run.data.params["fusion"] == "learned"
    metrics = json.loads(out.read_text())
    assert run.data.metrics["people/RR_at_10"] == pytest.approx(
        metrics["people"]["RR@10"], abs=1e-4
    )
    assert "query_ms_median" in run.data.metrics
