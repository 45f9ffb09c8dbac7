"""The fetcher against a real loopback server: real sockets, no mocks."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aggregator.devtools.feedserver import FeedServer, Route
from aggregator.domain import FeedState, FetchResult, NotModified, ServiceSettings
from aggregator.errors import FetchError, FetchErrorKind
from aggregator.fetch import Fetcher

T = TypeVar("T")

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Вести Марьина</title><link>http://127.0.0.1/</link>
<item><title>В Марьине откроют новую поликлинику</title><link>http://127.0.0.1/1</link>
<description>Строительство завершат до конца года, сообщили в управе района.</description>
<pubDate>Mon, 30 Dec 2019 11:39:35 +0300</pubDate></item>
</channel></rss>
""".encode()

FAST = ServiceSettings(connect_timeout=2.0, read_timeout=0.5, total_timeout=5.0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def fetch_once(
    url: str, settings: ServiceSettings = FAST, **state: Any
) -> FetchResult | NotModified:
    async with Fetcher(settings) as fetcher:
        return await fetcher.fetch(FeedState(feed_id=1, url=url, **state))


def fetch_error(url: str, settings: ServiceSettings = FAST) -> FetchError:
    with pytest.raises(FetchError) as caught:
        run(fetch_once(url, settings))
    return caught.value


def test_200_returns_body_etag_and_lowercase_headers(feed_server: FeedServer) -> None:
    feed_server.set_route("/feed/", Route(RSS, last_modified="Mon, 30 Dec 2019 08:40:00 GMT"))
    result = run(fetch_once(feed_server.url("/feed/")))
    assert isinstance(result, FetchResult)
    assert result.status == 200
    assert result.content == RSS
    assert result.url == feed_server.url("/feed/")
    assert result.headers["etag"].startswith('"')
    assert result.headers["last-modified"] == "Mon, 30 Dec 2019 08:40:00 GMT"
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert all(name == name.lower() for name in result.headers)
    assert result.permanent_redirect is None


def test_request_headers_user_agent_accept_encoding(feed_server: FeedServer) -> None:
    feed_server.set_route("/feed/", Route(RSS))
    run(fetch_once(feed_server.url("/feed/")))
    (seen,) = feed_server.requests
    assert seen.headers["user-agent"].startswith("moscow-district-feeds/")
    assert "application/rss+xml" in seen.headers["accept"]
    assert {"gzip", "deflate", "br"} <= {
        c.strip() for c in seen.headers["accept-encoding"].split(",")
    }
    assert "if-none-match" not in seen.headers


def test_conditional_get_round_trip(feed_server: FeedServer) -> None:
    modified = "Tue, 01 Oct 2024 09:00:00 GMT"
    feed_server.set_route("/feed/", Route(RSS, last_modified=modified))
    url = feed_server.url("/feed/")
    first = run(fetch_once(url))
    assert isinstance(first, FetchResult)
    etag = first.headers["etag"]
    second = run(fetch_once(url, etag=etag, last_modified=first.headers["last-modified"]))
    assert isinstance(second, NotModified)
    assert second.url == url
    assert second.headers["etag"] == etag
    assert feed_server.requests[1].headers["if-none-match"] == etag
    assert feed_server.requests[1].headers["if-modified-since"] == modified


def test_stale_etag_gets_full_body(feed_server: FeedServer) -> None:
    feed_server.set_route("/feed/", Route(RSS))
    result = run(fetch_once(feed_server.url("/feed/"), etag='"old"'))
    assert isinstance(result, FetchResult)
    assert result.content == RSS


def test_static_file_conditional_get_and_cp1251(tmp_path: Path) -> None:
    body = "<?xml version='1.0' encoding='windows-1251'?><rss><channel><title>Газета «Южное Бутово»"
    raw = (body + "</title></channel></rss>").encode("cp1251")
    (tmp_path / "butovo-cp1251.xml").write_bytes(raw)
    with FeedServer(root=tmp_path) as server:
        url = server.url("/butovo-cp1251.xml")
        first = run(fetch_once(url))
        assert isinstance(first, FetchResult)
        assert first.content == raw
        assert first.headers["content-type"] == "application/rss+xml; charset=windows-1251"
        again = run(fetch_once(url, etag=first.headers["etag"]))
        assert isinstance(again, NotModified)
        by_date = run(fetch_once(url, last_modified=first.headers["last-modified"]))
        assert isinstance(by_date, NotModified)


def test_windows_1251_route_is_byte_exact(feed_server: FeedServer) -> None:
    raw = "<rss><channel><title>Вестник Щербинки: ёлка во дворе</title></channel></rss>"
    content_type = "application/rss+xml; charset=windows-1251"
    feed_server.set_route("/cp1251", Route(raw.encode("cp1251"), content_type=content_type))
    result = run(fetch_once(feed_server.url("/cp1251")))
    assert isinstance(result, FetchResult)
    assert result.content == raw.encode("cp1251")
    assert result.headers["content-type"] == content_type


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    feed_server.set_route("/feed/", Route(RSS * 20, gzip=True))
    result = run(fetch_once(feed_server.url("/feed/")))
    assert isinstance(result, FetchResult)
    assert result.content == RSS * 20
    assert "content-encoding" not in result.headers
    assert feed_server.requests[0].headers["accept-encoding"]


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error"), (410, "HTTP 410 Gone")],
)
def test_error_status(feed_server: FeedServer, status: int, message: str) -> None:
    feed_server.set_route(
        "/feed/", Route("<html>ошибка</html>".encode(), "text/html", status=status)
    )
    error = fetch_error(feed_server.url("/feed/"))
    assert error.kind is FetchErrorKind.HTTP_STATUS
    assert error.status == status
    assert error.message == message
    assert error.retry_after is None
    assert error.url == feed_server.url("/feed/")


