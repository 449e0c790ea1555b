"""Alembic's environment: migrate the connection that whoknows hands over.

whoknows runs Alembic from code (pipelines.store.database), passing an open
connection in ``config.attributes["connection"]``; there is no alembic.ini.
A Config that sets ``sqlalchemy.url`` instead works too (e.g. to write a new
revision with ``alembic revision --autogenerate`` from a local ini).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from pipelines.store.schema import metadata


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Migrate the shared connection, else one opened from ``sqlalchemy.url``."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database to migrate: set sqlalchemy.url or pass a connection")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


run()
