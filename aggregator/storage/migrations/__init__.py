"""Alembic migrations of the aggregator database; run them through `Storage.upgrade`."""
