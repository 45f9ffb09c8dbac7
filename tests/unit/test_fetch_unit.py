"""The fetcher without sockets: httpx.MockTransport, and its pure helpers table by table."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import brotli  # type: ignore[import-untyped]
import httpx
import pytest

from aggregator.domain import FeedState, FetchResult, NotModified, ServiceSettings
from aggregator.errors import FetchError, FetchErrorKind
from aggregator.fetch import (
    CLIENT_CONNECTIONS,
    BoundedBody,
    Fetcher,
    check_url,
    conditional_headers,
    map_httpx_error,
    retry_after_seconds,
    status_message,
    user_agent_for,
)

RSS = (
    "<rss version='2.0'><channel><title>Новости Троицка</title>"
    "<item><title>В Троицке отремонтируют школу №2</title></item></channel></rss>"
).encode()
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
SETTINGS = ServiceSettings()

Handler = Callable[[httpx.Request], httpx.Response]


def fetch(
    handler: Handler, url: str = "https://example.test/feed/", settings: ServiceSettings = SETTINGS
) -> FetchResult | NotModified:
    async def go() -> FetchResult | NotModified:
        async with Fetcher(settings, transport=httpx.MockTransport(handler)) as fetcher:
            return await fetcher.fetch(FeedState(feed_id=7, url=url))

    return asyncio.run(go())


def fetch_error(handler: Handler, url: str = "https://example.test/feed/") -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(handler, url)
    return caught.value


class Stream(httpx.AsyncByteStream):
    """A streamed body, so the fetcher decodes it as it would from a socket."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), 1000):
            yield self._body[start : start + 1000]


def ok(body: bytes = RSS, **headers: str) -> Handler:
    return lambda request: httpx.Response(200, headers=headers, stream=Stream(body))


def test_mock_response_built_from_bytes() -> None:
    result = fetch(lambda request: httpx.Response(200, content=RSS))
    assert isinstance(result, FetchResult)
    assert result.content == RSS


# --- through MockTransport -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://газета-марушкино.москва/feed/",
        "https://xn----7sbabahk3bdeed9ahd0ld.xn--80adxhks/feed/",
        "http://марьинскийвестник.рф/feed/",
        "https://uv-kurier.ru/feed/?format=rss",
    ],
)
def test_idn_and_plain_hosts_are_fetched(url: str) -> None:
    result = fetch(ok(), url)
    assert isinstance(result, FetchResult)
    assert result.content == RSS


def test_idn_host_is_sent_as_punycode() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=RSS)

    fetch(handler, "https://газета-марушкино.москва/feed/")
    assert seen[0].url.raw_host.startswith(b"xn--")


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("br", brotli.compress),
        ("identity", lambda data: data),
        ("gzip, br", lambda data: brotli.compress(gzip.compress(data))),
    ],
)
def test_content_encodings(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    body = RSS * 50
    result = fetch(ok(encode(body), **{"Content-Encoding": encoding}))
    assert isinstance(result, FetchResult)
    assert result.content == body
    assert "content-encoding" not in result.headers


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("br", brotli.compress), ("deflate", zlib.compress)],
)
def test_compression_bombs_stop_at_the_limit(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    settings = ServiceSettings(max_body_bytes=100_000)
    handler = ok(encode(b"\0" * 5_000_000), **{"Content-Encoding": encoding})
    with pytest.raises(FetchError) as caught:
        fetch(handler, settings=settings)
    assert caught.value.kind is FetchErrorKind.TOO_LARGE


def test_corrupt_gzip_is_a_connection_error() -> None:
    error = fetch_error(ok(b"not gzip at all", **{"Content-Encoding": "gzip"}))
    assert error.kind is FetchErrorKind.CONNECTION
    assert "decode" in error.message


def test_declared_content_length_over_limit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "999999999"}, content=b"")

    error = fetch_error(handler)
    assert error.kind is FetchErrorKind.TOO_LARGE
    assert "999999999" in error.message


def test_redirect_without_location_is_a_status_error() -> None:
    error = fetch_error(lambda request: httpx.Response(301))
    assert (error.kind, error.status) == (FetchErrorKind.HTTP_STATUS, 301)


