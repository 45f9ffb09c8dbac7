"""A real uvicorn server for an ASGI app on a bound loopback socket, in a thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp


@contextmanager
def running(app: ASGIApp, sock: socket.socket) -> Iterator[None]:
    """Serve `app` on `sock` (bound by the caller) until the block ends; the socket is closed."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not server.started and thread.is_alive():
        started.wait(0.05)  # polls uvicorn's own readiness flag, not a timing guess
    try:
        yield
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def free_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1, for `running`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def client_of(app: ASGIApp) -> Iterator[httpx.Client]:
    """Serve `app` on a free loopback port; an HTTP client of it, until the block ends."""
    sock = free_socket()
    port = sock.getsockname()[1]
    with running(app, sock), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
