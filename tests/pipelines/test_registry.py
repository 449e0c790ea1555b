"""Registering an index in MLflow, loading it as a pyfunc, and serving what an alias names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.artifact import Manifest
from pipelines import registry, tracking
from pipelines.cli import app
from pipelines.exceptions import PipelineError
from pipelines.registry import fetch
from pipelines.tracking import import_mlflow
from serving.app import create_app
from serving.config import Settings

QUESTION = "How can I keep my smart speaker from listening all the time?"


@pytest.fixture(scope="module")
def champion(sample_index: Path) -> registry.Registered:
    return registry.register(sample_index, name="whoknows-test", alias="champion")


def test_the_registered_model_answers_as_a_pyfunc(champion: registry.Registered) -> None:
    mlflow = import_mlflow()
    mlflow.set_tracking_uri(tracking.tracking_uri())
    model = mlflow.pyfunc.load_model("models:/whoknows-test@champion")
    answers = model.predict(
        [QUESTION, "qubit decoherence"],
        params={"limit_resources": 2, "limit_people": 1, "departments": ["Internet of Things"]},
    )
    assert len(answers) == 2
    assert len(answers[0]["resources"]) == 2 and len(answers[0]["people"]) == 1
    assert {r["department"] for a in answers for r in a["resources"]} == {"Internet of Things"}
    assert answers[0]["index_version"] == champion_version(champion)
    assert set(answers[0]) == {"resources", "people", "index_version"}
    assert set(answers[0]["resources"][0]["why"]) == {"passage", "found_by", "signals"}
    evidence = [e for a in answers for p in a["people"] for e in p["evidence"]]
    assert evidence and set(evidence[0]) == {"id", "title", "score", "role", "share"}


def champion_version(champion: registry.Registered) -> str:
    mlflow = import_mlflow()
    run = mlflow.get_run(champion.run_id)
    return str(run.data.params["index_version"])


def test_a_fetched_version_is_not_downloaded_again(
    champion: registry.Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fetch("models:/whoknows-test@champion", tmp_path, tracking.tracking_uri())
    assert (first.index / "manifest.json").is_file() and first.encoder is None
    mlflow = import_mlflow()

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("downloaded again")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", no_download)
    again = fetch(f"models:/whoknows-test/{champion.version}", tmp_path, tracking.tracking_uri())
    assert again.index == first.index


def test_serving_what_an_alias_points_at(champion: registry.Registered, tmp_path: Path) -> None:
    settings = Settings(
        model_uri="models:/whoknows-test@champion",
        cache_dir=tmp_path,
        mlflow_tracking_uri=tracking.tracking_uri(),
        anonymous=True,
    )
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            assert client.get("/readyz").json()["status"] != "failed", client.get("/readyz").text
            time.sleep(0.2)
        body = client.post("/v1/recommendations", json={"query": QUESTION}).json()
        assert body["index_version"] == champion_version(champion)


def test_an_unknown_alias_fails_the_readiness_probe_with_the_reason(tmp_path: Path) -> None:
    settings = Settings(
        model_uri="models:/whoknows-test@nobody",
        cache_dir=tmp_path,
        mlflow_tracking_uri=tracking.tracking_uri(),
    )
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.2)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["detail"] == (
            "the registered model named by WHOKNOWS_MODEL_URI could not be fetched; "
            "the server log has the details"
        )
        assert tracking.tracking_uri() not in ready.text, "the registry's address is for the log"


def test_register_command(sample_index: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["register", "--index", str(sample_index), "--name", "whoknows-cli", "--alias", "staging"],
    )
    assert result.exit_code == 0, result.output
    assert "serve it with `whoknows serve --model models:/whoknows-cli@staging`" in result.output
    client = import_mlflow().MlflowClient(tracking_uri=tracking.tracking_uri())
    staged = client.get_model_version_by_alias("whoknows-cli", "staging")
    assert f"whoknows-cli version {staged.version} " in result.output
    run = client.get_run(staged.run_id)
    assert run.data.params["index_version"] == Manifest.read(sample_index).index_version
    assert run.data.tags["whoknows.index"] == str(sample_index.resolve())


def test_an_alias_is_moved_back_to_an_earlier_version(sample_index: Path) -> None:
    first = registry.register(sample_index, name="whoknows-roll", alias="champion")
    second = registry.register(sample_index, name="whoknows-roll", alias="champion")
    client = import_mlflow().MlflowClient(tracking_uri=tracking.tracking_uri())
    assert str(client.get_model_version_by_alias("whoknows-roll", "champion").version) == "2"
    result = CliRunner().invoke(
        app,
        ["register", "--name", "whoknows-roll", "--version", first.version, "--alias", "champion"],
    )
    assert result.exit_code == 0, result.output
    assert str(client.get_model_version_by_alias("whoknows-roll", "champion").version) == "1"
    assert second.version == "2"
    missing = CliRunner().invoke(
        app, ["register", "--name", "whoknows-roll", "--version", "9", "--alias", "champion"]
    )
    assert missing.exit_code == 1 and "cannot point 'champion' at whoknows-roll version 9" in (
        missing.output
    )


def test_a_bad_alias_or_encoder_is_refused_before_anything_is_logged(
    sample_index: Path, tmp_path: Path
) -> None:
    for alias in ("latest", "v2", "two words", ""):
        with pytest.raises(PipelineError, match="cannot be an alias"):
            registry.register(sample_index, name="whoknows-refused", alias=alias)
    other = tmp_path / "other-encoder"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(PipelineError, match="was built with the encoder"):
        registry.register(sample_index, name="whoknows-refused", encoder_dir=other)
    with pytest.raises(PipelineError, match="does not exist"):
        registry.register(sample_index, name="whoknows-refused", encoder_dir=tmp_path / "none")
    client = import_mlflow().MlflowClient(tracking_uri=tracking.tracking_uri())
    assert not client.search_model_versions("name='whoknows-refused'")


def test_artifacts_go_beside_the_sqlite_store(champion: registry.Registered) -> None:
    uri = tracking.tracking_uri()
    database = Path(uri.removeprefix("sqlite:///"))
    mlflow = import_mlflow()
    experiment = mlflow.get_experiment_by_name(tracking.EXPERIMENT)
    assert experiment.artifact_location == (database.parent / "mlruns").as_uri()
    assert (database.parent / "mlruns").is_dir()
    assert tracking.artifact_root("http://tracking:5000") is None


def test_aliases_are_checked_as_mlflow_checks_them() -> None:
    for alias in ("Latest", "LATEST", "V3", "x" * 256, "champion\n", "a/b"):
        with pytest.raises(PipelineError, match="cannot be an alias"):
            registry.check_alias(alias)
    for alias in ("champion", "2025-q1", "_staging", "x" * 255, "v2-candidate"):
        registry.check_alias(alias)
