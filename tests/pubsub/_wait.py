"""Wait for a condition the hub does not signal (its counters), with a deadline."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from tests._services import timeout


async def eventually(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``seconds`` (scaled)."""
    with anyio.fail_after(timeout(seconds)):
        while not predicate():  # noqa: ASYNC110 - counters have no event to wait on
            await anyio.sleep(0.002)
