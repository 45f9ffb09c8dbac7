"""Fixtures shared by all tests: a database URL for SQLite and, when configured, PostgreSQL.

Storage tests take `database_url` and so run once per backend. PostgreSQL tests use a
database of their own per test session (several sessions may share the server) and a
fresh schema per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

PG_ENV = "AGGREGATOR_TEST_DATABASE_URL"
FAIL_ON_PG_SKIP_ENV = "AGGREGATOR_FAIL_ON_PG_SKIP"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    """A throwaway PostgreSQL database for this test session, or None without the env var."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    admin_url = make_url(base)
    name = f"agg_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server_url: str | None
) -> str:
    """An empty database: a SQLite file in tmp_path, or a clean PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if postgres_server_url is None:
        pytest.skip(f"PostgreSQL test: set {PG_ENV} to run it")
    _reset_postgres(postgres_server_url)
    return postgres_server_url


@pytest.fixture
def postgres_url(postgres_server_url: str | None) -> str:
    """An empty PostgreSQL database, for tests that only make sense there (races, leases)."""
    if postgres_server_url is None:
        pytest.skip(f"PostgreSQL test: set {PG_ENV} to run it")
    _reset_postgres(postgres_server_url)
    return postgres_server_url


_pg_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and ("postgres" in report.nodeid or "postgres" in report.keywords):
        _pg_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped PostgreSQL test is a failure: that code path went untested."""
    if os.environ.get(FAIL_ON_PG_SKIP_ENV) and _pg_skips:
        print(f"\n{len(_pg_skips)} PostgreSQL test(s) skipped although CI requires them:")
        for nodeid in _pg_skips:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
