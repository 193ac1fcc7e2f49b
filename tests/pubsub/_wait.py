"""Waiting in the pub/sub tests: for a condition a test peer signals, or one nobody signals."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from tests._services import timeout


async def eventually(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``seconds`` (scaled)."""
    with anyio.fail_after(timeout(seconds)):
        while not predicate():  # noqa: ASYNC110 - counters have no event to wait on
            await anyio.sleep(0.002)


class Changes:
    """Wakes whoever waits when a test peer records something (a frame, a close)."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def notify(self) -> None:
        """Something changed: wake the waiters."""
        if self._event is not None:
            self._event.set()
            self._event = None

    async def until(self, predicate: Callable[[], object], seconds: float) -> None:
        """Wait until ``predicate`` holds, re-checking at each change; fail after ``seconds``."""
        with anyio.fail_after(seconds):
            while not predicate():
                if self._event is None:
                    self._event = anyio.Event()
                await self._event.wait()
