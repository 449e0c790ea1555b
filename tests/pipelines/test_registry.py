"""Registering an index in MLflow, loading it as a pyfunc, and serving what an alias names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.packaging import fetch
from pipelines import registry, tracking
from pipelines.cli import app
from serving.app import create_app
from serving.config import Settings

QUESTION = "How can I keep my smart speaker from listening all the time?"


@pytest.fixture(scope="module")
def champion(sample_index: Path) -> registry.Registered:
    return registry.register(sample_index, name="whoknows-test", alias="champion")


def test_the_registered_model_answers_as_a_pyfunc(champion: registry.Registered) -> None:
    mlflow = tracking.import_mlflow()
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


def champion_version(champion: registry.Registered) -> str:
    mlflow = tracking.import_mlflow()
    run = mlflow.get_run(champion.run_id)
    return str(run.data.params["index_version"])


def test_a_fetched_version_is_not_downloaded_again(
    champion: registry.Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fetch("models:/whoknows-test@champion", tmp_path, tracking.tracking_uri())
    assert (first.index / "manifest.json").is_file() and first.encoder is None
    mlflow = tracking.import_mlflow()

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
    )
    with TestClient(create_app(settings)) as client:
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
        assert (
            ready.status_code == 503
            and "cannot fetch models:/whoknows-test@nobody" in ready.json()["detail"]
        )


def test_register_command(sample_index: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["register", "--index", str(sample_index), "--name", "whoknows-cli", "--alias", "staging"],
    )
    assert result.exit_code == 0, result.output
    assert "serve it with `whoknows serve --model models:/whoknows-cli@staging`" in result.output
