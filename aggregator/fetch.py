"""Fetching feeds over HTTP: conditional GET, bounded bodies, redirects and error mapping.

The only module that imports httpx. Every httpx exception is mapped here to a `FetchError`:

    timeouts (connect, read, write, pool, the total deadline)   -> TIMEOUT
    DNS, refused or reset connections, TLS, protocol errors,
        a body whose Content-Encoding does not decode           -> CONNECTION
    a non-2xx status other than 304 and followed redirects      -> HTTP_STATUS
    a body (wire or decoded) larger than max_body_bytes         -> TOO_LARGE
    more than max_redirects hops                                -> TOO_MANY_REDIRECTS
    a malformed URL, an unsupported scheme, a bad Location      -> INVALID_URL
    anything else httpx raises                                  -> INTERNAL

Bodies are decoded here rather than by httpx so that each decompression step has an output
limit: a small gzip or brotli bomb cannot balloon in memory before the size check sees it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from importlib import metadata
from types import TracebackType
from typing import Protocol

import brotli  # type: ignore[import-untyped]
import httpx

from aggregator.domain import FeedState, FetchResult, NotModified, ServiceSettings
from aggregator.errors import FetchError, FetchErrorKind

PACKAGE = "moscow-district-feeds"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
ACCEPT_ENCODING = "gzip, deflate, br"

_PIECE = 64 * 1024  # the most one decompression step may produce before the size check
_PERMANENT = frozenset({301, 308})
# The content is returned decoded, so these would describe bytes the caller never sees.
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
CLIENT_CONNECTIONS = 16
"""The largest connection pool of one httpx client; more concurrency means more clients."""
_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError)


def user_agent_for(contact_url: str) -> str:
    """The User-Agent we send: product/version and a contact URL, as crawler etiquette asks."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"{PACKAGE}/{version} (+{contact_url})"


