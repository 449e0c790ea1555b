"""Runtime settings of the service, from WHOKNOWS_* environment variables (or .env)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.embedding_cache import default_cache_dir


class Settings(BaseSettings):
    """Everything the service reads from its environment.

    Attributes:
        index_dir: the index directory to serve (WHOKNOWS_INDEX_DIR).
        model_uri: or a registered model to serve, e.g. ``models:/whoknows@champion``
            (WHOKNOWS_MODEL_URI); it is downloaded once into the cache folder.
        encoder_path: a local encoder folder to use instead of the index's own
            (WHOKNOWS_ENCODER_PATH); it must be the encoder the index was built with.
        cache_dir: where registered models are downloaded (WHOKNOWS_CACHE_DIR).
        mlflow_tracking_uri: the MLflow store that holds the registry
            (MLFLOW_TRACKING_URI; default: mlflow.db in the working directory).
    """

    model_config = SettingsConfigDict(env_prefix="WHOKNOWS_", env_file=".env", extra="ignore")

    index_dir: Path | None = None
    model_uri: str | None = None
    encoder_path: Path | None = None
    cache_dir: Path = Field(default_factory=default_cache_dir)
    mlflow_tracking_uri: str = Field(
        default="sqlite:///mlflow.db",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "WHOKNOWS_MLFLOW_TRACKING_URI"),
    )

    @field_validator("index_dir", "model_uri", "encoder_path", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # An empty variable means "not this one": `whoknows serve` sets it so, and
        # the environment overrides .env, so a typed --index beats a .env model.
        return None if isinstance(value, str) and not value.strip() else value
