"""The error tree of the service; every error the service raises on purpose is one of these.

    AggregatorError
    ├── ConfigError            one or more ConfigIssue(file, line, message)
    ├── FetchError             a feed could not be fetched: the feed URL, a kind, the cause
    ├── ParseError             the bytes are not a feed we can read; carries the feed URL
    └── StorageError           a database driver error, wrapped once at the storage boundary

One feed's FetchError or ParseError is caught at the per-feed boundary in `update`,
recorded on the feed, and the batch goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AggregatorError(Exception):
    """Base class of every error raised on purpose by the aggregator."""


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One problem in one config file; `line` is 1-based, 0 when the file itself is the problem."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(AggregatorError):
    """The configuration is invalid; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class FetchErrorKind(StrEnum):
    """Stable failure categories a sysadmin can read and a dashboard can group by."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_STATUS = "http_status"
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    INVALID_URL = "invalid_url"
    NOT_A_FEED = "not_a_feed"
    INTERNAL = "internal"


class FetchError(AggregatorError):
    """Fetching one feed failed; carries the feed URL, the category, the HTTP status if any."""

    def __init__(
        self,
        url: str,
        kind: FetchErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.url = url
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{url}: {message}")


class ParseError(AggregatorError):
    """The response body is not a feed we can read at all (not merely a recoverable flaw)."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"{url}: {message}")

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str]]:
        # Raised in a parse process, it must unpickle with both arguments.
        return (type(self), (self.url, self.message))


class StorageError(AggregatorError):
    """A database operation failed; the driver's exception is the `__cause__`."""
