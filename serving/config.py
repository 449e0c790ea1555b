"""Runtime settings of the service, from WHOKNOWS_* environment variables (or .env)."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.embedding_cache import default_cache_dir
from models.records import PROFILE_FIELDS
from pipelines.store.database import DEFAULT_URL

#: A CSP frame-ancestors source: a keyword, or an http(s) origin whose host may start with *.
_FRAME_SOURCE = re.compile(r"'self'|'none'|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?")


class Settings(BaseSettings):
    """Everything the service reads from its environment.

    Attributes:
        index_dir: the index directory to serve (WHOKNOWS_INDEX_DIR).
        topics_dir: the topic model of that index (``whoknows topics``), for the
            expertise map; unset, the service fits one when the index loads.
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
        concurrency: recommendations computed at once per process; the others queue
            (0: one per CPU the process may use).
        queue: recommendations that may wait for one of those (-1: 32 per slot);
            past it a request is answered 503 with Retry-After at once.
        queue_seconds: the longest a recommendation waits for a slot before a 503.
        read_timeout: seconds a client has to send a request's headers and body
            (``whoknows serve``); a stalled connection is closed after it.
        rate_limit: requests per minute per key (or per address when anonymous);
            0 turns limiting off.
        redis_url: a Redis shared by every worker and replica (``redis://host:6379/0``):
            rate limits count there, and privacy requests reach every process at once.
            Unset: each process counts its own and polls the database.
        max_body_bytes: the largest request body accepted.
        cors_origins: origins allowed to call the API from a browser (none by default;
            the origins of keys made with ``--origins`` are allowed too).
        gap_threshold: a recommendation whose best resource matches the query less than
            this (cosine similarity) counts as a knowledge gap in analytics.
        frame_ancestors: the pages that may show /embed in a frame, as CSP
            ``frame-ancestors`` sources (``'self'``, ``https://intranet.example.org``,
            ``https://*.example.org``).
        slack_signing_secret: the Slack app's signing secret; the Slack routes answer
            only when it is set.
        teams_security_token: the security token Teams gave the outgoing webhook
            (base64); the Teams route answers only when it is set.
        chat_limit: how many resources and colleagues a chat answer shows.
        slack_response_url_prefix: where Slack's response URLs may point (the
            confirmation of a feedback button is posted there).
        public_url: the service's address as people reach it (links in chat answers);
            by default the address the request came to.
        mcp_key: the API key ``whoknows mcp`` (the stdio MCP server) answers as; without
            it, that command refuses to start unless anonymous access is on.
        watch_seconds: how often to look whether the index directory holds a new
            build, and reload it if so (every worker of ``--workers N`` does);
            0 (the default) does not watch: reload with POST /v1/admin/reload.
    """

    model_config = SettingsConfigDict(env_prefix="WHOKNOWS_", env_file=".env", extra="ignore")

    index_dir: Path | None = None
    topics_dir: Path | None = None
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
    concurrency: int = Field(default=0, ge=0)
    queue: int = Field(default=-1, ge=-1)
    queue_seconds: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    rate_limit: int = Field(default=120, ge=0)
    redis_url: str | None = None
    max_body_bytes: int = Field(default=65536, ge=1024)
    cors_origins: list[str] = Field(default_factory=list)
    gap_threshold: float = 0.35
    frame_ancestors: list[str] = Field(default_factory=lambda: ["'self'"])
    slack_signing_secret: SecretStr | None = None
    teams_security_token: SecretStr | None = None
    chat_limit: int = Field(default=3, ge=1, le=10)
    slack_response_url_prefix: str = "https://hooks.slack.com/"
    public_url: str | None = None
    mcp_key: SecretStr | None = None
    watch_seconds: float = Field(default=0.0, ge=0.0)

    @field_validator("frame_ancestors")
    @classmethod
    def _frame_sources(cls, value: list[str]) -> list[str]:
        for source in value:
            if not _FRAME_SOURCE.fullmatch(source):
                raise ValueError(
                    f"{source!r} is not a frame-ancestors source: use 'self', 'none', or an "
                    "origin such as https://intranet.example.org or https://*.example.org"
                )
        return value

    @field_validator("teams_security_token")
    @classmethod
    def _base64(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                base64.b64decode(value.get_secret_value(), validate=True)
            except binascii.Error:
                raise ValueError(
                    "not base64: paste the security token Teams showed when the outgoing "
                    "webhook was created"
                ) from None
        return value

    @field_validator(
        "index_dir", "topics_dir", "model_uri", "encoder_path", "redis_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # An empty variable means "not this one" (the environment overrides .env, so
        # WHOKNOWS_MODEL_URI= in the environment cancels a model named in .env).
        return None if isinstance(value, str) and not value.strip() else value
