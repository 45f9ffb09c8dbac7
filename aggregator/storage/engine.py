"""Engine construction for SQLite and PostgreSQL, and the programmatic Alembic upgrade."""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from aggregator.storage import sql

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_CHECKPOINT_PAGES = 16_384
"""A committing connection checkpoints only past 64 MB of WAL: a backstop, `WalCheckpointer` is
the one that checkpoints."""
CHECKPOINT_EVERY = 1.0
IMMEDIATE = "aggregator_sqlite_immediate"
"""Execution option: open this SQLite transaction with BEGIN IMMEDIATE (it will write)."""

# Any constant shared by every process that upgrades the same PostgreSQL database.
_PG_MIGRATION_LOCK = 0x61676772


def create(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout on every connection.

    PostgreSQL sessions commit asynchronously (`synchronous_commit=off`)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    # LIFO: requests reuse the most recently used connection, whose server process has warm
    # caches and whose prepared statements (psycopg prepares a query on its fifth run) apply.
    # synchronous_commit=off is like SQLite's synchronous=NORMAL in WAL mode: a commit does not
    # wait for its WAL flush. A server crash may lose the last fraction of a second of commits,
    # never consistency; what is lost is fetched again (inserts are idempotent), and a commit
    # per feed no longer waits for an fsync (design-notes.md, "Fetch-cycle performance").
    engine = sa.create_engine(
        parsed,
        pool_use_lifo=True,
        connect_args={"options": "-c synchronous_commit=off"},
    )
    sa.event.listen(engine, "before_cursor_execute", sql.settle_before_execute)
    sa.event.listen(engine, "checkin", _note_checkin)
    sa.event.listen(engine, "checkout", functools.partial(_ping_if_idle, engine.dialect))
    return engine


PING_AFTER_IDLE = 1.0
"""Seconds a pooled PostgreSQL connection may rest before its next checkout pings it."""


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: sa.Dialect, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that has rested, and have the pool replace it if the server is gone.

    SQLAlchemy's pool_pre_ping pings on every checkout: a round trip per ingested feed (~5 % of
    a cold cycle's ingest thread), while the ingest thread takes its connection back within
    milliseconds. A server restart between two such checkouts fails one statement instead,
    after which SQLAlchemy replaces the pool's connections.
    """
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DisconnectionError(str(exc)) from exc
    if not alive:
        raise sa.exc.DisconnectionError("the server did not answer a ping")


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 15}}
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    if not in_memory:
        checkpointer = WalCheckpointer(str(Path(database).expanduser()))
        sa.event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
        checkpointer.start()
    return engine


ANALYZE_FIRST_ITEMS = 1_000
"""Items a process stores before it first refreshes PostgreSQL's statistics (then at each
doubling of the table)."""


class StatisticsKeeper:
    """Says when to ANALYZE on PostgreSQL: each time this process has doubled the items table.

    Without statistics the planner guesses: it joined a story's members by a sequential scan
    of `item_features` (10 ms at 30,000 items, growing with the store) in a first cold cycle.
    Autovacuum analyzes too, but only on its next round, and not at all where it is off.
    """

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._lock = threading.Lock()
        self._analyzed: int | None = None
        self._since = 0

    def due(self, items: int, stored: Callable[[], int]) -> bool:
        """Count newly stored items; True when they match the table's size at the last ANALYZE
        (`stored` gives that size the first time)."""
        if not self._enabled or items <= 0:
            return False
        with self._lock:
            if self._analyzed is None:
                self._analyzed = stored()
            self._since += items
            if self._since < max(ANALYZE_FIRST_ITEMS, self._analyzed):
                return False
            self._analyzed += self._since
            self._since = 0
        return True


class WalCheckpointer:
    """Copies a SQLite database's WAL back into it from a thread of its own, every second.

    By default the connection whose commit crosses 1,000 WAL pages checkpoints inline: on a cold
    fetch cycle that was the ingest thread, waiting on the copy. A PASSIVE checkpoint here runs
    on the other core and never blocks a reader or the writer.
    """

    def __init__(self, path: str, every: float = CHECKPOINT_EVERY) -> None:
        self._path = path
        self._every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"wal-checkpoint {path}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or gone: the next tick, or the backstop, does it
            log.debug("WAL checkpoint of %s skipped: %s", self._path, exc)

    def _connect(self) -> sqlite3.Connection | None:
        if not Path(self._path).exists():
            return None  # not created yet; connecting would create it
        try:
            return sqlite3.connect(self._path, timeout=1, check_same_thread=False)
        except sqlite3.Error as exc:
            log.debug("cannot open %s to checkpoint it: %s", self._path, exc)
            return None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopped.wait(self._every):
                conn = conn or self._connect()
                if conn is not None:
                    self.checkpoint(conn)
        finally:
            if conn is not None:
                conn.close()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite so BEGIN is emitted by us, when we want it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # A writer must take the lock up front: upgrading a read lock later fails at once with
    # SQLITE_BUSY in WAL mode instead of waiting for the busy timeout.
    immediate = conn.get_execution_options().get(IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic config pointing at the packaged migrations, optionally bound to `connection`."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration in one transaction, one process at a time."""
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A batch migration recreates tables; with foreign keys on, dropping the old copy
            # would cascade-delete the rows referring to it. The pragma is a no-op inside a
            # transaction, so it is switched around the transaction, not within it.
            _sqlite_pragma(conn, "foreign_keys = OFF")
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
                command.upgrade(alembic_config(conn), "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise sa.exc.IntegrityError("PRAGMA foreign_key_check", None, _FkViolation())
        finally:
            if sqlite:
                _sqlite_pragma(conn, "foreign_keys = ON")


class _FkViolation(Exception):
    def __str__(self) -> str:
        return "the migration left rows that violate foreign keys; rolled back"


def _sqlite_pragma(conn: Connection, pragma: str) -> None:
    # On the driver connection directly: through SQLAlchemy it would autobegin a transaction.
    conn.connection.driver_connection.execute(f"PRAGMA {pragma}")  # type: ignore[union-attr]
