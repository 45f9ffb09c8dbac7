"""Small SQL helpers shared by the storage modules: chunked IN lists and insert-or-ignore."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

T = TypeVar("T")

IN_CHUNK = 500
"""Values per IN list: well under SQLite's bound-parameter limit on every supported version."""


def chunked(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` values; nothing for an empty input."""
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def insert_ignore(
    conn: Connection, table: sa.Table, conflict: Sequence[str], rows: Sequence[dict[str, object]]
) -> sa.Insert:
    """INSERT … ON CONFLICT (conflict) DO NOTHING for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return (
            postgresql.insert(table)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=list(conflict))
        )
    return (
        sqlite.insert(table)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=list(conflict))
    )


def rows_per_statement(table: sa.Table) -> int:
    """How many rows one multi-VALUES insert into `table` may carry (about 1,000 parameters)."""
    return max(1, 1000 // len(table.columns))
