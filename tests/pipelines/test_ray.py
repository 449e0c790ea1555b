"""`whoknows build --engine ray`: the same index as a local build, embedded on a Ray cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.assembly import embeddings_of
from models.exceptions import ConfigurationError
from pipelines import build
from pipelines.cli import app
from tests.conftest import free_port, tiny_records

RAY = Path(sys.executable).parent / "ray"
pytest.importorskip("ray.data", reason="the ray engine needs ray[data] (in the dev extra)")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A one-machine Ray cluster started as an operator would: `ray start --head`."""
    port = free_port()
    started = subprocess.run(
        [str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2"]
        + ["--include-dashboard=false", "--disable-usage-stats", "--node-ip-address=127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)


def sources(folder: Path) -> tuple[Path, Path]:
    documents, people = tiny_records()
    folder.mkdir()
    docs, folks = folder / "documents.jsonl", folder / "people.jsonl"
    docs.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in documents))
    folks.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in people))
    return docs, folks


def test_a_ray_build_is_the_local_build(cluster: str, tmp_path: Path) -> None:
    docs, people = sources(tmp_path / "src")
    build.run([docs], [people], tmp_path / "local")
    remote = build.run([docs], [people], tmp_path / "ray", engine=build.Engine("ray", cluster))
    ours, theirs = embeddings_of(tmp_path / "ray"), embeddings_of(tmp_path / "local")
    np.testing.assert_array_equal(ours.corpus.passages, theirs.corpus.passages)
    np.testing.assert_allclose(ours.passage_vectors, theirs.passage_vectors, atol=1e-5)
    np.testing.assert_array_equal(ours.profile_rows, theirs.profile_rows)
    np.testing.assert_allclose(ours.profile_vectors, theirs.profile_vectors, atol=1e-5)
    assert remote.recommender.encoder.remote is None, "the engine is let go after the build"


def test_the_command_takes_the_engine_and_refuses_unknown_ones(
    cluster: str, tmp_path: Path
) -> None:
    docs, people = sources(tmp_path / "src")
    runner = CliRunner()
    args = ["build", "--documents", str(docs), "--people", str(people), "--no-track"]
    done = runner.invoke(
        app, [*args, "--out", str(tmp_path / "index"), "--engine", "ray", "--ray-address", cluster]
    )
    assert done.exit_code == 0, done.output
    assert embeddings_of(tmp_path / "index").corpus.passages.shape[0] >= 8
    wrong = runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--engine", "spark"])
    assert wrong.exit_code != 0 and "unknown engine 'spark'" in wrong.output


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    docs, people = sources(tmp_path / "src")
    with pytest.raises(ConfigurationError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        build.run([docs], [people], tmp_path / "x", engine=build.Engine("ray", "127.0.0.1:1"))
