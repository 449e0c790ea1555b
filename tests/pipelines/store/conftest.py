"""A store on each engine: SQLite in a temporary file, and a throwaway PostgreSQL database.

PostgreSQL is expected at 127.0.0.1:5432 (user postgres, trust auth; override with
WHOKNOWS_TEST_POSTGRES_URL). Unreachable, its tests fail, unless
WHOKNOWS_SKIP_POSTGRES=1 says to skip them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from pipelines.store import Store
from pipelines.store.schema import metadata

SERVER = os.environ.get(
    "WHOKNOWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)


@contextmanager
def postgres_database() -> Iterator[URL]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    if os.environ.get("WHOKNOWS_SKIP_POSTGRES") == "1":
        pytest.skip("WHOKNOWS_SKIP_POSTGRES=1")
    server = make_url(SERVER).set(database="postgres")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"whoknows_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {server.render_as_string(hide_password=True)} "
            f"({str(exc.orig).strip()}); start it, point WHOKNOWS_TEST_POSTGRES_URL at one, "
            "or set WHOKNOWS_SKIP_POSTGRES=1 to skip the PostgreSQL tests",
            pytrace=False,
        )
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[URL]:
    """One PostgreSQL database for the session; tests empty its tables after use."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated store on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url: URL = request.getfixturevalue("postgres_url")
    Store(url).close()  # migrated, so that its tables can be emptied afterwards
    yield url.render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as connection:
        names = ", ".join(t.name for t in metadata.sorted_tables if t.name != "alembic_version")
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store on each engine, closed afterwards."""
    with Store(database_url) as opened:
        yield opened
