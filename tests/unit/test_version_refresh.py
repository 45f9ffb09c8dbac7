"""The change version of served outputs: read once per TTL, and when the TTL lapses only one
request reads it again while the others keep serving the version they have."""

from __future__ import annotations

import contextlib
from typing import Any

from aggregator.web.outputs import FeedOutputs
from tests.integration.outputs_data import CONFIG


class VersionStore:
    """Only the change version of a storage, counting reads."""

    def __init__(self) -> None:
        self.version = 1
        self.reads = 0

    def change_version(self) -> int:
        self.reads += 1
        return self.version

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected storage call: {name}")


def outputs(store: VersionStore, moments: list[float]) -> FeedOutputs:
    return FeedOutputs(CONFIG, store, {}, version_ttl=1.0, clock=lambda: moments[0])  # type: ignore[arg-type]


def test_nothing_is_fresh_before_the_first_read() -> None:
    assert outputs(VersionStore(), [0.0]).served_version() is None


def test_the_version_is_read_once_within_the_ttl() -> None:
    store, moments = VersionStore(), [10.0]
    served = outputs(store, moments)
    assert served.change_version() == 1
    moments[0] = 10.9
    assert served.change_version() == 1
    assert served.served_version() == 1
    assert served.fresh_version() == 1
    assert store.reads == 1


def test_after_the_ttl_one_caller_refreshes_and_the_others_keep_the_old_version() -> None:
    store, moments = VersionStore(), [10.0]
    served = outputs(store, moments)
    served.change_version()
    store.version = 2
    moments[0] = 11.2
    assert served.served_version() is None  # this caller goes to read the version
    assert served.fresh_version() is None  # the routed handler then reads it: not fresh
    assert served.served_version() == 1
    assert served.served_version() == 1
    assert served.change_version() == 2
    assert served.served_version() == 2
    assert store.reads == 2


def test_a_refresh_that_never_comes_back_stops_covering_after_a_second_ttl() -> None:
    store, moments = VersionStore(), [10.0]
    served = outputs(store, moments)
    served.change_version()
    moments[0] = 11.2
    assert served.served_version() is None
    moments[0] = 12.1
    assert served.served_version() is None


def test_a_failed_read_lets_the_next_caller_try_again() -> None:
    store, moments = VersionStore(), [10.0]
    served = outputs(store, moments)
    served.change_version()
    moments[0] = 11.2
    assert served.served_version() is None

    def broken() -> int:
        raise OSError("database went away")

    store.change_version = broken  # type: ignore[method-assign]
    with contextlib.suppress(OSError):
        served.change_version()
    assert served.served_version() is None
