"""Leases on due feeds, so several workers sharing one database never fetch a feed twice at once.

A worker claims a batch of due feeds whose lease is free or expired by writing its name and an
expiry into `lease_owner` / `lease_expires_at`; recording the feed's outcome releases the lease.
On PostgreSQL the candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent
claimers pass over each other's rows instead of queueing; on SQLite the caller's
`BEGIN IMMEDIATE` transaction already serialises claimers (SQLite ignores FOR UPDATE).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.storage.schema import feeds
from aggregator.storage.sql import chunked

MAX_OWNER_CHARS = 200
"""The width of `feeds.lease_owner`."""


def due_and_free(now: datetime) -> sa.ColumnElement[bool]:
    """Enabled, due (or never scheduled), and not leased by anyone whose lease still runs."""
    return sa.and_(
        feeds.c.enabled.is_(True),
        sa.or_(feeds.c.next_fetch_at.is_(None), feeds.c.next_fetch_at <= now),
        sa.or_(feeds.c.lease_expires_at.is_(None), feeds.c.lease_expires_at <= now),
    )


def claim(
    conn: Connection, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[sa.Row[tuple[object, ...]]]:
    """Lease up to `limit` due feeds to `owner` until `now + lease`; return their rows."""
    if limit <= 0:
        return []
    if not owner or len(owner) > MAX_OWNER_CHARS:
        raise ValueError(f"a lease owner needs 1 to {MAX_OWNER_CHARS} characters: {owner!r}")
    candidates = (
        sa.select(feeds.c.id)
        .where(due_and_free(now))
        .order_by(feeds.c.next_fetch_at.asc().nulls_first(), feeds.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(conn.execute(candidates).scalars())
    if not ids:
        return []
    claimed: list[sa.Row[tuple[object, ...]]] = []
    for batch in chunked(sorted(ids)):
        # The condition is repeated so that a claim can never take over a running lease, even
        # where the row lock above is not available.
        stmt = (
            sa.update(feeds)
            .where(feeds.c.id.in_(batch), due_and_free(now))
            .values(lease_owner=owner, lease_expires_at=now + lease)
            .returning(*feeds.c)
        )
        claimed.extend(conn.execute(stmt))
    claimed.sort(key=lambda row: (row.next_fetch_at is not None, row.next_fetch_at, row.id))
    return claimed


def renew(conn: Connection, owner: str, until: datetime) -> int:
    """Extend every lease `owner` still holds to `until`; return how many.

    A lease taken over by another worker has another owner by then, so it is never renewed.
    """
    stmt = (
        sa.update(feeds)
        .where(feeds.c.lease_owner == owner, feeds.c.lease_expires_at < until)
        .values(lease_expires_at=until)
    )
    return conn.execute(stmt).rowcount


def release_values() -> dict[str, object]:
    """The column values that free a feed's lease (set when its outcome is recorded)."""
    return {"lease_owner": None, "lease_expires_at": None}


def release_owner(conn: Connection, owner: str) -> int:
    """Free every lease held by `owner` (a worker shutting down cleanly); return how many."""
    stmt = sa.update(feeds).where(feeds.c.lease_owner == owner).values(release_values())
    return conn.execute(stmt).rowcount
