"""Alembic migrations of the store (run by :func:`pipelines.store.database.upgrade`)."""
