"""The store's tables, as SQLAlchemy Core metadata.

The migrations in ``pipelines/store/migrations`` create these tables; this
module is what the code queries. Change both together (a new revision, never
an edited one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

from pipelines.store.records import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine.

    PostgreSQL keeps ``timestamptz``; SQLite keeps text without a zone, so the
    value is converted to UTC before it is written and marked UTC when read.
    A naive datetime is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """UTC in; without a zone on SQLite, which would drop it anyway."""
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Aware UTC out, whatever the session time zone."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return as_utc(value)


metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("prefix", String(8), nullable=False),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("groups", JSON, nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("person", Text, nullable=True, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    # The browser origins the key may be used from; null: any caller, browser or not.
    Column("origins", JSON, nullable=True),
)

recommendations = Table(
    "recommendations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("caller", Text, nullable=False),
    Column("caller_person", Text, nullable=True, index=True),
    Column("caller_department", Text, nullable=True),
    Column("query", Text, nullable=False),
    Column("index_version", String(200), nullable=False),
    Column("best_relevance", Float, nullable=True),
    # The best evidence of the people recommended (cosine to the query); null: no person.
    Column("best_expert_relevance", Float, nullable=True),
)


def _recommendation_id() -> Column[str]:
    """The recommendation a row belongs to; the row is deleted with it."""
    return Column(
        "recommendation_id",
        String(64),
        ForeignKey("recommendations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


recommended_items = Table(
    "recommended_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _recommendation_id(),
    Column("kind", String(16), nullable=False),
    Column("item_id", Text, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("department", Text, nullable=True),
    Index("ix_recommended_items_item", "item_id", "kind"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _recommendation_id(),
    Column("item_id", Text, nullable=False),
    Column("item_kind", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("caller", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_feedback_item", "item_id", "item_kind"),
    Index(
        "ux_feedback_event",
        "recommendation_id",
        "item_kind",
        "item_id",
        "action",
        "caller",
        unique=True,
    ),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("person_sha256", String(64), primary_key=True),
    Column("reason", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

chat_links = Table(
    "chat_links",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("user_id", String(200), primary_key=True),
    Column("person", Text, nullable=False, index=True),
    Column("groups", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Signed chat requests already answered, kept until they are too old to be accepted anyway.
seen_requests = Table(
    "seen_requests",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)
