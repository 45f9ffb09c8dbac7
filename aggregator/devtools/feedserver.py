"""A small loopback HTTP server for tests, the offline demo and benchmarks (stdlib only).

It serves static files under `root` and dynamic routes registered with `set_route`, records
every request and the most answered at once, and stops quickly: open connections are shut
down and slow responses give up.

Static files get a strong ETag (a hash of the content) and a Last-Modified from the file's
mtime, and honour If-None-Match and If-Modified-Since. Their Content-Type follows the extension
(.xml and .rss: RSS, .atom: Atom, .json: JSON Feed, .html, .txt, .opml); text types carry
"charset=windows-1251" when the file name contains "cp1251", else "charset=utf-8".

    python -m aggregator.devtools.feedserver --root DIR --port N
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import signal
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

_TYPES = {
    ".xml": "application/rss+xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".opml": "text/x-opml",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; header names are lowercase."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Route:
    """A dynamic response. `etag=None` means a strong hash of the body on a 200; "" means none.

    `redirect_to` sends a Location with `status` (302 unless a 3xx is given); `delay` waits
    before the headers, `drip` between body bytes; `chunked` sends no Content-Length; `hold`
    keeps the answer back until the event is set (a test's hand on a slow server).
    """

    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0
    drip: float = 0.0
    redirect_to: str | None = None
    chunked: bool = False
    hold: threading.Event | None = None


def content_type_for(path: Path) -> str:
    """The Content-Type of a static file, by extension; see the module docstring."""
    base = _TYPES.get(path.suffix.lower(), "application/octet-stream")
    if base == "application/octet-stream":
        return base
    charset = "windows-1251" if "cp1251" in path.name.lower() else "utf-8"
    return f"{base}; charset={charset}"


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def is_not_modified(
    headers: Mapping[str, str], etag: str | None, last_modified: str | None
) -> bool:
    """The RFC 9110 rule: If-None-Match wins; If-Modified-Since counts only without it."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if not etag:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    since = headers.get("if-modified-since")
    if since is None or not last_modified:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


class FeedServer:
    """Serves `root` and registered routes on a background thread; a context manager."""

    def __init__(self, root: Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root.resolve() if root is not None else None
        self._address = (host, port)
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._in_flight = 0
        self._max_in_flight = 0
        self.stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._httpd is not None:
            return
        self.stopping.clear()
        self._httpd = _Server(self._address, _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="feedserver",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, cut open connections, and wait for every handler thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        with self._lock:
            self.stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            _shutdown(conn)
        httpd.server_close()  # joins the handler threads
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> FeedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses, routes, the request log ----------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FeedServer is not started")
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server (non-ASCII is percent-encoded)."""
        return self.base_url + quote("/" + path.lstrip("/"), safe="/?&=%;:@+,")

    def set_route(self, path: str, route: Route) -> None:
        """Serve `route` at `path` (matched with its query string first, then without it)."""
        with self._lock:
            self._routes["/" + path.lstrip("/")] = route

    def route_for(self, target: str) -> Route | None:
        with self._lock:
            return self._routes.get(target) or self._routes.get(urlsplit(target).path)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests seen so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests received and not yet answered at once, since start or clear."""
        with self._lock:
            return self._max_in_flight

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def track(self, conn: socket.socket) -> bool:
        """Register an open connection; False when the server is stopping and it must close."""
        with self._lock:
            if self.stopping.is_set():
                return False
            self._connections.add(conn)
            return True

    def untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the client
        conn.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads are the ones server_close() joins; stop() unblocks them first.
    daemon_threads = False
    block_on_close = True
    # The listen backlog: socketserver's default of 5 overflows when a client opens dozens of
    # connections at once (the bench farm, under load), and a dropped handshake ACK leaves the
    # client waiting for an answer to a request the server never accepted.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], owner: FeedServer
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-response are routine in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection must not pin a thread forever
    server: _Server

    def setup(self) -> None:
        super().setup()
        if not self.server.owner.track(self.connection):
            self.close_connection = True
            _shutdown(self.connection)

    def finish(self) -> None:
        self.server.owner.untrack(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def do_POST(self) -> None:
        """Record the body (a WebSub publish ping, say) and answer with the route, if any."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self._respond(head=False, body=body)

    # --- responses ---------------------------------------------------------------------------

    def _respond(self, head: bool, body: bytes = b"") -> None:
        owner = self.server.owner
        headers = {name.lower(): value for name, value in self.headers.items()}
        owner.record(RecordedRequest(self.command, self.path, headers, body))
        route = owner.route_for(self.path)
        if route is None:
            route = self._static_route(headers)
        if route is None:
            route = Route(b"not found\n", "text/plain; charset=utf-8", status=404, etag="")
        # In flight from receipt until just before the answer goes out: a client that waits
        # for this answer before its next request can then never be counted twice at once.
        owner.enter()
        try:
            stopped = bool(route.delay) and owner.stopping.wait(route.delay)
            while route.hold is not None and not stopped and not route.hold.wait(0.05):
                stopped = owner.stopping.is_set()
        finally:
            owner.leave()
        if stopped:
            self.close_connection = True
            return
        try:
            self._send(route, headers, head)
        except OSError:
            self.close_connection = True  # the client went away

    def _static_route(self, headers: Mapping[str, str]) -> Route | None:
        root = self.server.owner.root
        if root is None:
            return None
        path = (root / unquote(urlsplit(self.path).path).lstrip("/")).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return Route(
            path.read_bytes(),
            content_type_for(path),
            last_modified=formatdate(path.stat().st_mtime, usegmt=True),
        )

    def _send(self, route: Route, request: Mapping[str, str], head: bool) -> None:
        if route.redirect_to is not None:
            status = route.status if 300 <= route.status < 400 else 302
            self._start(status, route)
            self.send_header("Location", route.redirect_to)
            self.send_header("Content-Length", "0")
            self._extra_headers(route)
            self.end_headers()
            return
        etag = route.etag
        if etag is None:
            etag = strong_etag(route.body) if route.status == 200 else ""
        if route.status == 200 and is_not_modified(request, etag, route.last_modified):
            self._start(304, route)
            self._validators(etag, route.last_modified)
            self._extra_headers(route)
            self.end_headers()
            return
        body = route.body
        self._start(route.status, route)
        self.send_header("Content-Type", route.content_type)
        if route.gzip and "gzip" in request.get("accept-encoding", ""):
            body = gzip.compress(body, mtime=0)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self._validators(etag, route.last_modified)
        self._extra_headers(route)
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self._write_body(body, route)

    def _start(self, status: int, route: Route) -> None:
        """The status line, and Server and Date unless the route sets its own."""
        self.send_response_only(status)
        own = {name.lower() for name in route.headers}
        if "server" not in own:
            self.send_header("Server", self.version_string())
        if "date" not in own:
            self.send_header("Date", self.date_time_string())

    def _validators(self, etag: str, last_modified: str | None) -> None:
        if etag:
            self.send_header("ETag", etag)
        if last_modified:
            self.send_header("Last-Modified", last_modified)

    def _extra_headers(self, route: Route) -> None:
        for name, value in route.headers.items():
            self.send_header(name, value)

    def _write_body(self, body: bytes, route: Route) -> None:
        step = 1 if route.drip else max(1, len(body))
        for start in range(0, len(body), step):
            piece = body[start : start + step]
            if route.chunked:
                piece = b"%x\r\n%s\r\n" % (len(piece), piece)
            self.wfile.write(piece)
            self.wfile.flush()
            if route.drip and self.server.owner.stopping.wait(route.drip):
                self.close_connection = True
                return
        if route.chunked:
            self.wfile.write(b"0\r\n\r\n")


def main(argv: list[str] | None = None) -> None:
    """Serve a directory until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Serve feed files on a loopback address.")
    parser.add_argument("--root", type=Path, default=Path("."), help="directory to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    # `make demo` and process supervisors stop us with SIGTERM: treat it as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = FeedServer(args.root, host=args.host, port=args.port)
    server.start()
    print(f"serving {server.root} at {server.base_url}/ (Ctrl-C stops)", flush=True)
    try:
        server.stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
