"""Helpers for the operation-router tests: serve a handler as a bare ASGI app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wskit.codecs import JSON, Codec
from wskit.connection import Limits, WebSocket

if TYPE_CHECKING:
    from wskit._types import ASGIApp, Receive, Scope, Send


def asgi(
    handler: Callable[[WebSocket], Awaitable[Any]],
    *,
    codec: Codec = JSON,
    limits: Limits | None = None,
    app: object = None,
) -> ASGIApp:
    """Wrap ``handler`` as the smallest ASGI app: one ``WebSocket`` per connection."""

    async def run(scope: Scope, receive: Receive, send: Send) -> None:
        if app is not None:
            scope["app"] = app
        ws = WebSocket(scope, receive, send, codec=codec, limits=limits or Limits())
        await handler(ws)

    return run
