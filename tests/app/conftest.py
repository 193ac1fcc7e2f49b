"""Helpers for the App tests: scope rewriting, log capture, a standard echo handler."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from wskit._types import ASGIApp, Receive, Scope, Send
from wskit.connection import WebSocket


def rewrite_scope(app: ASGIApp, change: Callable[[Scope], None]) -> ASGIApp:
    """Wrap ``app`` so that ``change(scope)`` runs first: a server that sends odd handshakes."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        scope = dict(scope)
        change(scope)
        await app(scope, receive, send)

    return wrapper


async def echo(ws: WebSocket) -> None:
    """Accept, then echo text frames until the client leaves."""
    async with ws:
        async for text in ws.iter_text():
            await ws.send_text(text)


class Records:
    """The log records of the ``wskit`` loggers, for counting errors."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def at(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.caplog.records if r.levelno >= level and r.name.startswith("wskit")]

    @property
    def errors(self) -> list[logging.LogRecord]:
        return self.at(logging.ERROR)


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[Records]:
    """Capture every ``wskit`` record from DEBUG up."""
    with caplog.at_level(logging.DEBUG, logger="wskit"):
        yield Records(caplog)
