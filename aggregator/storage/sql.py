"""Small SQL helpers shared by the storage modules: chunked IN lists and insert-or-ignore."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

T = TypeVar("T")

MAX_KEY_CHARS = 600
"""Longer keys are stored as a digest: a PostgreSQL B-tree entry must stay under 2,704 bytes."""

IN_CHUNK = 500
"""Values per IN list: well under SQLite's bound-parameter limit on every supported version."""


def bounded(value: str) -> str:
    """`value` itself, or a SHA-256 digest of it when it is too long to index."""
    if len(value) <= MAX_KEY_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


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


def insert_ignore_many(conn: Connection, table: sa.Table, conflict: Sequence[str]) -> sa.Insert:
    """INSERT … ON CONFLICT (conflict) DO NOTHING without values, to execute with a row list.

    SQLAlchemy batches such an executemany into multi-row VALUES itself ("insertmanyvalues")
    from one cached compiled statement; building `.values(rows)` per batch instead recompiles
    a new statement every time, which cost a quarter of ingest time in `make bench`.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict))


def insert_ignore_rows(
    conn: Connection, table: sa.Table, conflict: Sequence[str], rows: Sequence[dict[str, object]]
) -> None:
    """Insert-or-ignore `rows` (all with the same keys) in the fewest round trips.

    On PostgreSQL one statement whatever the row count: a column array each, unnested
    (psycopg runs an executemany without RETURNING as one statement per row, which made the
    term index most of a cold cycle's database time). SQLite runs executemany in-process.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert_ignore_many(conn, table, conflict), list(rows))
        return
    names = list(rows[0])
    columns = [
        sa.func.unnest(
            sa.bindparam(
                f"a_{name}", [row[name] for row in rows], type_=postgresql.ARRAY(table.c[name].type)
            )
        ).label(name)
        for name in names
    ]
    stmt = (
        postgresql.insert(table)
        .from_select(names, sa.select(*columns))
        .on_conflict_do_nothing(index_elements=list(conflict))
    )
    conn.execute(stmt)
