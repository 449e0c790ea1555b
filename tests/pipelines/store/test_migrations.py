"""The packaged migrations build the schema the code queries, and can be undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL

from pipelines.store import Store, database
from pipelines.store.schema import metadata
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
