"""Experiment tracking with MLflow: every evaluation is a run with its parameters and metrics.

By default runs go to an embedded store in the working directory (a SQLite
file, mlflow.db, with artifacts under mlruns/ beside it); MLFLOW_TRACKING_URI points
at a shared tracking server instead. Browse them with
``mlflow ui --backend-store-uri sqlite:///mlflow.db``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from models.packaging import quiet_mlflow
from pipelines.exceptions import TrackingError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "whoknows"

log = logging.getLogger("whoknows.tracking")


def import_mlflow() -> Any:
    """The mlflow module, imported quietly (its own import-time notices are not ours).

    Imported on first use, not at module import: MLflow is slow to import and only
    tracking and the registry need it. Its loggers are set to WARNING: the SQLite
    store logs its schema migrations at INFO on first use.
    """
    with quiet_mlflow():
        import mlflow
        import mlflow.pyfunc  # lazily loaded otherwise, warning about its own classes
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return mlflow


def tracking_uri() -> str:
    """Where runs are logged: MLFLOW_TRACKING_URI, or the embedded default."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def metric_name(task: str, measure: str) -> str:
    """An MLflow-safe metric name: ``resources/nDCG_at_10``."""
    return f"{task}/{measure.replace('@', '_at_')}"


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as dotted keys, each value as MLflow stores it (a string)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@contextmanager
def run(name: str, *, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """An MLflow run in the whoknows experiment; yields the mlflow module.

    Raises:
        TrackingError: MLflow refused or could not reach the tracking store, here
            or in the body: a run that was asked for and cannot be recorded is an
            error, not a warning.
    """
    mlflow = import_mlflow()
    uri = tracking_uri()
    with quiet_mlflow():
        try:
            mlflow.set_tracking_uri(uri)
            _experiment(mlflow, uri)
            with mlflow.start_run(run_name=name, tags=dict(tags or {})):
                yield mlflow
        except mlflow.exceptions.MlflowException as exc:
            raise TrackingError(
                f"MLflow at {uri} failed: {exc.message}; point MLFLOW_TRACKING_URI at a "
                "reachable store, or pass --no-track where the command has it"
            ) from exc


def artifact_root(uri: str) -> str | None:
    """Where a SQLite store's artifacts go: ``mlruns/`` beside the database file.

    MLflow's own default is ``./mlruns`` in whatever folder created the experiment
    (a notebook's, a test's), which scatters artifacts. Other stores (a tracking
    server, a folder) keep their own default: None.
    """
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
    return (database.parent / "mlruns").as_uri()


def _experiment(mlflow: Any, uri: str) -> None:
    """Select the whoknows experiment, creating it with its artifact root if new."""
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        try:
            mlflow.create_experiment(EXPERIMENT, artifact_location=artifact_root(uri))
        except mlflow.exceptions.MlflowException:
            pass  # created meanwhile by another process
    mlflow.set_experiment(EXPERIMENT)
