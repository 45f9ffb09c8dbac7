"""Recording fetch attempts on their feeds, one or many per statement.

A cycle records an outcome for every feed, and most are alike (a 304 changes only times and the
lease); writing them as one executemany per shape in one transaction costs a few round trips
and one commit per batch instead of a commit per feed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.domain import FeedOutcome
from aggregator.storage import leases
from aggregator.storage.schema import feeds
from aggregator.storage.sql import driver_send


def outcome_values(outcome: FeedOutcome) -> dict[str, object]:
    """The feed columns one attempt sets (SQL expressions where they depend on the row)."""
    values: dict[str, object] = {
        "last_attempt_at": outcome.attempted_at,
        "next_fetch_at": outcome.next_fetch_at,
        "last_status": outcome.status,
        **leases.release_values(),
    }
    if outcome.ok:
        # A recoverable problem (a feed with an XML error whose good entries were kept)
        # stays visible on a successful attempt; a clean success clears it.
        values.update(
            last_success_at=outcome.attempted_at,
            error_kind=outcome.error_kind,
            last_error=outcome.message,
            consecutive_errors=0,
        )
        if outcome.etag is not None:
            values["etag"] = outcome.etag
        if outcome.last_modified is not None:
            values["last_modified"] = outcome.last_modified
    else:
        values.update(
            error_kind=outcome.error_kind,
            last_error=outcome.message,
            consecutive_errors=feeds.c.consecutive_errors + 1,
        )
    if outcome.new_url is not None:
        values["url"] = outcome.new_url
    if outcome.poll_interval is not None:
        values["poll_seconds"] = int(outcome.poll_interval.total_seconds())
    if outcome.note is not None:
        values["note"] = outcome.note
    if outcome.disable_reason is not None:
        values.update(enabled=False, disabled_reason=outcome.disable_reason)
    return values


def write(conn: Connection, outcomes: Sequence[FeedOutcome]) -> None:
    """Record `outcomes` inside the caller's transaction, one prebuilt statement per shape of
    values; sent (`sql.pipelined`) where the caller batches its writes."""
    # shape (column names, which are expressions) -> (the expressions, one parameter row each)
    shapes: dict[tuple[tuple[str, bool], ...], tuple[dict[str, object], list[dict[str, object]]]]
    shapes = {}
    # Feeds are updated in id order, so two writers' row locks cannot deadlock.
    for outcome in sorted(outcomes, key=lambda o: o.feed_id):
        values = outcome_values(outcome)
        shape = tuple((name, isinstance(v, sa.ColumnElement)) for name, v in values.items())
        expressions, rows = shapes.setdefault(shape, ({}, []))
        row: dict[str, object] = {"b_id": outcome.feed_id}
        for name, value in values.items():
            if isinstance(value, sa.ColumnElement):
                expressions[name] = value
            else:
                row[f"b_{name}"] = value
        rows.append(row)
    for shape, (expressions, rows) in shapes.items():
        stmt = _STATEMENTS.get(shape)
        if stmt is None:
            columns = {
                name: expressions[name] if expression else sa.bindparam(f"b_{name}")
                for name, expression in shape
            }
            stmt = sa.update(feeds).where(feeds.c.id == sa.bindparam("b_id")).values(columns)
            _STATEMENTS[shape] = stmt
        for row in rows:
            driver_send(conn, stmt, row)


_STATEMENTS: dict[tuple[tuple[str, bool], ...], sa.Update] = {}
"""The update of each shape, built once (a feed's outcome is written per ingested feed). A shape
fixes the SQL: `outcome_values` puts no value inside an expression, only column arithmetic."""
