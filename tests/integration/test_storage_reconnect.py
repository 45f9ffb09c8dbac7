"""A pooled PostgreSQL connection whose server process went away (a server restart, an admin's
pg_terminate_backend) is replaced at checkout instead of failing the next call, once it has
rested (`engine.PING_AFTER_IDLE`); one taken back at once fails one statement instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aggregator.storage import engine as engines

PID = sa.text("SELECT pg_backend_pid()")


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    created = engines.create(postgres_url)
    yield created
    created.dispose()


def _pooled_pid(engine: Engine) -> int:
    """The server process of a connection that is back in the pool."""
    with engine.connect() as conn:
        return int(conn.execute(PID).scalar_one())


def _terminate(url: str, pid: int) -> None:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # With a timeout it returns once the process has exited, not just been signalled.
            done = conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            assert done.scalar_one() is True
    finally:
        admin.dispose()


def test_a_rested_connection_whose_server_process_died_is_replaced(
    engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE", 0.0)  # every pooled connection has rested
    pid = _pooled_pid(engine)
    _terminate(postgres_url, pid)

    with engine.connect() as conn:
        assert conn.execute(PID).scalar_one() != pid


def test_a_connection_taken_back_at_once_fails_one_statement_then_is_replaced(
    engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE", 3600.0)  # no checkout pings
    pid = _pooled_pid(engine)
    _terminate(postgres_url, pid)

    with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
        conn.execute(PID)
    with engine.connect() as conn:
        assert conn.execute(PID).scalar_one() != pid
