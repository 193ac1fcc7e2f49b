"""Shared helpers of the reliability suite: log capture, task counts, a recording ASGI wrapper.

:class:`Recorder` sits between a server (the in-memory ``TestClient``, or hypercorn) and the
app, and notes every ASGI call the app makes, so a test can assert that after the connection
ended (``websocket.disconnect`` handed to the app, or the server's ``send`` raised) the app
made **no later ASGI call**.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from tests._services import timeout
from wskit._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ASYNCIO_CLIENT", "Recorder", "Records", "count_tasks", "settled_tasks", "wait_until"]

#: For tests that drive a real server with the ``websockets`` client, which runs on asyncio
#: only: the test's own loop is asyncio, the server's loop is the ``worker`` parameter.
ASYNCIO_CLIENT = pytest.mark.parametrize(
    "anyio_backend", [pytest.param(("asyncio", {}), id="client-asyncio")]
)


class Records:
    """The log records of the ``wskit`` loggers (and the test apps'), for counting errors."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def at(self, level: int) -> list[logging.LogRecord]:
        """Records at ``level`` or above."""
        return [r for r in self.caplog.records if r.levelno >= level]

    @property
    def errors(self) -> list[logging.LogRecord]:
        """Records at ERROR or above, from any logger."""
        return self.at(logging.ERROR)

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        """The formatted messages at ``level`` or above."""
        return [r.getMessage() for r in self.at(level)]


@contextmanager
def capture(caplog: pytest.LogCaptureFixture) -> Iterator[Records]:
    """Capture every record from DEBUG up (root logger: the server threads' records too)."""
    with caplog.at_level(logging.DEBUG):
        yield Records(caplog)


def count_tasks() -> int:
    """The number of tasks in the current event loop (asyncio or trio)."""
    return len(anyio.get_running_tasks())


async def settled_tasks(expected: int, deadline: float = 2.0) -> int:
    """Wait (bounded) until the task count drops to ``expected``; return the last count.

    Tasks end a few scheduler ticks after the event that ends them, so a test gives them
    those ticks before it compares; a leak keeps the count up and the comparison fails.
    """
    count = count_tasks()
    with anyio.move_on_after(deadline):
        while count > expected:
            await anyio.sleep(0.005)
            count = count_tasks()
    return count


async def wait_until(predicate: Callable[[], bool], deadline: float = 5.0) -> None:
    """Poll ``predicate`` until it holds (bounded; the deadline scales with the test factor).

    For state owned by another thread or process (a server running in its own thread): there
    is no event of the test's own loop to wait on.
    """
    with anyio.fail_after(timeout(deadline)):
        while not predicate():  # noqa: ASYNC110 - the state lives in another thread
            await anyio.sleep(0.005)


class Recorder:
    """An ASGI wrapper that records the app's calls on one ``websocket`` connection.

    Attributes:
        receives: How many times the app awaited ``receive``.
        sent: Every message the app passed to ``send`` (including ones that raised).
        ended_at: ``(receives, len(sent))`` when the connection ended for the app: a
            ``websocket.disconnect`` was handed to it, or the server's ``send`` raised.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.receives = 0
        self.sent: list[Message] = []
        self.ended_at: tuple[int, int] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def recording_receive() -> Message:
            self.receives += 1
            message = await receive()
            if message["type"] == "websocket.disconnect" and self.ended_at is None:
                self.ended_at = (self.receives, len(self.sent))
            return message

        async def recording_send(message: Message) -> None:
            self.sent.append(dict(message))
            try:
                await send(message)
            except OSError:
                if self.ended_at is None:
                    self.ended_at = (self.receives, len(self.sent))
                raise

        await self.app(scope, recording_receive, recording_send)

    def calls_after_the_end(self) -> tuple[int, int]:
        """``(receives, sends)`` the app made after the connection ended for it."""
        assert self.ended_at is not None, "the connection never ended for the app"
        receives, sends = self.ended_at
        return self.receives - receives, len(self.sent) - sends

    @property
    def types(self) -> list[str]:
        """The ``type`` of every message the app sent."""
        return [m["type"] for m in self.sent]


def data(message: Message) -> Any:
    """The payload of a ``websocket.send`` message."""
    return message.get("text") if message.get("text") is not None else message.get("bytes")
