"""Key origins, chat users linked to people, and signed chat requests already seen.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add api_keys.origins, chat_links and seen_requests."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("origins", sa.JSON, nullable=True))
    op.create_table(
        "chat_links",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chat_links_person", "chat_links", ["person"])
    op.create_table(
        "seen_requests",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_seen_requests_expires_at", "seen_requests", ["expires_at"])


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_index("ix_seen_requests_expires_at", table_name="seen_requests")
    op.drop_table("seen_requests")
    op.drop_index("ix_chat_links_person", table_name="chat_links")
    op.drop_table("chat_links")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("origins")