def test_304_is_not_modified() -> None:
    result = fetch(lambda request: httpx.Response(304, headers={"ETag": '"v2"'}))
    assert isinstance(result, NotModified)
    assert result.headers == {"etag": '"v2"'}
    assert result.permanent_redirect is None


def test_cookies_do_not_persist_between_requests() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"}, content=RSS)

    async def go() -> None:
        async with Fetcher(SETTINGS, transport=httpx.MockTransport(handler)) as fetcher:
            for _ in range(2):
                await fetcher.fetch(FeedState(1, "https://example.test/feed/"))

    asyncio.run(go())
    assert "cookie" not in seen[1].headers


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def caused(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (httpx.ConnectTimeout("t"), FetchErrorKind.TIMEOUT, "timeout after 10 s (connect)"),
        (httpx.ReadTimeout("t"), FetchErrorKind.TIMEOUT, "timeout after 30 s (read)"),
        (httpx.PoolTimeout("t"), FetchErrorKind.TIMEOUT, "timeout after 60 s"),
        (
            caused(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
            FetchErrorKind.CONNECTION,
            "DNS lookup failed: Name or service not known",
        ),
        (
            caused(httpx.ConnectError("x"), ConnectionRefusedError(111, "refused")),
            FetchErrorKind.CONNECTION,
            "connection refused",
        ),
        (
            caused(httpx.ConnectError("x"), ssl.SSLError(1, "WRONG_VERSION_NUMBER")),
            FetchErrorKind.CONNECTION,
            "TLS error",
        ),
        (httpx.RemoteProtocolError("bad"), FetchErrorKind.CONNECTION, "protocol error: bad"),
        (httpx.ReadError("eof"), FetchErrorKind.CONNECTION, "connection failed: eof"),
        (httpx.UnsupportedProtocol("x"), FetchErrorKind.INVALID_URL, "invalid URL"),
        (httpx.StreamClosed(), FetchErrorKind.INTERNAL, "StreamClosed"),
    ],
)
def test_transport_errors_are_mapped(exc: Exception, kind: FetchErrorKind, message: str) -> None:
    error = fetch_error(raising(exc))
    assert error.kind is kind
    assert error.message.startswith(message)
    assert error.url == "https://example.test/feed/"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.test/feed.xml", "unsupported scheme: ftp"),
        ("file:///etc/passwd", "unsupported scheme: file"),
        ("/feed/", "unsupported scheme: none"),
        ("https:///feed/", "no host"),
        ("http://[::1/feed/", "invalid URL"),
    ],
)
def test_invalid_urls(url: str, fragment: str) -> None:
    error = fetch_error(ok(), url)
    assert error.kind is FetchErrorKind.INVALID_URL
    assert fragment in error.message


# --- pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "120"}, 120.0),
        ({"retry-after": " 0 "}, 0.0),
        ({"retry-after": "Sat, 28 Nov 2026 03:10:00 GMT"}, 600.0),
        ({"retry-after": "Sat, 28 Nov 2026 02:00:00 GMT"}, 0.0),
        (
            {
                "retry-after": "Sat, 28 Nov 2026 05:00:00 GMT",
                "date": "Sat, 28 Nov 2026 04:30:00 GMT",
            },
            1800.0,
        ),
        ({"retry-after": "завтра"}, None),
        ({"retry-after": "-5"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, NOW) == expected


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (503, "", "HTTP 503 Service Unavailable"),
        (404, "Not Found", "HTTP 404 Not Found"),
        (403, "Forbidden by geo", "HTTP 403 Forbidden by geo"),
        (477, "", "HTTP 477"),
        (429, "", "HTTP 429 Too Many Requests"),
    ],
)
def test_status_message(status: int, reason: str, expected: str) -> None:
    assert status_message(status, reason) == expected


