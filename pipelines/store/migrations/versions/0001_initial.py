"""Keys, recommendations, their items, feedback and privacy requests.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the five tables."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("person", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_person", "api_keys", ["person"])
    op.create_table(
        "recommendations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("caller_person", sa.Text(), nullable=True),
        sa.Column("caller_department", sa.Text(), nullable=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("index_version", sa.String(200), nullable=False),
        sa.Column("best_relevance", sa.Float, nullable=True),
    )
    op.create_index("ix_recommendations_created_at", "recommendations", ["created_at"])
    op.create_index("ix_recommendations_caller_person", "recommendations", ["caller_person"])
    op.create_table(
        "recommended_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _recommendation_id(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _recommendation_id(),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    for table in ("recommended_items", "feedback"):
        op.create_index(f"ix_{table}_recommendation_id", table, ["recommendation_id"])
    op.create_index("ix_recommended_items_item", "recommended_items", ["item_id", "kind"])
    op.create_index("ix_feedback_item", "feedback", ["item_id", "item_kind"])
    op.create_table(
        "suppressions",
        sa.Column("person_sha256", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the five tables (and everything in them)."""
    for table in ("suppressions", "feedback", "recommended_items", "recommendations", "api_keys"):
        op.drop_table(table)


def _recommendation_id() -> sa.Column[Any]:
    return sa.Column(
        "recommendation_id",
        sa.String(64),
        sa.ForeignKey("recommendations.id", ondelete="CASCADE"),
        nullable=False,
    )