class Fetcher:
    """Fetches feeds through a few shared HTTP/1.1 clients; use as an async context manager."""

    def __init__(
        self, settings: ServiceSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        self._user_agent = user_agent_for(settings.contact_url)
        size = max(1, settings.concurrency)
        # The total deadline starts only once a slot is free, so a queue of waiting feeds
        # never times out for waiting; the pool then never has to make anyone wait.
        self._slots = asyncio.Semaphore(size)
        # Several clients of at most CLIENT_CONNECTIONS each: httpcore scans its whole pool on
        # every request, so one client with a large pool burns CPU (NOTES.md; bench/farm_bench).
        # Each has a gate of its own size, and a request holding a slot takes a client with a
        # free gate, so the pools together never make anyone wait either.
        count = -(-size // CLIENT_CONNECTIONS)
        per_client = -(-size // count)
        self._clients = [
            (self._new_client(per_client, transport), asyncio.Semaphore(per_client))
            for _ in range(count)
        ]

    def _new_client(
        self, size: int, transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncClient:
        settings = self._settings
        return httpx.AsyncClient(
            headers={
                "User-Agent": self._user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            # Feeds share one client: a cookie set by one outlet must not follow us anywhere.
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.total_timeout,
            ),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            http1=True,
            http2=False,
            follow_redirects=False,
            transport=transport,
        )

    def user_agent(self) -> str:
        return self._user_agent

    async def aclose(self) -> None:
        for client, _ in self._clients:
            await client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def fetch(self, state: FeedState) -> FetchResult | NotModified:
        """GET the feed conditionally; raises FetchError for anything but a 2xx or a 304."""
        check_url(state.url, state.url)
        total = self._settings.total_timeout
        async with self._slots:
            client, gate = next((c, g) for c, g in self._clients if not g.locked())
            try:
                async with gate, asyncio.timeout(total):
                    return await self._fetch(state, client)
            except TimeoutError:
                raise FetchError(
                    state.url, FetchErrorKind.TIMEOUT, f"timeout after {total:g} s (total)"
                ) from None
            except _HTTPX_ERRORS as exc:
                raise map_httpx_error(state.url, exc, self._settings) from exc

    async def _fetch(
        self, state: FeedState, client: httpx.AsyncClient
    ) -> FetchResult | NotModified:
        request = client.build_request("GET", state.url, headers=conditional_headers(state))
        hops = 0
        permanent = True
        while True:
            response = await client.send(request, stream=True)
            try:
                if response.next_request is None:
                    moved = str(response.url) if hops and permanent else None
                    return await self._finish(state, response, moved)
                hops += 1
                if hops > self._settings.max_redirects:
                    raise FetchError(
                        state.url,
                        FetchErrorKind.TOO_MANY_REDIRECTS,
                        f"more than {self._settings.max_redirects} redirects",
                    )
                permanent = permanent and response.status_code in _PERMANENT
                request = response.next_request
                check_url(state.url, str(request.url))
            finally:
                await response.aclose()

    async def _finish(
        self, state: FeedState, response: httpx.Response, moved: str | None
    ) -> FetchResult | NotModified:
        status = response.status_code
        headers = {name.lower(): value for name, value in response.headers.items()}
        final = str(response.url)
        if status == 304:
            return NotModified(url=final, headers=headers, permanent_redirect=moved)
        if not 200 <= status < 300:
            message = status_message(status, response.reason_phrase)
            if final != state.url:
                message += f" at {final}"
            retry_after = retry_after_seconds(headers, datetime.now(UTC))
            if retry_after is not None and status in (429, 503):
                message += f", retry after {retry_after:g} s"
            raise FetchError(
                state.url,
                FetchErrorKind.HTTP_STATUS,
                message,
                status=status,
                retry_after=retry_after,
            )
        content = await self._read_body(state.url, response, headers)
        kept = {name: value for name, value in headers.items() if name not in _DROPPED_HEADERS}
        return FetchResult(
            url=final, status=status, headers=kept, content=content, permanent_redirect=moved
        )

    async def _read_body(
        self, url: str, response: httpx.Response, headers: Mapping[str, str]
    ) -> bytes:
        limit = self._settings.max_body_bytes
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(url, limit, f"declares {int(declared)} bytes")
        if response.is_stream_consumed:
            # Only a mock response built from bytes arrives read (and decoded) already.
            body = BoundedBody(url, limit, "")
            body.feed(response.content)
            return body.finish()
        body = BoundedBody(url, limit, headers.get("content-encoding", ""))
        async for raw in response.aiter_raw():
            body.feed(raw)
        return body.finish()


class BoundedBody:
    """Collects a response body, decoding it step by step and failing once it passes `limit`."""

    def __init__(self, url: str, limit: int, content_encoding: str) -> None:
        self._url = url
        self._limit = limit
        self._decoders = decoders_for(content_encoding)
        self._wire = 0
        self._size = 0
        self._pieces: list[bytes] = []

    def feed(self, raw: bytes) -> None:
        self._wire += len(raw)
        if self._wire > self._limit:
            raise _too_large(self._url, self._limit, "is larger on the wire")
        self._collect(_run(self._decoders, raw))

    def finish(self) -> bytes:
        self._collect(_flush(self._decoders))
        return b"".join(self._pieces)

    def _collect(self, pieces: Iterator[bytes]) -> None:
        try:
            for piece in pieces:
                self._size += len(piece)
                if self._size > self._limit:
                    raise _too_large(self._url, self._limit, "is larger decoded")
                self._pieces.append(piece)
        except (zlib.error, brotli.error) as exc:
            raise FetchError(
                self._url, FetchErrorKind.CONNECTION, f"body does not decode: {exc}"
            ) from exc


def _too_large(url: str, limit: int, detail: str) -> FetchError:
    return FetchError(
        url, FetchErrorKind.TOO_LARGE, f"body exceeds the limit of {limit} bytes ({detail})"
    )


# --- content decoding ----------------------------------------------------------------------


class Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip, or deflate with or without its zlib wrapper (servers send both as "deflate")."""

    def __init__(self, gzip: bool) -> None:
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._head = b""

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._obj is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        pending = data
        while True:
            out = self._obj.decompress(pending, _PIECE)
            if out:
                yield out
            pending = self._obj.unconsumed_tail
            if not pending and len(out) < _PIECE:
                return

    def flush(self) -> Iterator[bytes]:
        if self._obj is not None:
            tail = self._obj.flush()
            if tail:
                yield tail


class _Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        out: bytes = self._obj.process(data, output_buffer_limit=_PIECE)
        # Output held back by the limit comes out of further empty calls; an empty result
        # means the decoder needs more input (can_accept_more_data does not say so reliably).
        while out:
            yield out
            if self._obj.is_finished():
                return
            out = self._obj.process(b"", output_buffer_limit=_PIECE)

    def flush(self) -> Iterator[bytes]:
        return iter(())


def decoders_for(content_encoding: str) -> list[Decoder]:
    """The decoders to apply in order; unknown codings pass through and fail later in parsing."""
    decoders: list[Decoder] = []
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            decoders.append(_Zlib(gzip=True))
        elif coding == "deflate":
            decoders.append(_Zlib(gzip=False))
        elif coding == "br":
            decoders.append(_Brotli())
    return decoders or [_Identity()]


def _run(decoders: Sequence[Decoder], data: bytes) -> Iterator[bytes]:
    if not decoders:
        if data:
            yield data
        return
    for piece in decoders[0].decode(data):
        yield from _run(decoders[1:], piece)


def _flush(decoders: Sequence[Decoder]) -> Iterator[bytes]:
    for i, decoder in enumerate(decoders):
        for piece in decoder.flush():
            yield from _run(decoders[i + 1 :], piece)


# --- pure helpers --------------------------------------------------------------------------


def conditional_headers(state: FeedState) -> dict[str, str]:
    """If-None-Match and If-Modified-Since from what the last 200 response told us."""
    headers: dict[str, str] = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def check_url(feed_url: str, url: str) -> None:
    """Raise INVALID_URL unless `url` is an absolute http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(feed_url, FetchErrorKind.INVALID_URL, f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "none"
        raise FetchError(feed_url, FetchErrorKind.INVALID_URL, f"unsupported scheme: {scheme}")
    if not parsed.host:
        raise FetchError(feed_url, FetchErrorKind.INVALID_URL, f"no host in URL: {url}")


def status_message(status: int, reason: str = "") -> str:
    """A message like "HTTP 503 Service Unavailable": the server's phrase, else the standard one."""
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"HTTP {status} {reason}".rstrip()


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Retry-After as seconds from now; an HTTP-date is measured from the Date header if any."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    until = _http_date(value)
    if until is None:
        return None
    sent = _http_date(headers.get("date", "")) or now
    return max(0.0, (until - sent).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def map_httpx_error(url: str, exc: Exception, settings: ServiceSettings) -> FetchError:
    """The FetchError for an httpx exception; the short message names the cause."""
    kind = FetchErrorKind.CONNECTION
    if isinstance(exc, httpx.ConnectTimeout):
        kind, message = FetchErrorKind.TIMEOUT, f"timeout after {settings.connect_timeout:g} s"
        message += " (connect)"
    elif isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        kind, message = FetchErrorKind.TIMEOUT, f"timeout after {settings.read_timeout:g} s"
        message += " (read)"
    elif isinstance(exc, httpx.TimeoutException):
        kind, message = FetchErrorKind.TIMEOUT, f"timeout after {settings.total_timeout:g} s"
        message += " (waiting for a connection)"
    elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        kind, message = FetchErrorKind.INVALID_URL, f"invalid URL: {exc}"
    elif isinstance(exc, httpx.RemoteProtocolError) and "location header" in str(exc).lower():
        # httpx reports an unparsable redirect target as a protocol error.
        kind, message = FetchErrorKind.INVALID_URL, f"invalid redirect: {exc}"
    elif isinstance(exc, httpx.TooManyRedirects):
        kind, message = FetchErrorKind.TOO_MANY_REDIRECTS, str(exc)
    elif isinstance(exc, httpx.TransportError | httpx.DecodingError):
        message = connection_message(exc)
    else:
        kind, message = FetchErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"
    return FetchError(url, kind, message)


def connection_message(exc: BaseException) -> str:
    """A short cause for a failed connection: DNS, refused, reset, TLS or protocol."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate error: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {getattr(cause, 'reason', None) or cause}"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by peer"
    if isinstance(exc, httpx.ProtocolError):
        return f"protocol error: {exc}"
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error: {exc}"
    return f"connection failed: {exc or type(exc).__name__}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(c for c in (current.__context__, current.__cause__) if c is not None)


async def publish_to_hub(
    hub_url: str, topic_urls: Sequence[str], settings: ServiceSettings
) -> list[str]:
    """Tell a WebSub hub that these topics changed (one publish POST each); the failures.

    A hub that is down must not fail an update cycle, so errors come back as messages.
    """
    failures: list[str] = []
    timeout = httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout)
    headers = {"User-Agent": user_agent_for(settings.contact_url)}
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:
        for topic in topic_urls:
            try:
                response = await client.post(
                    hub_url, data={"hub.mode": "publish", "hub.url": topic}
                )
            except httpx.HTTPError as exc:
                failures.append(f"{topic}: {connection_message(exc)}")
                continue
            if not response.is_success:
                failures.append(f"{topic}: {status_message(response.status_code)}")
    return failures