def test_unknown_path_is_404(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.url("/feeds/нет-такой-ленты.xml"))
    assert (error.kind, error.status) == (FetchErrorKind.HTTP_STATUS, 404)


@pytest.mark.parametrize(
    ("extra", "expected", "message"),
    [
        ({"Retry-After": "120"}, 120.0, "HTTP 503 Service Unavailable, retry after 120 s"),
        (
            {
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
                "Retry-After": "Wed, 21 Oct 2026 07:58:00 GMT",
            },
            1800.0,
            "HTTP 503 Service Unavailable, retry after 1800 s",
        ),
        ({}, None, "HTTP 503 Service Unavailable"),
    ],
)
def test_503_retry_after(
    feed_server: FeedServer, extra: dict[str, str], expected: float | None, message: str
) -> None:
    feed_server.set_route("/feed/", Route(b"busy", "text/plain", status=503, headers=extra))
    error = fetch_error(feed_server.url("/feed/"))
    assert (error.kind, error.status) == (FetchErrorKind.HTTP_STATUS, 503)
    assert error.message == message
    assert error.retry_after == expected


def chain(server: FeedServer, statuses: list[int]) -> str:
    """Register /hop0 -> /hop1 -> ... -> /final with the given statuses; return the first URL."""
    for i, status in enumerate(statuses):
        target = server.url(f"/hop{i + 1}") if i + 1 < len(statuses) else "/final"
        server.set_route(f"/hop{i}", Route(status=status, redirect_to=target))
    server.set_route("/final", Route(RSS))
    return server.url("/hop0")


@pytest.mark.parametrize(
    ("statuses", "permanent"),
    [
        ([301], True),
        ([308], True),
        ([301, 308, 301], True),
        ([302], False),
        ([307], False),
        ([303], False),
        ([301, 302], False),
        ([302, 301], False),
    ],
)
def test_redirect_chains(feed_server: FeedServer, statuses: list[int], permanent: bool) -> None:
    result = run(fetch_once(chain(feed_server, statuses)))
    assert isinstance(result, FetchResult)
    assert result.url == feed_server.url("/final")
    assert result.content == RSS
    assert result.permanent_redirect == (feed_server.url("/final") if permanent else None)
    assert len(feed_server.requests) == len(statuses) + 1


