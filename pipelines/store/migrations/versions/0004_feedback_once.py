"""Feedback recorded once: the same caller, recommendation, item and action twice is one event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS = ["recommendation_id", "item_kind", "item_id", "action", "caller"]


def upgrade() -> None:
    """Keep the first of identical events, then refuse a second one."""
    op.execute(
        "DELETE FROM feedback WHERE id NOT IN (SELECT MIN(id) FROM feedback GROUP BY "
        + ", ".join(COLUMNS)
        + ")"
    )
    op.create_index("ux_feedback_event", "feedback", COLUMNS, unique=True)


def downgrade() -> None:
    """Drop what upgrade added (the removed duplicates stay removed)."""
    op.drop_index("ux_feedback_event", table_name="feedback")
