"""Small stand-ins for connections: what the hub's ``Subscriber`` protocol asks for, no more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from wskit.codecs import JSON, Codec

from ._wait import Changes


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
        self._changes = Changes()

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
        self._changes.notify()

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
        self._changes.notify()

    def add_close_callback(self, callback: Callable[[Any], object], /) -> None:
        self._callbacks.append(callback)

    async def wait_frames(self, count: int, timeout: float = 5.0) -> list[str | bytes]:
        """Wait until ``count`` frames arrived (fails the test after ``timeout`` seconds)."""
        await self._changes.until(lambda: len(self.frames) >= count, timeout)
        return self.frames

    async def wait_closed(self, timeout: float = 5.0) -> tuple[int, str | None]:
        await self._changes.until(lambda: self.closed_with is not None, timeout)
        assert self.closed_with is not None
        return self.closed_with
