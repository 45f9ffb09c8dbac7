"""Fixtures for integration tests: a real loopback feed server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from aggregator.devtools.demo import DEMO_DIR, REPO, write_config
from aggregator.devtools.feedserver import FeedServer

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer serving tests/data/ (feeds live under /feeds/), stopped afterwards."""
    server = FeedServer(root=DATA_DIR)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def demo_config(tmp_path: Path) -> Iterator[Path]:
    """A config directory for the offline demo's feeds, served from demo/ while the test runs."""
    with FeedServer(root=DEMO_DIR) as server:
        port = urlsplit(server.base_url).port
        assert port is not None
        yield write_config(tmp_path / "config", DEMO_DIR, REPO / "config", port, "http://demo")
