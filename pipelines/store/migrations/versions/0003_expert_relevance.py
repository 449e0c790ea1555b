"""The best evidence of the people a recommendation named, for the knowledge-gap queue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add recommendations.best_expert_relevance."""
    with op.batch_alter_table("recommendations") as batch:
        batch.add_column(sa.Column("best_expert_relevance", sa.Float, nullable=True))


def downgrade() -> None:
    """Drop what upgrade added."""
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_column("best_expert_relevance")
