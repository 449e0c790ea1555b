"""What the README promises of the `whoknows` command and had no test of its own:
erased people left out of builds, `ingest --strict`, builds logged to MLflow (and what
happens without a reachable store, or with --no-track), Ctrl-C, progress lines at
least every 30 s without a terminal, and `query --department`."""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.embedding_cache import EmbeddingCache
from models.recommender import Recommender
from pipelines import tracking
from pipelines.build import CACHE_FILE
from pipelines.cli import app, common, indexing
from pipelines.store import Store
from tests.conftest import SAMPLE

runner = CliRunner()


def build_args(corpus: tuple[Path, Path], out: Path, cache: Path) -> list[str]:
    docs, people = corpus
    return ["build", "-d", str(docs), "-p", str(people), "--out", str(out)] + [
        "--cache-dir",
        str(cache),
    ]


@pytest.mark.slow
def test_build_leaves_out_people_erased_on_request(
    corpus: tuple[Path, Path], tmp_path: Path, cache_dir: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'whoknows.db'}"
    with Store(database) as store:
        store.erase("ada")
    out = tmp_path / "index"
    built = runner.invoke(
        app, [*build_args(corpus, out, cache_dir), "--no-track", "--database-url", database]
    )
    assert built.exit_code == 0, built.output
    assert "(1 people erased on request)" in built.output
    index = Recommender.load(out)
    assert not index.has_person("ada") and index.has_person("bob")
    assert "ada" not in index.resource("docs/kafka.md").authors
    answer = index.recommend("kafka consumer group lag").to_dict()
    assert answer["resources"] and "ada" not in {p["id"] for p in answer["people"]}


def test_strict_ingest_exits_1_and_writes_nothing(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    docs, people = corpus
    (docs / "stray.md").write_text("---\nauthors: [nobody]\n---\ntext\n")
    out = tmp_path / "processed"
    args = ["ingest", "-d", str(docs), "-p", str(people), "--out", str(out)]
    strict = runner.invoke(app, [*args, "--strict"])
    assert strict.exit_code == 1, strict.output
    assert "unknown person 'nobody'" in strict.output
    assert not out.exists()
    lenient = runner.invoke(app, args)
    assert lenient.exit_code == 0 and out.is_dir(), lenient.output


@pytest.mark.slow
def test_builds_are_logged_to_mlflow_unless_told_not_to(
    corpus: tuple[Path, Path], tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "index"
    built = runner.invoke(app, build_args(corpus, out, cache_dir))
    assert built.exit_code == 0, built.output
    run_id = built.output.split("MLflow run ")[1].split()[0]
    mlflow = tracking.import_mlflow()
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.data.tags["whoknows.task"] == "build"
    assert run.data.metrics["count/documents"] == 2 and run.data.metrics["count/people"] == 2
    assert run.data.params["index_version"] == Recommender.load(out).index_version
    logged = {Path(a.path).name for a in client.list_artifacts(run_id, "index")}
    assert "manifest.json" in logged, logged

    quiet = runner.invoke(
        app, [*build_args(corpus, tmp_path / "untracked", cache_dir), "--no-track"]
    )
    assert quiet.exit_code == 0 and "MLflow run" not in quiet.output, quiet.output
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    assert len(client.search_runs([experiment.experiment_id])) == 1, "--no-track logged a run"


@pytest.mark.slow
def test_an_unreachable_tracking_store_fails_the_build_naming_its_uri(
    corpus: tuple[Path, Path], tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = "http://127.0.0.1:9"  # the discard port: nothing listens
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    failed = runner.invoke(app, build_args(corpus, tmp_path / "index", cache_dir))
    assert failed.exit_code == 1, failed.output
    assert f"MLflow at {uri} failed" in failed.output
    assert "Traceback" not in failed.output


@pytest.mark.slow
def test_ctrl_c_during_embedding_keeps_the_embeddings_already_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached: list[int] = []

    @contextmanager
    def interrupted() -> Iterator[Callable[[str, int, int], None]]:
        def update(stage: str, done: int, total: int) -> None:
            if stage == "embed passages" and done > 0:
                reached.append(done)
                raise KeyboardInterrupt

        yield update

    monkeypatch.setattr(indexing, "progress", interrupted)
    cache, out = tmp_path / "cache", tmp_path / "index"
    sources = ["-d", str(SAMPLE / "documents.jsonl"), "-p", str(SAMPLE / "people.jsonl")]
    stopped = runner.invoke(
        app, ["build", *sources, "--out", str(out), "--cache-dir", str(cache), "--no-track"]
    )
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted" in stopped.output and "cached embeddings are kept" in stopped.output
    assert reached and not out.exists()
    with EmbeddingCache(cache / CACHE_FILE) as kept:
        assert len(kept) >= reached[0], "the passages embedded before Ctrl-C were not kept"


def test_progress_without_a_terminal_prints_at_least_every_30_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    monkeypatch.setattr(common, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    with common.console.capture() as captured, common.progress() as update:
        for second in range(0, 95):  # one item every second, of 1,000: no tenth reached
            now[0] = float(second)
            update("embed passages", second, 1000)
    lines = captured.get().splitlines()
    assert lines[0] == "embed passages: 0/1000"
    printed = [int(line.split(", ")[1].removesuffix(" s")) for line in lines[1:]]
    assert printed == [30, 60, 90], lines


def test_query_department_keeps_to_that_department(tiny: Recommender, tmp_path: Path) -> None:
    index = tmp_path / "index"
    tiny.save(index)
    question = ["query", "inspection and maintenance checklist", "--index", str(index), "--json"]
    everywhere = runner.invoke(app, question)
    assert everywhere.exit_code == 0, everywhere.output
    assert {r["department"] for r in json.loads(everywhere.stdout)["resources"]} == {
        "Data",
        "Facilities",
    }
    only = runner.invoke(app, [*question, "--department", "Data"])
    assert only.exit_code == 0, only.output
    resources = json.loads(only.stdout)["resources"]
    assert resources and {r["department"] for r in resources} == {"Data"}
