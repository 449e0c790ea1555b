from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from models.artifact import Manifest
from models.encoder import Encoder
from models.recommender import Recommender
from pipelines.cli import app
from pipelines.tracking import import_mlflow, tracking_uri
from serving.config import Settings
from tests.conftest import free_port

runner = CliRunner()


def test_build_then_query(
    corpus: tuple[Path, Path], tmp_path: Path, cache_dir: Path, encoder: Encoder
) -> None:
    docs, people = corpus
    out = tmp_path / "index"
    built = runner.invoke(
        app,
        [
            "build",
            "-d",
            str(docs),
            "-p",
            str(people),
            "--out",
            str(out),
            "--cache-dir",
            str(cache_dir),
            "--strict",
        ],
    )
    assert built.exit_code == 0, built.output
    assert "2 documents and 2 people ingested, none skipped" in built.output
    assert (out / "manifest.json").is_file() and (out / "ingest-report.json").is_file()
    asked = runner.invoke(app, ["query", "consumer lag", "--index", str(out), "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["resources"][0]["id"] == "docs/kafka.md"
    assert answer["people"][0]["name"] == "Ada"
    # The shape of POST /v1/recommendations (without its id), as a notebook gets it too.
    assert answer == Recommender.load(out, encoder=encoder).recommend("consumer lag").to_dict()
    assert set(answer["resources"][0]["why"]) == {"passage", "found_by", "signals"}
    table = runner.invoke(app, ["query", "roof tiles", "--index", str(out), "--type", "case-study"])
    assert table.exit_code == 0 and "Roof" in table.stdout


def test_strict_build_fails_on_a_skipped_record(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    docs, people = corpus
    (docs / "stray.md").write_text("---\nauthors: [nobody]\n---\ntext\n")
    result = runner.invoke(
        app, ["build", "-d", str(docs), "-p", str(people), "--out", str(tmp_path / "i"), "--strict"]
    )
    assert result.exit_code == 1
    assert "strict mode" in result.output and "unknown person 'nobody'" in result.output
    assert not (tmp_path / "i").exists()


def test_errors_are_one_message_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["query", "anything", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no whoknows index at" in result.output and "Traceback" not in result.output
    bad = runner.invoke(app, ["evaluate", str(tmp_path), "--out", str(tmp_path / "m.json")])
    assert bad.exit_code == 1 and "is not an evaluation dataset" in bad.output


def test_evaluate_reuses_an_index(
    sample_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluate built an index instead of reusing --index")

    monkeypatch.setattr("pipelines.evaluate.build_dataset", no_build)
    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    out = tmp_path / "metrics.json"
    result = runner.invoke(
        app, ["evaluate", str(sample), "--out", str(out), "--index", str(sample_index)]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["resources"]["n_queries"] > 0 and metrics["people"]["n_queries"] > 0
    found = re.search(r"MLflow run (\w+)", result.output)
    assert found, result.output
    run = import_mlflow().MlflowClient(tracking_uri=tracking_uri()).get_run(found.group(1))
    assert run.data.params["index_version"] == Manifest.read(sample_index).index_version
    assert run.data.tags["whoknows.index"] == str(sample_index.resolve())


def test_settings_come_from_a_dotenv_file_too(
    corpus: tuple[Path, Path], tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs, people = corpus
    out = tmp_path / "index"
    built = runner.invoke(
        app,
        [
            "build",
            "-d",
            str(docs),
            "-p",
            str(people),
            "--out",
            str(out),
            "--cache-dir",
            str(cache_dir),
        ],
    )
    assert built.exit_code == 0, built.output
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WHOKNOWS_INDEX_DIR", raising=False)
    (tmp_path / ".env").write_text(f"WHOKNOWS_INDEX_DIR={out}\n")
    asked = runner.invoke(app, ["query", "roof tiles", "--type", "Case Study", "--json"])
    assert asked.exit_code == 0, asked.output
    assert json.loads(asked.stdout)["resources"][0]["id"] == "docs/roof.md"
    wrong = runner.invoke(app, ["query", "roof", "--type", "memo"])
    assert wrong.exit_code == 1 and "unknown resource type 'memo'" in wrong.output


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Settings]:
    """What `serve` would start: the settings of the app it hands uvicorn, without a server."""
    import uvicorn

    started: list[Settings] = []

    def record(server: uvicorn.Server, sockets: object = None) -> None:
        factory = server.config.app
        assert isinstance(factory, functools.partial) and server.config.factory
        # The options go to the app in its settings, not through the environment.
        assert "WHOKNOWS_INDEX_DIR" not in os.environ or not factory.args[0].index_dir
        started.append(factory.args[0])
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", record)
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("WHOKNOWS_INDEX_DIR", "WHOKNOWS_MODEL_URI"):
        # The command loads .env into the environment: setting first makes
        # monkeypatch restore (remove) what it loads.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return started


def test_serve_prefers_what_is_typed_over_the_environment(
    served: list[Settings], tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        ["serve", "--model", "models:/whoknows@champion"],
        env={"WHOKNOWS_INDEX_DIR": str(tmp_path), "WHOKNOWS_RATE_LIMIT": "7"},
    )
    assert result.exit_code == 0, result.output
    (settings,) = served
    assert settings.index_dir is None and settings.model_uri == "models:/whoknows@champion"
    assert settings.rate_limit == 7, "the other settings come from the environment"
    again = runner.invoke(
        app,
        ["serve", "--index", str(tmp_path)],
        env={"WHOKNOWS_MODEL_URI": "models:/from-the-environment"},
    )
    assert again.exit_code == 0, again.output
    assert served[1].index_dir == tmp_path and served[1].model_uri is None


def test_serve_watches_the_index_directory_when_asked(
    served: list[Settings], tmp_path: Path
) -> None:
    result = runner.invoke(
        app, ["serve", "--index", str(tmp_path)], env={"WHOKNOWS_WATCH_SECONDS": "5"}
    )
    assert result.exit_code == 0, result.output
    typed = runner.invoke(
        app,
        ["serve", "--index", str(tmp_path), "--watch", "2.5"],
        env={"WHOKNOWS_WATCH_SECONDS": "5"},
    )
    assert typed.exit_code == 0, typed.output
    assert [s.watch_seconds for s in served] == [5.0, 2.5]
    refused = runner.invoke(app, ["serve", "--index", str(tmp_path), "--watch", "-1"])
    assert refused.exit_code == 2


def test_a_typed_index_beats_a_model_in_dotenv(served: list[Settings], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WHOKNOWS_MODEL_URI=models:/whoknows@champion\n")
    result = runner.invoke(app, ["serve", "--index", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (settings,) = served
    assert settings.index_dir == tmp_path and settings.model_uri is None


def test_serve_names_a_setting_it_cannot_read(served: list[Settings], tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["serve", "--index", str(tmp_path)], env={"WHOKNOWS_RATE_LIMIT": "lots"}
    )
    assert result.exit_code == 2 and "WHOKNOWS_RATE_LIMIT" in result.output
    assert served == []


def test_serve_names_the_conflict_when_both_come_from_the_environment(
    served: list[Settings], tmp_path: Path
) -> None:
    env = {"WHOKNOWS_INDEX_DIR": str(tmp_path), "WHOKNOWS_MODEL_URI": "models:/whoknows@champion"}
    result = runner.invoke(app, ["serve"], env=env)
    assert result.exit_code == 2 and "set in the environment" in result.output
    assert "unset WHOKNOWS_INDEX_DIR or WHOKNOWS_MODEL_URI" in result.output
    nothing = runner.invoke(app, ["serve"])
    assert nothing.exit_code == 2 and "--index DIR or WHOKNOWS_INDEX_DIR" in nothing.output
    assert served == []


def test_progress_without_a_terminal_is_a_line_per_tenth() -> None:
    from pipelines.cli import common

    assert not common.console.is_terminal
    with common.console.capture() as captured, common.progress() as update:
        for done in range(0, 101):
            update("embed passages", done, 100)
        update("embed passages", 100, 100)
        update("queries", 3, 3)
    lines = captured.get().splitlines()
    assert lines[0] == "embed passages: 0/100"
    assert [line.split(",")[0] for line in lines[1:11]] == [
        f"embed passages: {n}/100" for n in range(10, 101, 10)
    ]
    assert lines[11:] == ["queries: 3/3"] and len(lines) == 12


@pytest.mark.slow
def test_serve_with_two_workers_answers_from_both(sample_index: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WHOKNOWS_ANONYMOUS": "true",
        "WHOKNOWS_DATABASE_URL": f"sqlite:///{tmp_path / 'whoknows.db'}",
    }
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--index", str(sample_index)]
    command += ["--port", str(port), "--workers", "2"]
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 180
        url = f"http://127.0.0.1:{port}"
        loaded = 0
        while loaded < 2 and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
            loaded = (tmp_path / "serve.log").read_text().count(" ready in ")
        assert loaded == 2, (tmp_path / "serve.log").read_text()
        for _ in range(6):  # a new connection each time, so both workers take some
            with httpx.Client(base_url=url) as client:
                answer = client.post("/v1/recommendations", json={"query": "Grover's oracle"})
            assert answer.status_code == 200 and answer.json()["resources"], answer.text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    workers = set(re.findall(r"Started server process \[(\d+)\]", output))
    assert len(workers) == 2, output
