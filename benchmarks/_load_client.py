"""The client processes of ``benchmarks/load.py``: many ``websockets`` connections each.

A client process opens its share of the connections (at most 64 handshakes at a time), waits
for each server's ``ready``, reports ``("connected", n)`` to the driver through a pipe, then
reads every connection until each phase is complete. Per phase it reports how many messages
arrived, how many broke the per-connection order (a gap, a duplicate or a reordering), whether
it gave up waiting, when the last one arrived (``time.monotonic_ns()``) and every latency
(float32 milliseconds). Finally it closes its connections and reports ``("closed", held)``.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from ._load_app import raise_fd_limit

if TYPE_CHECKING:
    from .load import Settings

__all__ = ["client_main"]


def client_main(pipe: Connection, urls: list[str], count: int, settings: Settings) -> None:
    """A client process: ``count`` connections over ``urls``; reports through ``pipe``."""
    raise_fd_limit()
    try:
        asyncio.run(_client(pipe, urls, count, settings))
    except BaseException as exc:  # report, never hang the driver
        pipe.send(("error", repr(exc)))
        raise


async def _client(pipe: Connection, urls: list[str], count: int, settings: Settings) -> None:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    phases = {name: messages for name, messages, _ in settings.phases}
    received = dict.fromkeys(phases, 0)
    disorder = dict.fromkeys(phases, 0)
    last_at = dict.fromkeys(phases, 0)
    latencies = {name: array("f") for name in phases}
    done = {name: asyncio.Event() for name in phases}
    remaining = {name: messages * count for name, messages in phases.items()}
    closed_early = 0
    opening = asyncio.Semaphore(64)
    conns: list[ClientConnection] = []

    async def open_one(index: int) -> None:
        async with opening:
            ws = await connect(
                urls[index % len(urls)], compression=None, ping_interval=None,
                open_timeout=120, close_timeout=10, max_queue=64, proxy=None,
            )  # fmt: skip
            if await ws.recv() != "ready":
                raise RuntimeError("the server did not say ready")
            conns.append(ws)

    async def read(ws: ClientConnection) -> None:
        nonlocal closed_early
        last: dict[str, int] = {}
        try:
            async for message in ws:
                now = time.monotonic_ns()
                phase, seq_text, stamp, _ = str(message).split(" ", 3)
                seq = int(seq_text)
                if seq != last.get(phase, -1) + 1:
                    disorder[phase] += 1
                last[phase] = seq
                latencies[phase].append((now - int(stamp)) / 1e6)
                received[phase] += 1
                last_at[phase] = now
                remaining[phase] -= 1
                if remaining[phase] == 0:
                    done[phase].set()
        except ConnectionClosed:
            pass
        if not ws.close_code:  # pragma: no cover - the server dropped us
            closed_early += 1

    async with asyncio.TaskGroup() as tg:
        for index in range(count):
            tg.create_task(open_one(index))
    pipe.send(("connected", len(conns)))
    readers = [asyncio.create_task(read(ws)) for ws in conns]
    for name in phases:
        timed_out = False
        try:
            async with asyncio.timeout(settings.phase_timeout):
                await done[name].wait()
        except TimeoutError:
            timed_out = True
        pipe.send(
            ("phase", name, received[name], disorder[name], timed_out, last_at[name],
             latencies[name].tobytes())
        )  # fmt: skip
    held = len(conns) - closed_early
    async with asyncio.TaskGroup() as tg:
        for ws in conns:
            tg.create_task(ws.close())
    await asyncio.gather(*readers, return_exceptions=True)
    pipe.send(("closed", held))
