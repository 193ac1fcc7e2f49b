"""Small stand-ins for connections: what the hub's ``Subscriber`` protocol asks for, no more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from wskit.codecs import JSON, Codec


def binary(frame: str | bytes) -> bytes:
    """A frame that must be binary (a MessagePack message)."""
    assert isinstance(frame, bytes), frame
    return frame


class FakeConnection:
    """Records frames; optionally never completes a send (``stall``) or fails (``error``).

    ``gate``: when set, each send waits for it (a client that reads slowly).
    """

    def __init__(
        self,
        codec: Codec = JSON,
        *,
        stall: bool = False,
        error: Exception | None = None,
        gate: anyio.Event | None = None,
        name: str = "",
    ) -> None:
        self.codec = codec
        self.frames: list[str | bytes] = []
        self.stall = stall
        self.error = error
        self.gate = gate
        self.name = name
        self.closed_with: tuple[int, str | None] | None = None
        self.sends_started = 0
        self._callbacks: list[Callable[[Any], object]] = []
        self._waiter: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<FakeConnection {self.name} frames={len(self.frames)}>"

    async def send_frame(self, frame: str | bytes, /) -> None:
        self.sends_started += 1
        if self.stall:
            await anyio.sleep_forever()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.record(frame)

    def record(self, frame: str | bytes) -> None:
        """Keep a frame that arrived and wake ``wait_frames``."""
        self.frames.append(frame)
        self._wake()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.closed_with is not None:
            return
        self.closed_with = (code, reason)
        self.end()

    def end(self) -> None:
        """The connection ends (the client left): run the close callbacks once."""
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)
        self._wake()

    def add_close_callback(self, callback: Callable[[Any], object], /) -> None:
        self._callbacks.append(callback)

    async def wait_frames(self, count: int, timeout: float = 5.0) -> list[str | bytes]:
        """Wait until ``count`` frames arrived (fails the test after ``timeout`` seconds)."""
        with anyio.fail_after(timeout):
            while len(self.frames) < count:
                await self._wait()
        return self.frames

    async def wait_closed(self, timeout: float = 5.0) -> tuple[int, str | None]:
        with anyio.fail_after(timeout):
            while self.closed_with is None:
                await self._wait()
        return self.closed_with

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    async def _wait(self) -> None:
        if self._waiter is None:
            self._waiter = anyio.Event()
        await self._waiter.wait()
