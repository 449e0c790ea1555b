"""Runtime settings of the service, from WHOKNOWS_* environment variables (or .env)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.embedding_cache import default_cache_dir
from models.records import PROFILE_FIELDS
from pipelines.store.database import DEFAULT_URL


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
        database_url: the SQL database of keys, recommendations, feedback and privacy
            requests (SQLAlchemy URL; default: whoknows.db in the working directory).
        anonymous: let requests without credentials in, as a caller of no group,
            but only from the loopback interface (127.0.0.1, ::1).
        jwt_issuer, jwt_audience: what a bearer token from the identity provider must
            say; tokens are accepted only when ``jwt_key`` is set.
        jwt_key: the key that verifies tokens: a PEM public key (RS256, ES256) or a
            shared secret (HS256); ``@path`` reads it from a file.
        jwt_algorithms: the signature algorithms accepted (RS256 by default; list one
            family only, so a public key can never be used as a shared secret).
        jwt_groups_claim: the claim that lists the caller's groups.
        jwt_admin_group: a group whose members are administrators.
        profile_fields: the person fields ever returned by the API (id is always).
        rate_limit: requests per minute per key (or per address when anonymous);
            0 turns limiting off.
        max_body_bytes: the largest request body accepted.
        cors_origins: origins allowed to call the API from a browser (none by default).
        gap_threshold: a recommendation whose best resource matches the query less than
            this (cosine similarity) counts as a knowledge gap in analytics.
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

    database_url: str = DEFAULT_URL
    anonymous: bool = False
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_key: str | None = None
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256"])
    jwt_groups_claim: str = "groups"
    jwt_admin_group: str | None = None
    profile_fields: list[str] = Field(default_factory=lambda: list(PROFILE_FIELDS))
    rate_limit: int = Field(default=120, ge=0)
    max_body_bytes: int = Field(default=65536, ge=1024)
    cors_origins: list[str] = Field(default_factory=list)
    gap_threshold: float = 0.35

    @field_validator("index_dir", "model_uri", "encoder_path", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # An empty variable means "not this one" (the environment overrides .env, so
        # WHOKNOWS_MODEL_URI= in the environment cancels a model named in .env).
        return None if isinstance(value, str) and not value.strip() else value
