from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.expertise import PEOPLE_FEATURES
from models.ranker import LinearRanker
from models.retrieval import RESOURCE_FEATURES
from pipelines import ranking
from pipelines.cli import app
from pipelines.exceptions import PipelineError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
runner = CliRunner()


@pytest.fixture(scope="module")
def collection(cache_dir: Path, sample_index: Path) -> ranking.Collection:
    # sample_index first: it fills the embedding cache that this build reuses.
    return ranking.prepare(SAMPLE, cache_dir=cache_dir)


def test_every_judged_query_gets_candidates(collection: ranking.Collection) -> None:
    judged = set(collection.dataset.qrels["resources"]) | set(collection.dataset.qrels["people"])
    assert {q.query_id for q in collection.queries} == judged
    query = next(q for q in collection.queries if q.resources)
    features, grades = ranking.resource_group(collection, query)
    assert features.shape == (len(query.candidates), len(RESOURCE_FEATURES))
    assert grades.max() > 0, "the relevant document is among the candidates"


def test_fitted_rankers_cover_every_feature(collection: ranking.Collection) -> None:
    rankers = ranking.fit_rankers([collection])
    assert rankers.resources is not None and rankers.people is not None
    assert rankers.resources.features == RESOURCE_FEATURES
    assert rankers.people.features == PEOPLE_FEATURES
    assert rankers.resources.info["trained_on"] == ["sample"]


def test_a_task_without_judgments_gets_no_learned_ranker(collection: ranking.Collection) -> None:
    people_only = dataclasses.replace(
        collection, queries=[dataclasses.replace(q, resources={}) for q in collection.queries]
    )
    rankers = ranking.fit_rankers([people_only])
    assert rankers.resources is None and rankers.people is not None
    comparison = ranking.compare([people_only], folds=2)
    assert "learned" not in comparison.metrics["sample"]["resources"]
    assert "learned" in comparison.metrics["sample"]["people"]
    # Without resource judgments documents are ordered by rrf for every method,
    # so Model 2 is the baseline itself: no difference at all.
    model2 = comparison.intervals["sample"]["people"]["model2"]["RR@10"]
    assert model2.delta == 0 and model2.p_value == 1.0 and not model2.significant


def test_folds_must_fit_the_queries(collection: ranking.Collection) -> None:
    with pytest.raises(PipelineError, match="between 2 and"):
        ranking.compare([collection], folds=1)


def test_comparison_is_cross_validated_and_beats_chance(collection: ranking.Collection) -> None:
    comparison = ranking.compare([collection], folds=2)
    table = comparison.metrics["sample"]
    assert set(table["resources"]) == set(ranking.RESOURCE_METHODS)
    assert set(table["people"]) == set(ranking.PEOPLE_METHODS)
    assert table["resources"]["learned"]["nDCG@10"] > 0.4
    assert table["people"]["learned"]["R@100"] > 0.6
    markdown = ranking.markdown_table(comparison)
    assert "| learned |" in markdown and "sample nDCG@10" in markdown
    # Every figure with its interval, every difference with its p-value.
    intervals = comparison.intervals["sample"]
    learned = intervals["resources"]["learned"]["nDCG@10"]
    assert learned.low <= learned.mean <= learned.high
    assert learned.mean == pytest.approx(table["resources"]["learned"]["nDCG@10"])
    rrf = table["resources"]["rrf"]["nDCG@10"]
    assert learned.delta == pytest.approx(learned.mean - rrf)
    assert f"| learned | {learned.figure()} |" in markdown
    assert f"| rrf (baseline) | {intervals['resources']['rrf']['nDCG@10'].figure()} |" in markdown
    assert "| resources method, difference to rrf |" in markdown
    assert f"| learned | {learned.difference()} |" in markdown
    assert "| people method, difference to rrf-model2 |" in markdown
    assert "within noise" in markdown


def test_train_ranker_and_compare_commands(
    tmp_path: Path, cache_dir: Path, sample_index: Path
) -> None:
    trained = runner.invoke(
        app,
        [
            "train-ranker",
            str(SAMPLE),
            "--out",
            str(tmp_path / "rankers"),
            "--cache-dir",
            str(cache_dir),
        ],
    )
    assert trained.exit_code == 0, trained.output
    people = LinearRanker.load(tmp_path / "rankers" / "people.json")
    assert people.info["trained_on"] == ["sample"]
    assert people.info["command"].startswith("whoknows train-ranker")
    compared = runner.invoke(
        app,
        [
            "compare",
            str(SAMPLE),
            "--folds",
            "2",
            "--cache-dir",
            str(cache_dir),
            "--out",
            str(tmp_path / "c.json"),
            "--markdown",
            str(tmp_path / "c.md"),
        ],
    )
    assert compared.exit_code == 0, compared.output
    written = json.loads((tmp_path / "c.json").read_text())["sample"]
    assert written["resources"]["rrf"]["n_queries"] > 0
    learned = written["resources"]["learned"]
    assert learned["baseline"] == "rrf"
    assert set(learned["nDCG@10"]) == {"mean", "low", "high", "delta", "p_value", "significant"}
    assert learned["nDCG@10"]["low"] <= learned["nDCG@10"]["mean"] <= learned["nDCG@10"]["high"]
    assert written["people"]["rrf-model2"]["P@1"]["p_value"] == 1.0
    assert "(baseline)" in (tmp_path / "c.md").read_text()
    assert "MLflow run" in compared.output


def test_a_build_can_use_a_trained_ranker(
    tmp_path: Path, cache_dir: Path, collection: ranking.Collection
) -> None:
    rankers = ranking.fit_rankers([collection])
    people = rankers.people
    assert people is not None
    ranking.save_rankers(rankers.present(), tmp_path / "r", {})
    params = tmp_path / "params.yaml"
    params.write_text(
        f"recommender:\n  resource_ranker: {tmp_path / 'r' / 'resources.json'}\n"
        f"  people_ranker: {tmp_path / 'r' / 'people.json'}\n"
    )
    built = runner.invoke(
        app,
        [
            "build",
            "-d",
            str(SAMPLE / "documents.jsonl"),
            "-p",
            str(SAMPLE / "people.jsonl"),
            "--out",
            str(tmp_path / "index"),
            "--params",
            str(params),
            "--cache-dir",
            str(cache_dir),
        ],
    )
    assert built.exit_code == 0, built.output
    saved = LinearRanker.load(tmp_path / "index" / "ranker-people.json")
    assert saved.weights == people.weights, "the trained ranker is saved with the index"