def test_permanent_redirect_to_not_modified(feed_server: FeedServer) -> None:
    url = chain(feed_server, [301])
    first = run(fetch_once(url))
    assert isinstance(first, FetchResult)
    second = run(fetch_once(url, etag=first.headers["etag"]))
    assert isinstance(second, NotModified)
    assert second.permanent_redirect == feed_server.url("/final")
    assert feed_server.requests[-1].headers["if-none-match"] == first.headers["etag"]


def test_redirect_limit_is_inclusive(feed_server: FeedServer) -> None:
    settings = ServiceSettings(max_redirects=3, read_timeout=2.0, total_timeout=5.0)
    result = run(fetch_once(chain(feed_server, [302, 302, 302]), settings))
    assert isinstance(result, FetchResult)


def test_too_many_redirects(feed_server: FeedServer) -> None:
    settings = ServiceSettings(max_redirects=3, read_timeout=2.0, total_timeout=5.0)
    error = fetch_error(chain(feed_server, [301, 301, 301, 301]), settings)
    assert error.kind is FetchErrorKind.TOO_MANY_REDIRECTS
    assert len(feed_server.requests) == 4


def test_redirect_loop(feed_server: FeedServer) -> None:
    feed_server.set_route("/a", Route(status=302, redirect_to="/b"))
    feed_server.set_route("/b", Route(status=302, redirect_to="/a"))
    error = fetch_error(feed_server.url("/a"))
    assert error.kind is FetchErrorKind.TOO_MANY_REDIRECTS


def test_redirect_to_unsupported_scheme(feed_server: FeedServer) -> None:
    feed_server.set_route("/feed/", Route(status=301, redirect_to="ftp://127.0.0.1/feed.xml"))
    error = fetch_error(feed_server.url("/feed/"))
    assert error.kind is FetchErrorKind.INVALID_URL


def test_read_timeout(feed_server: FeedServer) -> None:
    feed_server.set_route("/slow", Route(RSS, delay=3.0))
    error = fetch_error(feed_server.url("/slow"))
    assert error.kind is FetchErrorKind.TIMEOUT
    assert error.message.startswith("timeout after 0.5 s")


def test_total_deadline_stops_a_dripping_body(feed_server: FeedServer) -> None:
    # Each byte arrives well within the read timeout, so only the total deadline can fire.
    feed_server.set_route("/drip", Route(RSS, drip=0.05))
    settings = ServiceSettings(read_timeout=2.0, total_timeout=0.5)
    error = fetch_error(feed_server.url("/drip"), settings)
    assert error.kind is FetchErrorKind.TIMEOUT
    assert error.message == "timeout after 0.5 s (total)"


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("compress", [False, True])
def test_body_over_limit_is_aborted(feed_server: FeedServer, chunked: bool, compress: bool) -> None:
    feed_server.set_route("/big", Route(RSS * 100, gzip=compress, chunked=chunked))
    settings = ServiceSettings(max_body_bytes=len(RSS) * 10, read_timeout=2.0)
    error = fetch_error(feed_server.url("/big"), settings)
    assert error.kind is FetchErrorKind.TOO_LARGE


def test_dripping_chunked_body_over_limit_stops_early(feed_server: FeedServer) -> None:
    # Without a Content-Length the limit must cut the download, not the deadline.
    feed_server.set_route("/endless", Route(b"x" * 100_000, chunked=True, drip=0.001))
    settings = ServiceSettings(max_body_bytes=200, read_timeout=2.0, total_timeout=30.0)
    error = fetch_error(feed_server.url("/endless"), settings)
    assert error.kind is FetchErrorKind.TOO_LARGE


