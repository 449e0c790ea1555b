"""The packaged migrations build the schema the code queries, and can be undone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import URL

from pipelines.store import Store, database
from pipelines.store.schema import feedback, metadata
from tests.pipelines.store.conftest import postgres_database

TABLES = {
    "api_keys",
    "recommendations",
    "recommended_items",
    "feedback",
    "suppressions",
    "chat_links",
    "seen_requests",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | URL]:
    """A database with no tables at all, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        with postgres_database() as url:
            yield url


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_and_upgrade_again(empty_url: str | URL) -> None:
    store = Store(empty_url, migrate=False)
    try:
        assert _tables(store.engine) == set()
        database.upgrade(store.engine)
        assert _tables(store.engine) == TABLES
        with store.engine.connect() as connection:
            assert database.current(connection) == database.head()
            # the migrations make exactly the tables, columns and indexes the code expects
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        database.downgrade(store.engine)
        assert _tables(store.engine) == set()
        database.upgrade(store.engine)
        assert _tables(store.engine) == TABLES
    finally:
        store.close()


def test_opening_a_store_migrates_it_and_keeps_what_it_holds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    with Store(url) as store:
        store.create_key("k", ["g"])
    with Store(url) as again:
        assert [k.name for k in again.keys()] == ["k"]


def test_the_feedback_once_migration_keeps_the_first_of_identical_events(
    empty_url: str | URL,
) -> None:
    store = Store(empty_url, migrate=False)
    try:
        database.upgrade(store.engine, "0003")
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO recommendations (id, created_at, caller, query, index_version) "
                    "VALUES ('r1', :now, 'key:k', 'q', 'v1')"
                ),
                {"now": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            for minute, action in ((1, "helpful"), (2, "helpful"), (3, "click")):
                connection.execute(
                    text(
                        "INSERT INTO feedback (recommendation_id, item_id, item_kind, action, "
                        "caller, created_at) VALUES ('r1', 'd1', 'resource', :action, 'key:k', "
                        ":at)"
                    ),
                    {"action": action, "at": datetime(2026, 1, 1, 0, minute, tzinfo=UTC)},
                )
        database.upgrade(store.engine)
        with store.engine.connect() as connection:
            rows = connection.execute(
                select(feedback.c.action, feedback.c.created_at).order_by(feedback.c.id)
            ).all()
        assert [(r.action, r.created_at.minute) for r in rows] == [
            ("helpful", 1),
            ("click", 3),
        ]
    finally:
        store.close()
