"""dvc.yaml: `dvc repro` rebuilds the sample index and its metrics on a clean copy of the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_repro_then_rerun_only_what_a_parameter_touches(tmp_path: Path, cache_dir: Path) -> None:
    repo = tmp_path / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        # The committed metrics are left out: evaluate must write them.
        if (ROOT / name).is_file() and name != "data/metrics/sample.json":
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "WHOKNOWS_CACHE_DIR": str(cache_dir),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
    }
    run(["git", "init", "-q"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "copy"], repo, env)
    dvc = str(BIN / "dvc")

    run([dvc, "repro"], repo, env)
    metrics = json.loads((repo / "data" / "metrics" / "sample.json").read_text())
    assert metrics["resources"]["nDCG@10"] > 0.5 and metrics["people"]["R@100"] > 0.8
    assert (repo / "data" / "index" / "sample" / "manifest.json").is_file()
    assert "up to date" in run([dvc, "status"], repo, env).stdout
    shown = run([dvc, "metrics", "show", "--json"], repo, env).stdout
    assert "resources" in shown

    params = repo / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("fusion: learned", "fusion: rrf"))
    status = run([dvc, "status"], repo, env).stdout
    assert "index:" in status and "embed:" not in status and "ingest:" not in status
    params.write_text(original)

    experiment = run([dvc, "exp", "run", "-S", "recommender.fusion=rrf"], repo, env)
    assert "Stage 'embed' didn't change" in experiment.stdout
    table = run([dvc, "exp", "show", "--no-pager", "--csv"], repo, env).stdout
    assert "rrf" in table
