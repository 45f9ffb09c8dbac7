"""Small SQL helpers shared by the storage modules: chunked IN lists and insert-or-ignore."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

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

    `conflict` names the unique key; any conflict is ignored, as `insert_ignore_tuples` does.
    """
    del conflict  # ON CONFLICT DO NOTHING without a target covers the table's one unique key
    if rows:
        names = list(rows[0])
        insert_ignore_tuples(conn, table, names, [tuple(row[n] for n in names) for row in rows])


def insert_ignore_tuples(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING of value tuples, below SQLAlchemy's per-row work.

    SQLite: the driver's executemany of one prepared statement (SQLAlchemy's insertmanyvalues
    renders and binds row by row in Python, which was most of a cold ingest's time). PostgreSQL:
    one statement with a column array each, unnested (psycopg runs an executemany without
    RETURNING as one statement per row).
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _unnest_insert(conn, table, columns, rows)
        return
    processors = [_bind_processor(conn, table.c[name].type) for name in columns]
    if any(p is not None for p in processors):
        rows = _processed(rows, processors)
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING"
    )
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.executemany(statement, rows)


def _processed(
    rows: Sequence[tuple[object, ...]], processors: Sequence[Callable[[Any], Any] | None]
) -> list[tuple[object, ...]]:
    """`rows` with each value processed for the driver, each distinct value once (a feed's
    band rows repeat their item's publication time 42 times)."""
    memos: list[dict[object, object]] = [{} for _ in processors]
    out = []
    for row in rows:
        values = []
        for process, memo, value in zip(processors, memos, row, strict=True):
            if process is not None and value is not None:
                found = memo.get(value, memo)
                if found is memo:
                    found = memo[value] = process(value)
                value = found
            values.append(value)
        out.append(tuple(values))
    return out


def _bind_processor(conn: Connection, type_: sa.types.TypeEngine[object]) -> Any:
    """What SQLAlchemy would do to a value of `type_` before handing it to the driver."""
    dialect = conn.dialect
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _unnest_insert(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    arrays = [
        sa.func.unnest(
            sa.bindparam(f"a_{name}", list(values), type_=postgresql.ARRAY(table.c[name].type))
        ).label(name)
        for name, values in zip(columns, zip(*rows, strict=True), strict=True)
    ]
    statement = (
        postgresql.insert(table)
        .from_select(list(columns), sa.select(*arrays))
        .on_conflict_do_nothing()
    )
    conn.execute(statement)
