"""An ASGI layer that answers repeated requests for cached outputs before routing.

Subscribers poll the same few feed URLs over and over. While the change version is fresh
(`FeedOutputs.served_version`) and a request's exact path and query string were answered
before, the cached bytes go out with the headers the routed handler built for them, without
Starlette's request object, routing or exception middleware. Everything else passes through.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from aggregator.web.outputs import FeedOutputs

CONDITIONAL = (b"if-none-match", b"if-modified-since")


class FastFeeds:
    """ASGI middleware serving `outputs`' cached answers to GETs it has seen before."""

    def __init__(self, app: ASGIApp, outputs: FeedOutputs) -> None:
        self.app = app
        self.outputs = outputs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = self.outputs.cached_answer(
                scope["path"], scope["query_string"], _conditional_headers(scope)
            )
            if answer is not None:
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _conditional_headers(scope: Scope) -> dict[str, str]:
    """The request's conditional headers, the first of each as Starlette's `Headers` reads it."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in CONDITIONAL and name.decode() not in found:
            found[name.decode()] = value.decode("latin-1")
    return found
