"""How a whoknows model is packaged in MLflow, and MLflow's own warnings kept out of ours.

A registered model is a pyfunc (models.pyfunc) whose artifacts are the index
directory (``artifacts/index``) and, when the index was not built with the
bundled encoder, the encoder folder (``artifacts/encoder``). Logging, registering
and fetching models is pipelines.registry's business.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.results import DEFAULT_LIMIT

INDEX_ARTIFACT = "index"
ENCODER_ARTIFACT = "encoder"
#: Parameters the pyfunc's predict() takes, with their defaults.
PARAMS: dict[str, Any] = {
    "limit_resources": DEFAULT_LIMIT,
    "limit_people": DEFAULT_LIMIT,
    "departments": [],
    "types": [],
}
#: Where warnings that are MLflow's business come from: its own packages and its storage layers.
_MLFLOW_PACKAGES = frozenset({"mlflow", "sqlalchemy", "alembic"})
#: MLflow's nudges towards type hints and input examples, which it attributes to the caller.
#: whoknows logs an explicit signature instead (type hints would drop its parameters).
_MLFLOW_NUDGES = ("type hints", "input example")


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


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's own warnings dropped, every other warning still shown.

    MLflow warns at import, from its storage layers' deprecations, and with nudges
    towards type hints; none are ours to fix. The block's warnings are recorded
    rather than filtered, because MLflow installs "once" filters of its own inside
    its calls, which would override an "ignore"; when the block ends, the others
    are warned again as they were first raised (unless the block raised: then its
    exception is what counts).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if not _mlflows(warning):
            warnings.warn_explicit(
                warning.message,
                warning.category,
                warning.filename,
                warning.lineno,
                source=warning.source,
            )


def _mlflows(warning: warnings.WarningMessage) -> bool:
    if _MLFLOW_PACKAGES & set(Path(warning.filename).parts):
        return True
    return any(nudge in str(warning.message) for nudge in _MLFLOW_NUDGES)
