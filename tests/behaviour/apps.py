"""The apps the behaviour suite serves with ``python -m wskit run --server NAME``.

* ``app``: a ``wskit.App`` with one route per behaviour, and ``/stats`` (plain HTTP, through
  ``http_app``): the server process's task count, open file descriptors, resident memory,
  live connections and the close codes its handlers saw, as JSON.
* ``starlette_app``: a Starlette app whose WebSocket routes are ``wskit.contrib.starlette``
  routes sharing a ``Registry``, shut down from the Starlette lifespan (the documented way).
* ``raw_app``: a raw ASGI app that builds ``wskit.WebSocket`` itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
from starlette.applications import Starlette

from wskit.app import App, Registry
from wskit.connection import Limits, WebSocket
from wskit.contrib.starlette import WebSocketRoute
from wskit.exceptions import WebSocketDisconnect
from wskit.policies.ratelimit import RateLimit
from wskit.pubsub import Hub
from wskit.pubsub.backends.base import Backend

__all__ = [
    "BIG_LIMIT",
    "SMALL_LIMIT",
    "Stats",
    "Tick",
    "app",
    "hub_app",
    "raw_app",
    "starlette_app",
]

#: ``/small``'s inbound limit (bytes): below the App's default.
SMALL_LIMIT = 1024
#: ``/big``'s inbound limit (bytes): above the default, so the server's limit must follow it.
BIG_LIMIT = 4 * 2**20
#: ``/flood``'s rate limit: a flood is over it within a few messages.
FLOOD_RATE = RateLimit(messages_per_second=5, burst_messages=5)


class Tick(msgspec.Struct):
    """A typed message ``{"seq": 1}``: anything else closes ``/typed`` with 1007."""

    seq: int


class Stats(msgspec.Struct):
    """What ``/stats`` reports about the server process."""

    tasks: int
    fds: int
    rss_kib: int
    connections: int
    observed: list[tuple[int, str]]


_observed: list[tuple[int, str]] = []


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # pragma: no cover - Linux only


async def _echo(ws: WebSocket) -> None:
    async with ws:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            else:
                await ws.send_bytes(message["bytes"])


async def _stats(scope: Any, receive: Any, send: Any) -> None:
    """``GET /stats``: the process's :class:`Stats` as JSON (any other HTTP path: 404)."""
    if scope["type"] == "lifespan":
        return  # no lifespan of its own
    if scope["path"] != "/stats":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    stats = Stats(
        tasks=len(anyio.get_running_tasks()),
        fds=len(os.listdir("/proc/self/fd")),
        rss_kib=_rss_kib(),
        connections=len(app.connections),
        observed=list(_observed),
    )
    body = msgspec.json.encode(stats)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = App(http_app=_stats)
app.add_route("/echo", _echo)
app.add_route("/small", _echo, limits=Limits(max_message_size=SMALL_LIMIT))
app.add_route("/big", _echo, limits=Limits(max_message_size=BIG_LIMIT))
# A short close_timeout: a client that never answers the close is let go after 2 s.
app.add_route("/flood", _echo, rate_limit=FLOOD_RATE, limits=Limits(close_timeout=2.0))


@app.websocket("/typed")
async def typed(ws: WebSocket) -> None:
    """Echo :class:`Tick` values; a message that is not one closes with 1007."""
    async with ws:
        async for tick in ws.iter_data(Tick):
            await ws.send_data(tick)


@app.websocket("/observe")
async def observe(ws: WebSocket) -> None:
    """Record the close code and reason the server reports when the client closes."""
    await ws.accept()
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect as exc:
        _observed.append((exc.code, exc.reason or ""))


@app.websocket("/boom")
async def boom(ws: WebSocket) -> None:
    """Fail after the first message: 1011 with a reason, one ERROR record."""
    async with ws:
        await ws.receive_text()
        raise RuntimeError("boom (raised on purpose by the behaviour suite)")


@app.websocket("/whoami")
async def whoami(ws: WebSocket) -> None:
    """Send the client's address and the scheme as the app sees them: ``[host, port, scheme]``."""
    async with ws:
        client = ws.client
        assert client is not None
        await ws.send_data([client.host, client.port, ws.url.scheme])


@app.websocket("/close/{code:int}")
async def close(ws: WebSocket) -> None:
    """Close at once with the code in the path and a reason."""
    await ws.accept()
    await ws.close(ws.path_params["code"], "closed by the app")


# --- a Starlette app with wskit routes -----------------------------------------------------

registry = Registry()


@contextlib.asynccontextmanager
async def _lifespan(_: Starlette) -> AsyncIterator[None]:
    yield
    await registry.shutdown()


starlette_app = Starlette(
    routes=[WebSocketRoute("/echo", _echo, registry=registry)], lifespan=_lifespan
)


# --- a raw ASGI app that builds wskit.WebSocket itself ---------------------------------------


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    """Lifespan, and an echo on any WebSocket path; no App, no Registry."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"{message['type']}.complete"})
            if kind == "shutdown":
                return
    elif scope["type"] == "websocket":
        await _echo(WebSocket(scope, receive, send))


# --- an App on a Redis hub, for --workers N -------------------------------------------------

#: ``WSKIT_BEHAVIOUR_REDIS``: the Redis URL ``hub_app`` shares its room through.
REDIS_ENV = "WSKIT_BEHAVIOUR_REDIS"
NODE = os.getpid()


def _backend() -> Backend | None:
    url = os.environ.get(REDIS_ENV)
    if not url:
        return None
    from wskit.pubsub.backends.redis import RedisBackend

    return RedisBackend(url, prefix=f"behaviour-{os.environ.get('WSKIT_BEHAVIOUR_PREFIX', '')}:")


backend = _backend()
hub = Hub(backend)


@contextlib.asynccontextmanager
async def _hub_lifespan(_: App) -> AsyncIterator[None]:
    async with hub:
        wait_connected = getattr(backend, "wait_connected", None)
        if wait_connected is not None:  # subscriptions made from now on reach the others
            with anyio.fail_after(10):
                await wait_connected()
        yield


hub_app = App(lifespan=_hub_lifespan)


@hub_app.websocket("/room")
async def room(ws: WebSocket) -> None:
    """Join the one room, say which process serves it, publish every text to the room."""
    async with ws:
        await hub.subscribe(ws, "room")
        await ws.send_data({"node": NODE})
        async for text in ws.iter_text():
            await hub.publish("room", {"node": NODE, "text": text})
