"""Driver-level statements (`sql.insert_ignore_tuples`, `insert_all`, `insert_ignore_returning`,
`driver_rows`, `driver_batch`) store and read what SQLAlchemy would."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aggregator.storage import engine as engines
from aggregator.storage.schema import UTCDateTime
from aggregator.storage.sql import (
    Request,
    driver_batch,
    driver_rows,
    driver_send,
    insert_all,
    insert_ignore_returning,
    insert_ignore_rows,
    insert_ignore_tuples,
    pipelined,
)

MSK = timezone(timedelta(hours=3))
metadata = sa.MetaData()
probe = sa.Table(
    "raw_insert_probe",
    metadata,
    sa.Column("term", sa.String(64), primary_key=True),
    sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=True),
)
COLUMNS = ["term", "number", "at"]
blobs = sa.Table(
    "raw_insert_blobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("data", sa.LargeBinary, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
)
ODD_KEYS = ["станция «Зюзино»", 'кавычки "двойные"', "{скобки}, запятые", "NULL"]
ODD_BYTES = [b"", b"\x00\xff\\\"'{},", bytes(range(256)), None]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = engines.create(database_url)
    metadata.drop_all(created)
    metadata.create_all(created)
    yield created
    metadata.drop_all(created)
    created.dispose()


def _stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        query = sa.select(probe).order_by(probe.c.term, probe.c.number)
        return [tuple(row) for row in conn.execute(query)]


def test_tuples_are_stored_with_times_in_utc_and_odd_text_intact(engine: Engine) -> None:
    at = datetime(2026, 11, 28, 12, 30, 15, 250000, tzinfo=MSK)
    rows = [
        ("станция «Зюзино»", 2**55 + 7, at),
        ("it's; DROP TABLE x; --", 1, None),
        ('кавычки "двойные" и \\ слэш', 0, at + timedelta(days=1)),
        ("{скобки}, запятые", 2, at),
        ("NULL", 3, None),
        ("", 4, at),
        ("  пробелы по краям ", 5, at),
    ]
    with engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, rows)
    stored = _stored(engine)
    assert sorted(stored, key=str) == sorted(
        [(t, n, None if a is None else a.astimezone(UTC)) for t, n, a in rows], key=str
    )


def test_conflicting_rows_are_ignored_and_the_rest_inserted(engine: Engine) -> None:
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    with engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, [("район", 1, at)])
    with engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, [("район", 1, None), ("округ", 2, at)])
        insert_ignore_rows(conn, probe, [{"term": "округ", "number": 2, "at": None}])
    assert _stored(engine) == [("округ", 2, at), ("район", 1, at)]


def test_nothing_to_insert_runs_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, [])
    assert _stored(engine) == []


def test_a_rolled_back_transaction_keeps_none_of_the_rows(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, [("сквер", 3, None)])
        raise RuntimeError("abort")
    assert _stored(engine) == []


def _blob_rows(keys: list[str], at: datetime) -> list[dict[str, object]]:
    return [
        {"key": key, "data": ODD_BYTES[n % len(ODD_BYTES)], "at": at} for n, key in enumerate(keys)
    ]


def _stored_blobs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        query = sa.select(blobs.c.key, blobs.c.data, blobs.c.at).order_by(blobs.c.key)
        return [tuple(row) for row in conn.execute(query)]


def test_insert_all_stores_bytes_and_times_as_sqlalchemy_does(engine: Engine) -> None:
    at = datetime(2026, 11, 29, 15, 0, 30, tzinfo=MSK)
    with engine.begin() as conn:
        insert_all(conn, blobs, _blob_rows(ODD_KEYS, at))
        insert_all(conn, blobs, [])
    expected = [(row["key"], row["data"], at.astimezone(UTC)) for row in _blob_rows(ODD_KEYS, at)]
    assert _stored_blobs(engine) == sorted(expected, key=lambda row: str(row[0]))


def test_insert_ignore_returning_gives_only_the_inserted_rows(engine: Engine) -> None:
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        first = insert_ignore_returning(conn, blobs, ["key"], _blob_rows(["а", "б"], at), ["key"])
    with engine.begin() as conn:
        rows = _blob_rows(["б", "в", "г"], at)
        second = insert_ignore_returning(conn, blobs, ["key"], rows, ["key", "id"])
    assert sorted(first) == [("а",), ("б",)]
    assert sorted(key for key, _ in second) == ["в", "г"]
    with engine.connect() as conn:
        ids = {key: id_ for key, id_ in conn.execute(sa.select(blobs.c.key, blobs.c.id))}
    assert sorted(second) == [("в", ids["в"]), ("г", ids["г"])]
    # "б" kept the bytes of its first insert
    assert [row[1] for row in _stored_blobs(engine)] == [ODD_BYTES[n] for n in (0, 1, 1, 2)]


def test_a_driver_error_comes_out_as_sqlalchemys(engine: Engine) -> None:
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    duplicate = _blob_rows(["д", "д"], at)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        insert_all(conn, blobs, duplicate)
    missing_time = [{"key": "е", "data": None, "at": None}]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        insert_ignore_returning(conn, blobs, ["key"], missing_time, ["id"])
    assert _stored_blobs(engine) == []


def test_an_upsert_clause_replaces_the_ignore(engine: Engine) -> None:
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    update = "ON CONFLICT (term, number) DO UPDATE SET at = excluded.at"
    with engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, [("парк", 1, None), ("пруд", 2, None)])
        insert_ignore_tuples(conn, probe, COLUMNS, [("парк", 1, at)], update)
        insert_ignore_tuples(conn, probe, COLUMNS, [("пруд", 2, at)])
    assert _stored(engine) == [("парк", 1, at), ("пруд", 2, None)]


# --- driver_rows: prebuilt statements run by the driver ---------------------------------------

BY_TERMS = (
    sa.select(probe.c.term, probe.c.number)
    .where(probe.c.term.in_(sa.bindparam("terms", expanding=True)))
    .where(probe.c.number >= sa.bindparam("least"))
    .order_by(probe.c.number)
    .limit(2)
)


def test_driver_rows_reads_what_sqlalchemy_reads(engine: Engine) -> None:
    rows = [("парк", 1, None), ("пруд", 2, None), ("сквер", 3, None), ("лес", 4, None)]
    with engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, rows)
    with engine.connect() as conn:
        for terms in (["парк"], ["парк", "пруд", "сквер"], ["лес", "пруд", "нет"]):
            params = {"terms": terms, "least": 2}
            expected = [tuple(row) for row in conn.execute(BY_TERMS, params)]
            assert driver_rows(conn, BY_TERMS, params) == expected  # the LIMIT's 2 kept too
        assert driver_rows(conn, BY_TERMS, {"terms": ["пруд", "лес", "сквер"], "least": 0}) == [
            ("пруд", 2),
            ("сквер", 3),
        ]


def test_driver_rows_writes_in_the_callers_transaction(engine: Engine) -> None:
    insert = sa.text(f"INSERT INTO {probe.name} (term, number) VALUES (:term, :number)")
    with engine.connect() as conn:
        with conn.begin() as transaction:
            assert driver_rows(conn, insert, {"term": "пруд", "number": 7}) == []
            transaction.rollback()
        with conn.begin():
            driver_rows(conn, insert, {"term": "парк", "number": 8})
    assert _stored(engine) == [("парк", 8, None)]


def test_driver_rows_refuses_a_statement_whose_rows_need_processing(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError, match="need no processing"):
        driver_rows(conn, sa.select(probe.c.at), {})


def test_driver_parameters_go_through_their_types(engine: Engine) -> None:
    insert = sa.insert(probe).values(
        term=sa.bindparam("term"), number=sa.bindparam("number"), at=sa.bindparam("at")
    )
    with engine.begin() as conn:
        driver_send(
            conn, insert, {"term": "парк", "number": 1, "at": datetime(2026, 5, 1, 12, tzinfo=MSK)}
        )
    assert _stored(engine) == [("парк", 1, datetime(2026, 5, 1, 9, tzinfo=UTC))]


def test_a_driver_rows_error_comes_out_as_sqlalchemys(engine: Engine) -> None:
    insert = sa.text(f"INSERT INTO {probe.name} (term, number) VALUES (:term, :number)")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        driver_rows(conn, insert, {"term": "пруд", "number": 1})
        driver_rows(conn, insert, {"term": "пруд", "number": 1})
    assert _stored(engine) == []


# --- the WAL checkpointer (SQLite) ------------------------------------------------------------


def _checkpointers(path: Path) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"wal-checkpoint {path}"]


def test_a_file_database_has_a_checkpointer_until_its_engine_is_disposed(tmp_path: Path) -> None:
    path = tmp_path / "news.db"
    created = engines.create(f"sqlite:///{path}")
    assert len(_checkpointers(path)) == 1
    created.dispose()
    assert _checkpointers(path) == []


def test_a_checkpoint_copies_the_committed_pages_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "news.db"
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA wal_autocheckpoint = 0")  # only the checkpointer copies
        writer.execute("CREATE TABLE words (word TEXT PRIMARY KEY)")
        writer.executemany("INSERT INTO words VALUES (?)", [(f"слово{n}",) for n in range(5000)])
        before = path.stat().st_size
        engines.WalCheckpointer(str(path)).checkpoint(writer)
        assert path.stat().st_size > before
    finally:
        writer.close()


_PROBE_TERMS = (
    sa.select(probe.c.term, probe.c.number)
    .where(probe.c.term.in_(sa.bindparam("terms", expanding=True)))
    .order_by(probe.c.term)
)
_PROBE_COUNT = sa.select(sa.func.count()).select_from(probe)


def test_a_batch_reads_what_its_statements_read_one_by_one(engine: Engine) -> None:
    rows = [("метро", 1, None), ("парк", 2, None), ("школа", 3, None)]
    with engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, rows)
    requests: list[Request] = [
        (_PROBE_TERMS, {"terms": ["парк", "метро"]}),
        (_PROBE_COUNT, None),
        (_PROBE_TERMS, {"terms": ["нет такого"]}),
        (_PROBE_TERMS, {"terms": ["школа"]}),
    ]
    with engine.begin() as conn:
        one_by_one = [driver_rows(conn, statement, params) for statement, params in requests]
    with engine.begin() as conn:
        batched = driver_batch(conn, requests)
        after = driver_rows(conn, _PROBE_COUNT)  # the transaction goes on after the batch
    assert batched == one_by_one == [[("метро", 1), ("парк", 2)], [(3,)], [], [("школа", 3)]]
    assert after == [(3,)]


def test_a_failing_statement_fails_its_batch_and_leaves_the_engine_usable(engine: Engine) -> None:
    broken = sa.select(sa.literal_column("1")).select_from(sa.table("no_such_table"))
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
        insert_ignore_tuples(conn, probe, COLUMNS, [("метро", 1, None)])
        driver_batch(conn, [(_PROBE_COUNT, None), (broken, None), (_PROBE_COUNT, None)])
    assert _stored(engine) == []  # the transaction rolled back, the insert with it
    with engine.begin() as conn:
        assert driver_batch(conn, [(_PROBE_COUNT, None), (_PROBE_COUNT, None)]) == [[(0,)], [(0,)]]


# --- pipelined writes ---------------------------------------------------------------------------

_PROBE_INSERT = sa.text(f"INSERT INTO {probe.name} (term, number) VALUES (:term, :number)")


def test_pipelined_writes_are_seen_by_the_reads_after_them(engine: Engine) -> None:
    at = datetime(2026, 3, 1, 7, tzinfo=UTC)
    with engine.begin() as conn, pipelined(conn):
        insert_ignore_tuples(conn, probe, COLUMNS, [("метро", 1, at), ("парк", 2, None)])
        # Sent as arrays, not by COPY: the same odd values come back.
        insert_all(conn, blobs, _blob_rows(ODD_KEYS, at))
        driver_send(conn, _PROBE_INSERT, {"term": "школа", "number": 3})
        assert driver_rows(conn, _PROBE_COUNT) == [(3,)]  # the driver's read waits for them
        driver_send(conn, _PROBE_INSERT, {"term": "сквер", "number": 4})
        assert conn.execute(_PROBE_COUNT).scalar_one() == 4  # so does SQLAlchemy's
        driver_send(conn, _PROBE_INSERT, {"term": "лес", "number": 5})
        batched = driver_batch(conn, [(_PROBE_COUNT, None), (_PROBE_TERMS, {"terms": ["лес"]})])
        assert batched == [[(5,)], [("лес", 5)]]
        driver_send(conn, _PROBE_INSERT, {"term": "пруд", "number": 6})  # settled at the end
    assert [row[:2] for row in _stored(engine)] == [
        ("лес", 5),
        ("метро", 1),
        ("парк", 2),
        ("пруд", 6),
        ("сквер", 4),
        ("школа", 3),
    ]
    assert _stored(engine)[1][2] == at
    expected = [(row["key"], row["data"], at) for row in _blob_rows(ODD_KEYS, at)]
    assert _stored_blobs(engine) == sorted(expected, key=lambda row: str(row[0]))


def test_a_failed_pipelined_write_fails_the_transaction_with_its_own_statement(
    engine: Engine,
) -> None:
    with pytest.raises(sa.exc.IntegrityError) as failure, engine.begin() as conn, pipelined(conn):
        driver_send(conn, _PROBE_INSERT, {"term": "парк", "number": 1})
        driver_send(conn, _PROBE_INSERT, {"term": "парк", "number": 1})  # a duplicate key
        driver_send(conn, _PROBE_INSERT, {"term": "пруд", "number": 2})
        driver_rows(conn, _PROBE_COUNT)
    assert "INSERT INTO raw_insert_probe" in str(failure.value)
    assert _stored(engine) == []
    with engine.begin() as conn, pipelined(conn):  # the engine and its connection go on
        driver_send(conn, _PROBE_INSERT, {"term": "сквер", "number": 3})
    assert _stored(engine) == [("сквер", 3, None)]


def test_an_error_inside_pipelined_rolls_its_writes_back(engine: Engine) -> None:
    with (
        pytest.raises(RuntimeError, match="plan failed"),
        engine.begin() as conn,
        pipelined(conn),
    ):
        driver_send(conn, _PROBE_INSERT, {"term": "парк", "number": 1})
        raise RuntimeError("plan failed")
    assert _stored(engine) == []
    with engine.begin() as conn, pipelined(conn):
        driver_send(conn, _PROBE_INSERT, {"term": "пруд", "number": 2})
    assert _stored(engine) == [("пруд", 2, None)]