def test_body_at_limit_is_accepted(feed_server: FeedServer) -> None:
    feed_server.set_route("/feed/", Route(RSS, chunked=True))
    settings = ServiceSettings(max_body_bytes=len(RSS), read_timeout=2.0)
    result = run(fetch_once(feed_server.url("/feed/"), settings))
    assert isinstance(result, FetchResult)
    assert result.content == RSS


def test_gzip_bomb_is_stopped_by_decoded_size(feed_server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)
    feed_server.set_route(
        "/bomb",
        Route(bomb, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}),
    )
    settings = ServiceSettings(max_body_bytes=1_000_000, read_timeout=2.0)
    error = fetch_error(feed_server.url("/bomb"), settings)
    assert error.kind is FetchErrorKind.TOO_LARGE
    assert "decoded" in error.message


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused() -> None:
    error = fetch_error(f"http://127.0.0.1:{closed_port()}/feed/")
    assert error.kind is FetchErrorKind.CONNECTION
    assert error.message == "connection refused"


def test_server_hanging_up_is_a_connection_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        async def scenario() -> FetchError:
            task = asyncio.create_task(fetch_once(f"http://127.0.0.1:{port}/"))
            conn, _ = await asyncio.get_running_loop().sock_accept(listener)
            conn.close()
            with pytest.raises(FetchError) as caught:
                await task
            return caught.value

        listener.setblocking(False)
        error = run(scenario())
    assert error.kind is FetchErrorKind.CONNECTION


def test_concurrent_fetches_share_one_client(feed_server: FeedServer) -> None:
    for i in range(6):
        feed_server.set_route(f"/feed{i}", Route(RSS, delay=0.05))

    async def scenario() -> list[FetchResult | NotModified]:
        async with Fetcher(ServiceSettings(concurrency=2, read_timeout=2.0)) as fetcher:
            states = [FeedState(i, feed_server.url(f"/feed{i}")) for i in range(6)]
            return await asyncio.gather(*(fetcher.fetch(s) for s in states))

    results = run(scenario())
    assert [r.url for r in results] == [feed_server.url(f"/feed{i}") for i in range(6)]


def test_server_stops_while_dripping(feed_server: FeedServer) -> None:
    # A client that gives up mid-drip must not keep the server from stopping.
    feed_server.set_route("/drip", Route(RSS, drip=1.0))
    settings = ServiceSettings(read_timeout=5.0, total_timeout=0.3)
    assert fetch_error(feed_server.url("/drip"), settings).kind is FetchErrorKind.TIMEOUT
    feed_server.stop()
    feed_server.stop()  # idempotent


def handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name and t.is_alive()]


def test_stop_closes_idle_keep_alive_connections() -> None:
    server = FeedServer()
    server.start()
    server.set_route("/feed/", Route(RSS))

    async def scenario() -> None:
        async with Fetcher(FAST) as fetcher:
            await fetcher.fetch(FeedState(1, server.url("/feed/")))
            # The client still holds its pooled connection open while the server stops.
            server.stop()
            assert handler_threads() == []

    run(scenario())


def test_static_files_and_routes_side_by_side(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    atom = "<feed xmlns='http://www.w3.org/2005/Atom'><title>Зеленоград</title></feed>".encode()
    (tmp_path / "feeds" / "zelenograd.atom").write_bytes(atom)
    with FeedServer(root=tmp_path) as server:
        server.set_route("/feeds/zelenograd.atom?v=2", Route(RSS))
        static = run(fetch_once(server.url("/feeds/zelenograd.atom")))
        routed = run(fetch_once(server.url("/feeds/zelenograd.atom?v=2")))
        outside = fetch_error(server.url("/../conftest.py"))
    assert isinstance(static, FetchResult) and isinstance(routed, FetchResult)
    assert static.content == atom
    assert static.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert routed.content == RSS
    assert outside.status == 404
    assert [r.path for r in server.requests][:2] == [
        "/feeds/zelenograd.atom",
        "/feeds/zelenograd.atom?v=2",
    ]
