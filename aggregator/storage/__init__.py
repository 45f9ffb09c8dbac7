"""Persistence: the SQLAlchemy tables, the one database API and its Alembic migrations."""

from aggregator.storage.store import Storage

__all__ = ["Storage"]