@pytest.mark.parametrize(
    ("etag", "last_modified", "expected"),
    [
        (None, None, {}),
        ('"abc"', None, {"If-None-Match": '"abc"'}),
        (
            None,
            "Mon, 30 Dec 2019 08:39:35 GMT",
            {"If-Modified-Since": "Mon, 30 Dec 2019 08:39:35 GMT"},
        ),
        (
            'W/"x"',
            "Mon, 30 Dec 2019 08:39:35 GMT",
            {"If-None-Match": 'W/"x"', "If-Modified-Since": "Mon, 30 Dec 2019 08:39:35 GMT"},
        ),
        ("", "", {}),
    ],
)
def test_conditional_headers(
    etag: str | None, last_modified: str | None, expected: dict[str, str]
) -> None:
    state = FeedState(1, "https://example.test/", etag=etag, last_modified=last_modified)
    assert conditional_headers(state) == expected


@pytest.mark.parametrize(
    "url",
    ["https://газета-марушкино.москва/feed/", "http://127.0.0.1:8080/a?b=c", "HTTPS://Mos.ru/rss"],
)
def test_check_url_accepts(url: str) -> None:
    check_url(url, url)


def test_user_agent() -> None:
    agent = user_agent_for("https://example.test/about")
    assert agent.startswith("moscow-district-feeds/")
    assert agent.endswith(" (+https://example.test/about)")
    fetcher = Fetcher(SETTINGS, transport=httpx.MockTransport(ok()))
    assert fetcher.user_agent() == user_agent_for(SETTINGS.contact_url)
    asyncio.run(fetcher.aclose())


@pytest.mark.parametrize(
    ("pieces", "limit", "fits"),
    [
        ([b"abc", b"def"], 6, True),
        ([b"abc", b"defg"], 6, False),
        ([], 0, True),
        ([b"x" * 10], 9, False),
    ],
)
def test_bounded_body_identity(pieces: list[bytes], limit: int, fits: bool) -> None:
    body = BoundedBody("https://example.test/", limit, "")
    if fits:
        for piece in pieces:
            body.feed(piece)
        assert body.finish() == b"".join(pieces)
    else:
        with pytest.raises(FetchError) as caught:
            for piece in pieces:
                body.feed(piece)
        assert caught.value.kind is FetchErrorKind.TOO_LARGE


def test_bounded_body_decodes_byte_by_byte() -> None:
    raw = gzip.compress(RSS)
    body = BoundedBody("https://example.test/", 10_000, "gzip")
    for i in range(len(raw)):
        body.feed(raw[i : i + 1])
    assert body.finish() == RSS


def test_map_too_many_redirects() -> None:
    error = map_httpx_error("u", httpx.TooManyRedirects("Exceeded"), SETTINGS)
    assert error.kind is FetchErrorKind.TOO_MANY_REDIRECTS


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("br", brotli.compress), ("deflate", zlib.compress)],
)
def test_large_compressed_bodies_decode_in_full(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = b"\0" * 3_000_000 + RSS * 1000
    result = fetch(ok(encode(body), **{"Content-Encoding": encoding}))
    assert isinstance(result, FetchResult)
    assert result.content == body


def test_a_large_concurrency_is_spread_over_clients_without_waiting_for_a_pool() -> None:
    # 40 slots become three clients of 14 connections; all 40 requests must be in flight at
    # once, or the handler below never releases any of them.
    concurrency = 40
    in_flight = 0
    everyone = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight
        in_flight += 1
        if in_flight == concurrency:
            everyone.set()
        await everyone.wait()
        return httpx.Response(304)

    settings = ServiceSettings(concurrency=concurrency, total_timeout=10)

    async def run() -> list[FetchResult | NotModified]:
        async with Fetcher(settings, transport=httpx.MockTransport(handler)) as fetcher:
            # Ids that a choice by id modulo the client count would send to one client.
            feeds = [FeedState(3 * n, f"https://gazeta-{n}.example.ru/feed/") for n in range(40)]
            return await asyncio.gather(*(fetcher.fetch(feed) for feed in feeds))

    results = asyncio.run(run())
    assert all(isinstance(result, NotModified) for result in results)
    assert concurrency > CLIENT_CONNECTIONS
