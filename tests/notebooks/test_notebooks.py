"""The notebooks run top to bottom on small parameters, so that none of them rots."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from pipelines.tracking import import_mlflow
from pipelines import tracking

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(notebook_name: str, tmp_path: Path, **parameters: object) -> tuple[nbformat.NotebookNode, float]:
    started = time.perf_counter()
    output = tmp_path / notebook_name
    papermill.execute_notebook(
        str(NOTEBOOKS / notebook_name),
        str(output),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
    seconds = time.perf_counter() - started
    print(f"{notebook_name}: {seconds:.0f} s")
    return nbformat.read(output, as_version=4), seconds


def outputs(notebook: nbformat.NotebookNode) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_notebooks_define_no_classes() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            assert "class " not in cell.source, f"{path.name} defines a class: move it into a package"


def test_explore_corpus(small_dataset: Path, tmp_path: Path) -> None:
    notebook, _ = execute("1.0-explore-corpus.ipynb", tmp_path, dataset=str(small_dataset))
    text = outputs(notebook)
    assert "documents and" in text and "Internet of Things" in text
    assert re.search(r"\d+ topics over 76 documents: \d+ silos, \d+ fragile", text), text[-2000:]
    assert any(o.get("output_type") == "display_data" for c in notebook.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_retrain_then_promote(
    small_dataset: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    retrain, _ = execute(
        "2.0-retrain-encoder.ipynb",
        tmp_path,
        dataset=str(small_dataset),
        workdir=str(tmp_path / "work"),
        max_pairs=16,
        batch_size=8,
    )
    assert "pairs, 2 steps" in outputs(retrain)
    promote, _ = execute(
        "3.0-compare-and-promote.ipynb", tmp_path, name="whoknows-nb", dataset=small_dataset.name
    )
    text = outputs(promote)
    assert "registered whoknows-nb version 1, alias champion" in text
    assert str(tmp_path / "work" / "index-") in text
    # Runs and artifacts went to the store the environment named, none to notebooks/.
    mlflow = import_mlflow()
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    experiment = mlflow.get_experiment_by_name(tracking.EXPERIMENT)
    assert experiment.artifact_location == (tmp_path / "mlruns").as_uri()
    assert any((tmp_path / "mlruns").iterdir())


def test_expert_signals_ceiling(small_dataset: Path, tmp_path: Path) -> None:
    notebook, _ = execute("4.0-expert-signals-ceiling.ipynb", tmp_path, dataset=str(small_dataset), folds=3)
    text = outputs(notebook)
    assert "queries with judged experts" in text and "recent_30d" in text
    assert "logistic regression" in text
    # Each table row: a signal (or a model of all of them), its RR@10 and P@1.
    row = r"^(\w[\w ]*?) +([01](?:\.\d+)?) +[01](?:\.\d+)?$"
    rr10 = {name: float(rr) for name, rr in re.findall(row, text, re.M)}
    models = [rr10.pop(name) for name in ("logistic regression", "gradient boosting")]
    best = re.search(r"best cross-validated RR@10: ([01]\.\d{3})", text)
    assert best and float(best[1]) == max(models), text[-2000:]
    assert len(rr10) == 13 and float(best[1]) > max(rr10.values()), "above any signal alone"
