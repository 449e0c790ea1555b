"""How a whoknows model is packaged in MLflow, and fetching one from the registry.

A registered model is a pyfunc (models.pyfunc) whose artifacts are the index
directory (``artifacts/index``) and, when the index was not built with the
bundled encoder, the encoder folder (``artifacts/encoder``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.exceptions import ArtifactError

INDEX_ARTIFACT = "index"
ENCODER_ARTIFACT = "encoder"
#: Parameters the pyfunc's predict() takes, with their defaults.
PARAMS: dict[str, Any] = {"limit_resources": 5, "limit_people": 5, "departments": [], "types": []}


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Where a downloaded model's index and encoder are on disk."""

    index: Path
    encoder: Path | None


def packaged_files(model_dir: Path) -> ModelFiles:
    """The index and encoder folders inside a downloaded whoknows model directory."""
    artifacts = Path(model_dir) / "artifacts"
    encoder = artifacts / ENCODER_ARTIFACT
    return ModelFiles(artifacts / INDEX_ARTIFACT, encoder if encoder.is_dir() else None)


def import_mlflow() -> Any:
    """The mlflow module, imported quietly (its own import-time notices are not ours).

    Imported on first use, not at module import: MLflow is slow to import and only
    the registry paths need it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.pyfunc  # lazily loaded otherwise, warning about its own classes
    # The SQLite store logs its schema migrations at INFO on first use.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return mlflow


def fetch(uri: str, cache_dir: Path, tracking_uri: str) -> ModelFiles:
    """Download a registered whoknows model and locate its index and encoder.

    Args:
        uri: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
        cache_dir: downloads go under ``cache_dir/models/NAME/VERSION-RUN``; a
            version is immutable, so one already there is not fetched again.
        tracking_uri: the MLflow tracking store that holds the registry.

    Raises:
        ArtifactError: the registry does not know it, or it is not a whoknows model.
    """
    mlflow = import_mlflow()
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        version = _version(client, uri)
        # Keyed by the run too: "version 1" of a recreated or other registry is
        # another model.
        folder = f"{version.version}-{version.run_id or 'external'}"
        target = Path(cache_dir) / "models" / version.name / folder
        if not target.is_dir():
            _download(mlflow, f"models:/{version.name}/{version.version}", target, tracking_uri)
    except MlflowException as exc:
        raise ArtifactError(f"cannot fetch {uri} from {tracking_uri}: {exc.message}") from exc
    files = packaged_files(target)
    if not files.index.is_dir():
        raise ArtifactError(f"{uri} is not a whoknows model: it has no packaged index")
    return files


def _download(mlflow: Any, uri: str, target: Path, tracking_uri: str) -> None:
    """Download into a temporary sibling folder, then rename it into place.

    A download cut short leaves no half model behind, and two services sharing
    the cache cannot pull a folder from under each other: the first rename wins.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(staging))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from other users of the cache
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not another process's finished download
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _version(client: Any, uri: str) -> Any:
    """The ModelVersion that ``models:/name@alias`` or ``models:/name/version`` names."""
    if not uri.startswith("models:/"):
        raise ArtifactError(
            f"{uri!r} is not a registry URI; use models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    path = uri.removeprefix("models:/")
    if "@" in path:
        name, alias = path.split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    name, _, version = path.partition("/")
    if not version:
        raise ArtifactError(f"{uri!r} names no version or alias: use models:/{name}@champion")
    return client.get_model_version(name, version)
