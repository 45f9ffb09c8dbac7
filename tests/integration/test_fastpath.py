"""The fast path for cached outputs (`web.fastpath`) on a real loopback server: the same bytes
and headers as the routed handler, conditional GETs, and a stored change served once the
change version's TTL has passed; and `aggregator serve --workers 2` agreeing on changes."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette

from aggregator.config import load_config
from aggregator.domain import NewItem, UpdatePlan
from aggregator.storage import Storage
from aggregator.web.app import create_app
from tests.integration.loopback import free_socket, running
from tests.integration.outputs_data import CONFIG, NOW, fill, new_story
from tests.sample_moscow import sample_entry

ROOT = Path(__file__).resolve().parents[2]
TTL = 60.0


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k == name)


def get(port: int, target: str, headers: dict[str, str] | None = None) -> Answer:
    """One GET on a new connection; the answer without uvicorn's own Date and Server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        kept = [(k.lower(), v) for k, v in response.getheaders()]
        return Answer(response.status, [h for h in kept if h[0] not in ("date", "server")], body)
    finally:
        conn.close()


@dataclass
class Served:
    app: Starlette
    port: int
    storage: Storage
    moments: list[float]


@pytest.fixture
def served(database_url: str) -> Iterator[Served]:
    """The app on a loopback port with a version TTL on a clock the test moves."""
    storage = Storage.open(database_url, upgrade=True)
    fill(storage)
    moments = [1000.0]
    app = create_app(CONFIG, storage, version_ttl=TTL, monotonic=lambda: moments[0])
    sock = free_socket()
    try:
        with running(app, sock):
            yield Served(app, sock.getsockname()[1], storage, moments)
    finally:
        storage.close()


def test_a_repeated_request_gets_the_routed_answer_without_routing(served: Served) -> None:
    target = "/feeds/district/kuzminki.atom?limit=5"
    routed = get(served.port, target)
    etag = routed.header("etag")
    routed_304 = get(served.port, target, {"If-None-Match": etag})
    assert routed.status == 200 and routed_304.status == 304

    served.app.router.routes.clear()  # from here on, anything routed is a 404
    assert get(served.port, target + "&q=x").status == 404

    fast = get(served.port, target)
    assert (fast.status, fast.headers, fast.body) == (routed.status, routed.headers, routed.body)
    fast_304 = get(served.port, target, {"If-None-Match": etag})
    assert (fast_304.status, fast_304.headers, fast_304.body) == (304, routed_304.headers, b"")
    by_date = get(served.port, target, {"If-Modified-Since": routed.header("last-modified")})
    assert by_date.status == 304
    other = get(served.port, target, {"If-None-Match": '"another"'})
    assert other.status == 200 and other.body == routed.body
    assert {"etag", "last-modified", "cache-control", "content-type"} <= {
        k for k, _ in fast.headers
    }


def test_the_fast_path_serves_a_stored_change_once_the_ttl_has_passed(served: Served) -> None:
    target = "/feeds/district/marino.json"
    before = get(served.port, target)
    assert get(served.port, target).body == before.body  # the fast path from here on
    feed_id = next(f.feed_id for f in served.storage.enabled_feeds() if "marino" in f.url)
    later = NOW + timedelta(minutes=5)
    plan = UpdatePlan(new_items=(new_story("m9", "Сквер у пруда", later, ("marino",)),))
    served.storage.apply(feed_id, plan, later)

    served.moments[0] += TTL / 2  # within the TTL the stored change is not seen yet
    assert get(served.port, target).body == before.body
    served.moments[0] += TTL
    after = get(served.port, target)
    assert json.loads(after.body)["items"][0]["title"] == "Сквер у пруда"
    assert after.header("etag") != before.header("etag")
    # The old validator no longer matches; the new one does, on the fast path too.
    assert get(served.port, target, {"If-None-Match": before.header("etag")}).status == 200
    assert get(served.port, target, {"If-None-Match": after.header("etag")}).status == 304
    assert get(served.port, target).body == after.body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _titles(port: int) -> list[str]:
    answer = get(port, "/feeds/all.json")
    assert answer.status == 200
    return [item["title"] for item in json.loads(answer.body)["items"]]


def test_serve_with_two_workers_agrees_on_a_stored_change(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir)
    config = load_config(config_dir)
    db_url = f"sqlite:///{tmp_path / 'workers.db'}"
    storage = Storage.open(db_url, upgrade=True)
    storage.sync_sources(config.sources, NOW)
    feed_id = storage.enabled_feeds()[0].feed_id

    def store(key: str, title: str, minutes: int) -> None:
        published = NOW + timedelta(minutes=minutes)
        item = NewItem(sample_entry(key, title, published), None, f"story-{key}", (), ())
        storage.apply(feed_id, UpdatePlan(new_items=(item,)), published)

    store("w1", "Первая новость", 1)
    port = _free_port()
    command = [sys.executable, "-m", "aggregator", "serve", "--config", str(config_dir)]
    service = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2", "-q"],
        env={**os.environ, "AGGREGATOR_DATABASE_URL": db_url},
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        titles: list[str] = []
        while not titles:
            try:
                titles = _titles(port)
            except OSError:
                assert service.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)  # waiting for the workers to listen, not for a result
        assert titles == ["Первая новость"]
        store("w2", "Вторая новость", 2)
        # Each worker reads the change version at most once a second (its TTL); new
        # connections land on either worker, so ten fresh answers in a row cover both.
        fresh = 0
        while fresh < 10:
            assert time.monotonic() < deadline, "a worker kept serving the old output"
            fresh = fresh + 1 if _titles(port)[0] == "Вторая новость" else 0
    finally:
        service.terminate()
        service.wait(timeout=30)
        storage.close()
    assert service.returncode is not None
