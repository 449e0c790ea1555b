"""Opening the store's database: URLs, engines and Alembic migrations.

The migrations ship inside the package and Alembic is driven from code, so a
deployment needs no alembic.ini: opening a store upgrades its schema to head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from pipelines.exceptions import StoreUnavailableError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The store's file in the working directory, when no URL is given.
DEFAULT_FILE = "whoknows.db"
DEFAULT_URL = f"sqlite:///{DEFAULT_FILE}"
#: Seconds to wait for a PostgreSQL server to accept a connection.
CONNECT_TIMEOUT = 5
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def normalise_url(url: str | URL) -> URL:
    """The SQLAlchemy URL to connect with; plain ``postgresql://`` uses psycopg 3.

    Raises:
        StoreUnavailableError: the URL cannot be parsed or names an unknown driver.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailableError(
            f"the database URL {str(url)!r} is not a SQLAlchemy URL; write e.g. "
            "sqlite:///whoknows.db or postgresql://user@host:5432/whoknows"
        ) from None
    driver = _DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def masked(url: str | URL) -> str:
    """The URL as it may appear in messages and logs: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def is_memory(url: URL) -> bool:
    """Whether the URL is an in-memory SQLite database (one per process)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: URL) -> Engine:
    """An engine safe to share between threads.

    SQLite connections may cross threads (FastAPI's threadpool), enforce foreign
    keys, and wait for a writer rather than fail at once; an in-memory database
    is one connection for the whole process, or each thread would see its own.
    A database file is kept in write-ahead-log mode with ``synchronous=NORMAL``
    (as Rails 8 and most embedded uses of SQLite do): a commit does not wait for
    the disk, readers do not block the writer, and a committed transaction
    survives a crash of the process (kill -9); a power cut may lose the last
    commits but never corrupts the file. Several machines need PostgreSQL.
    """
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if is_memory(url):
            options["poolclass"] = StaticPool
    else:
        options["pool_pre_ping"] = True
        # a server that vanished fails a request in seconds, not at the OS's TCP timeout
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    try:
        engine = create_engine(url, **options)
    except NoSuchModuleError:
        raise StoreUnavailableError(
            f"unknown database driver in {masked(url)}; use sqlite:///PATH or "
            "postgresql://user@host:port/database"
        ) from None
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, with no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str | None:
    """The newest revision of the packaged migrations."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision``; nothing happens when it is there already."""
    with engine.connect() as connection:
        if revision == "head" and current(connection) == head():
            return
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database back to ``revision`` (``base`` drops every table)."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # an in-memory database stays "memory"
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
