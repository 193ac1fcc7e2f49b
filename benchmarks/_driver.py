"""The in-memory ASGI driver of the per-message benchmarks.

``receive`` hands out pre-built message dicts from a list and never suspends; ``send`` counts.
What a contender spends per message is then its own code: frames, checks, decoding, encoding.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from benchmarks._harness import Case

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

__all__ = ["App", "Message", "Receive", "Send", "connection_case", "make_scope"]


def make_scope() -> Message:
    """A websocket scope like the one uvicorn or hypercorn builds for ``ws://host/``."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"sec-websocket-version", b"13")],
        "subprotocols": [],
        "extensions": {},
        "state": {},
    }


def connection_case(label: str, app: App, messages: list[Message], **kw: Any) -> Case:
    """A case that runs one connection of ``messages`` through ``app``."""
    scope = make_scope()
    expected = len(messages) - 1  # the accept and one reply per data message

    async def connection() -> None:
        next_message = iter(messages).__next__
        sent = 0

        async def receive() -> Message:
            return next_message()

        async def send(message: Message) -> None:
            nonlocal sent
            sent += 1

        await app(dict(scope), receive, send)
        if sent != expected:
            raise AssertionError(f"{label}: sent {sent} messages, expected {expected}")

    return Case(label, connection, ops=len(messages) - 2, number=1, **kw)
