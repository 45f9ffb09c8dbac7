"""Fixtures for integration tests: a real loopback feed server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
