"""How long after SIGTERM does every client have its 1001, on every server and kind of app?

For each installed server (hypercorn on asyncio and trio, uvicorn, granian) and each kind of
app of the behaviour suite (``tests/behaviour/apps.py``: a ``wskit.App``, a Starlette app with
wskit routes, a raw ASGI app that builds ``wskit.WebSocket``), start ``wskit run`` with a 30 s
graceful timeout and drain timeout (so a server that waited for either instead of draining
would show it), open 200 connections, send SIGTERM and report when the last client got its
close, which codes they got, and when the server exited.

Usage::

    python -m benchmarks.drain [--clients N]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = [
    ("hypercorn", "asyncio"),
    ("hypercorn", "trio"),
    ("uvicorn", "uvloop"),
    ("granian", "uvloop"),
]
APPS = ("app", "starlette_app", "raw_app")


async def one(server: str, worker: str, app: str, clients: int) -> str:
    """One server, one app: the drain's figures as one line."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wskit", "run", f"tests.behaviour.apps:{app}", "--port", "0",
        "--server", server, "--worker", worker, "--log-level", "warning",
        "--graceful-timeout", "30", "--drain-timeout", "30",
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    found = re.search(r"http://(\S+)", (await process.stdout.readline()).decode())
    if found is None:
        raise RuntimeError(f"{server}: the server did not start")
    opening = asyncio.Semaphore(50)

    async def connected() -> ClientConnection:
        async with opening:
            ws = await connect(f"ws://{found.group(1)}/echo", proxy=None)
            await ws.send("ready?")
            await ws.recv()
            return ws

    sockets = await asyncio.gather(*(connected() for _ in range(clients)))
    start = time.monotonic()
    process.send_signal(signal.SIGTERM)

    async def closed(ws: ClientConnection) -> tuple[float, int]:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            return time.monotonic() - start, exc.rcvd.code if exc.rcvd else 1006

    results = await asyncio.wait_for(asyncio.gather(*(closed(ws) for ws in sockets)), 60)
    status = await asyncio.wait_for(process.wait(), 60)
    exited = time.monotonic() - start
    codes = sorted({code for _, code in results})
    last = max(seconds for seconds, _ in results)
    return (
        f"| {server} ({worker}) | {app} | {last * 1000:.0f} ms | {codes} "
        f"| {exited * 1000:.0f} ms | {status} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run every installed server with every kind of app; print one table."""
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("--clients", type=int, default=200, help="connections per server (200)")
    args = p.parse_args(argv)
    print("| Server | App | last client closed | codes | server exited | status |")
    print("|:--|:--|--:|:--|--:|--:|")
    for server, worker in KINDS:
        if importlib.util.find_spec(server) is None:
            continue
        for app in APPS:
            print(asyncio.run(one(server, worker, app, args.clients)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
