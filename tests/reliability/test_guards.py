"""Guards of an open connection: idle timeout, heartbeat miss, max lifespan, rate limit.

The documented codes (docs/topics/close-codes.md), the same as the operation router's:

* idle timeout (and so a missed application heartbeat): **1008** ``"idle timeout"``;
* max lifespan: **1001** ``"connection lifespan ended"``;
* over the rate limit: **1008** ``"rate limit exceeded"``, or with ``on_exceed="reply"`` an
  error envelope (code ``rate_limited``) and the message dropped.

Every guard is checked for leftovers: the task count returns to its value before the
connection, and nothing is logged at ERROR. The main cases run three ways: on an App route, on
a ``wskit.contrib.starlette.WebSocketRoute`` and on a bare ``Endpoint`` in a real Starlette app,
which take the same options and must end connections with the same codes.
"""

from __future__ import annotations

import logging
from typing import Unpack

import anyio
import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute as StarletteWebSocketRoute

from tests._services import timeout
from wskit._types import ASGIApp, Receive, Scope, Send
from wskit.app import App, Registry
from wskit.app._guards import Guard
from wskit.connection import Limits, WebSocket
from wskit.contrib.starlette import Endpoint, WebSocketRoute
from wskit.exceptions import WebSocketDisconnect
from wskit.operations import OperationRouter
from wskit.policies import Handshake, RouteOptions
from wskit.policies.ratelimit import RateLimit, TokenBucket, message_size
from wskit.testing import TestClient, WebSocketTestSession

from ._helpers import Records, count_tasks, settled_tasks

#: The idle timeout of these tests, and the lifespan where the handler must answer first;
#: both scale with WSKIT_TESTS_TIMEOUT_FACTOR, so a slow machine does not end them early.
IDLE = timeout(0.1)
LIFESPAN = timeout(0.3)


#: Where the guards are configured: an App route, a Starlette route, a bare Endpoint in
#: Starlette. All three resolve the same RouteOptions through the same code.
KINDS = pytest.mark.parametrize("kind", ["app", "starlette", "endpoint"])


def echo_app(
    kind: str = "app", **options: Unpack[RouteOptions]
) -> tuple[ASGIApp, list[tuple[int, str]]]:
    """An app whose ``/ws`` echoes text and records the disconnect its handler saw.

    ``/open`` runs the same handler with every guard off.
    """
    seen: list[tuple[int, str]] = []

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect as exc:
            seen.append((exc.code, exc.reason))

    if kind == "starlette":
        return Starlette(
            routes=[WebSocketRoute("/ws", echo, **options), WebSocketRoute("/open", echo)]
        ), seen
    if kind == "endpoint":
        registry = Registry()
        return Starlette(
            routes=[
                StarletteWebSocketRoute("/ws", Endpoint(echo, registry=registry, **options)),
                StarletteWebSocketRoute("/open", Endpoint(echo, registry=registry)),
            ]
        ), seen
    app = App(**options)
    app.add_route("/ws", echo)
    app.add_route("/open", echo, idle_timeout=None, max_lifespan=None, rate_limit=None)
    return app, seen


async def closed_with(conn: WebSocketTestSession) -> tuple[int, str]:
    """Read until the app closes; return its code and reason."""
    try:
        while True:
            await conn.receive_text()
    except WebSocketDisconnect as exc:
        return exc.code, exc.reason


# -- idle timeout and heartbeats ---------------------------------------------------------------


@KINDS
async def test_idle_timeout_closes_1008_and_wakes_the_handler(records: Records, kind: str) -> None:
    app, seen = echo_app(kind, idle_timeout=IDLE)
    before = count_tasks()
    async with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        await conn.send_text("hello")
        assert await conn.receive_text() == "hello"
        assert await closed_with(conn) == (1008, "idle timeout")
    # The handler's own "client left" path ran, with the guard's code: no cancellation.
    assert seen == [(1008, "idle timeout")]
    assert await settled_tasks(before) == before
    assert records.errors == []
    assert f"idle for {IDLE} seconds" in " ".join(records.messages(logging.INFO))


async def test_heartbeats_keep_the_connection_and_a_missed_one_closes_it() -> None:
    app, seen = echo_app(idle_timeout=IDLE)
    async with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        start = anyio.current_time()
        while anyio.current_time() - start < 3 * IDLE:  # beat faster than the idle timeout
            await conn.send_text("ping")
            assert await conn.receive_text() == "ping"
            await anyio.sleep(IDLE / 4)
        assert await closed_with(conn) == (1008, "idle timeout")  # the client stopped beating
    assert seen == [(1008, "idle timeout")]


async def test_idle_time_counts_only_while_waiting_for_the_client() -> None:
    app = App(idle_timeout=IDLE)

    @app.websocket("/slow")
    async def slow(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await anyio.sleep(2 * IDLE)  # a slow handler is not an idle client
            await ws.send_text(text)

    async with TestClient(app) as client, client.websocket_connect("/slow") as conn:
        await conn.send_text("one")
        await conn.send_text("two")
        assert await conn.receive_text() == "one"
        assert await conn.receive_text() == "two"
        assert await closed_with(conn) == (1008, "idle timeout")


async def test_idle_timeout_reaches_an_operation_router() -> None:
    ops = OperationRouter()

    @ops.on("ping", reply="pong")
    async def ping() -> str:
        return "pong"

    app = App(idle_timeout=IDLE)
    app.add_route("/ops", ops)
    before = count_tasks()
    async with TestClient(app) as client, client.websocket_connect("/ops") as conn:
        await conn.send_json({"type": "ping", "id": 1})
        assert await conn.receive_json() == {"type": "pong", "payload": "pong", "id": 1}
        assert await closed_with(conn) == (1008, "idle timeout")
    assert await settled_tasks(before) == before


@KINDS
async def test_route_override_turns_the_guards_off(kind: str) -> None:
    app, seen = echo_app(kind, idle_timeout=IDLE, max_lifespan=IDLE)
    async with TestClient(app) as client, client.websocket_connect("/open") as conn:
        await anyio.sleep(3 * IDLE)
        await conn.send_text("still here")
        assert await conn.receive_text() == "still here"
    assert seen == [(1000, "")]


# -- max lifespan -----------------------------------------------------------------------------


@KINDS
async def test_max_lifespan_closes_1001_and_its_timer_ends_with_the_connection(
    records: Records, kind: str
) -> None:
    app, seen = echo_app(kind, max_lifespan=LIFESPAN)
    before = count_tasks()
    async with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        await conn.send_text("hello")
        assert await conn.receive_text() == "hello"
        assert await closed_with(conn) == (1001, "connection lifespan ended")
    assert seen == [(1001, "connection lifespan ended")]
    assert await settled_tasks(before) == before
    assert records.errors == []


async def test_lifespan_timer_is_cancelled_when_the_client_leaves_first() -> None:
    app, seen = echo_app(max_lifespan=60.0)
    async with TestClient(app) as client:
        before = count_tasks()
        async with client.websocket_connect("/ws") as conn:
            await conn.send_text("x")
            assert await conn.receive_text() == "x"
            during = count_tasks()
            await conn.close(1000)
        after = await settled_tasks(before)
    # During: the handler and its one lifespan timer (plus the client's task).
    assert during > before
    assert after == before
    assert seen == [(1000, "")]


async def test_lifespan_reaches_a_handler_that_only_sends() -> None:
    app = App(max_lifespan=IDLE)
    ended: list[str] = []

    @app.websocket("/feed")
    async def feed(ws: WebSocket) -> None:
        await ws.accept()
        try:
            for n in range(1000):
                await ws.send_text(str(n))
                await anyio.sleep(IDLE / 10)
        except WebSocketDisconnect as exc:  # ConnectionClosed once the guard closed
            ended.append(type(exc).__name__)

    async with TestClient(app) as client, client.websocket_connect("/feed") as conn:
        assert await closed_with(conn) == (1001, "connection lifespan ended")
    assert ended == ["ConnectionClosed"]


async def test_a_handler_that_ignores_the_end_is_cancelled_after_close_timeout(
    records: Records,
) -> None:
    app = App(max_lifespan=IDLE, limits=Limits(close_timeout=IDLE))
    cleaned: list[bool] = []

    @app.websocket("/stuck")
    async def stuck(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await anyio.sleep_forever()
        finally:
            cleaned.append(True)

    before = count_tasks()
    async with TestClient(app) as client, client.websocket_connect("/stuck") as conn:
        assert await closed_with(conn) == (1001, "connection lifespan ended")
    assert cleaned == [True]
    assert await settled_tasks(before) == before
    assert records.errors == []
    assert any("still running" in m for m in records.messages(logging.WARNING))


async def test_lifespan_over_before_accept_refuses_the_handshake() -> None:
    app = App(max_lifespan=IDLE)

    @app.websocket("/late")
    async def late(ws: WebSocket) -> None:
        await anyio.sleep(10)  # never accepts in time  # pragma: no cover - cancelled

    from wskit.testing import WebSocketDenied

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/late"):
            pass  # pragma: no cover
    assert info.value.status == 403


async def test_guards_are_off_by_default_and_cost_nothing() -> None:
    given: list[Receive] = []
    app = App()
    wrapped: list[object] = []

    @app.websocket("/ws")
    async def probe(ws: WebSocket) -> None:
        wrapped.append(ws._receive)
        await ws.accept()
        await ws.close()

    async def server(scope: Scope, receive: Receive, send: Send) -> None:
        given.append(receive)
        await app(scope, receive, send)

    async with TestClient(server).websocket_connect("/ws") as conn:
        await conn.receive()
    # No guard: the WebSocket holds the server's own receive, and the handler runs as is.
    assert wrapped == given
    guarded = App(idle_timeout=1.0)
    guarded.add_route("/ws", probe)
    async with TestClient(guarded).websocket_connect("/ws") as conn:
        await conn.receive()
    assert isinstance(wrapped[-1], Guard)


def test_guard_configuration() -> None:
    for bad in (0, -1, float("inf"), float("nan"), True, "1"):
        with pytest.raises(ValueError, match="idle_timeout"):
            App(idle_timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_lifespan"):
            App(max_lifespan=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rate_limit"):
        App(rate_limit=10)  # type: ignore[arg-type]
    base = Handshake(idle_timeout=5, rate_limit=RateLimit(10))
    assert base.guarded
    assert not base.enabled
    off = base.override(RouteOptions(idle_timeout=None, rate_limit=None))
    assert not off.guarded
    assert base.override(RouteOptions(max_lifespan=2)).max_lifespan == 2.0
    assert base.override(RouteOptions(max_lifespan=2)).idle_timeout == 5.0
    assert not Handshake().guarded


# -- rate limit -------------------------------------------------------------------------------


@KINDS
async def test_rate_limit_close_policy(records: Records, kind: str) -> None:
    app, seen = echo_app(kind, rate_limit=RateLimit(1, burst_messages=3))
    before = count_tasks()
    async with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        for n in range(5):
            await conn.send_text(f"m{n}")
        assert [await conn.receive_text() for _ in range(3)] == ["m0", "m1", "m2"]
        assert await closed_with(conn) == (1008, "rate limit exceeded")
    assert seen == [(1008, "rate limit exceeded")]
    assert await settled_tasks(before) == before
    assert records.errors == []


@KINDS
async def test_rate_limit_reply_policy_drops_the_message_and_keeps_the_connection(
    kind: str,
) -> None:
    app, seen = echo_app(kind, rate_limit=RateLimit(2, burst_messages=2, on_exceed="reply"))
    async with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        for n in range(4):
            await conn.send_text(f"m{n}")
        assert await conn.receive_text() == "m0"
        assert await conn.receive_text() == "m1"
        for _ in range(2):  # m2 and m3 were dropped: the handler never saw them
            error = await conn.receive_json()
            assert error["type"] == "error"
            assert error["payload"]["code"] == "rate_limited"
            assert error["payload"]["message"].startswith("rate limit exceeded: at most 2 ")
        await anyio.sleep(0.55)  # one token back
        await conn.send_text("later")
        assert await conn.receive_text() == "later"
    assert seen == [(1000, "")]


async def test_byte_rate_counts_utf8_bytes_and_lets_one_large_message_through() -> None:
    limit = RateLimit(bytes_per_second=1, burst_bytes=100)
    app, seen = echo_app(rate_limit=limit)
    async with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        await conn.send_text("é" * 30)  # 60 bytes
        assert await conn.receive_text() == "é" * 30
        await conn.send_text("x" * 50)  # 40 bytes left: refused
        assert await closed_with(conn) == (1008, "rate limit exceeded")
    async with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        await conn.send_text("x" * 500)  # over the burst, but the bucket is full: passes
        assert await conn.receive_text() == "x" * 500
        await conn.send_text("y")  # ... and leaves a debt
        assert await closed_with(conn) == (1008, "rate limit exceeded")


async def test_rate_limited_operation_router_replies_in_its_own_envelope() -> None:
    ops = OperationRouter(type_field="op", payload_field="data")

    @ops.on("echo", reply="echo.reply")
    async def echo(data: str) -> str:
        return data

    app = App(rate_limit=RateLimit(1, burst_messages=1, on_exceed="reply"))
    app.add_route("/ops", ops)
    async with TestClient(app) as client, client.websocket_connect("/ops") as conn:
        await conn.send_json({"op": "echo", "data": "a", "id": 1})
        await conn.send_json({"op": "echo", "data": "b", "id": 2})
        assert await conn.receive_json() == {"op": "echo.reply", "data": "a", "id": 1}
        error = await conn.receive_json()
        assert error["op"] == "error"
        assert error["data"]["code"] == "rate_limited"


async def test_rate_limit_per_route() -> None:
    app = App(rate_limit=RateLimit(1, burst_messages=1))
    got: list[str] = []

    async def collect(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            got.append(text)

    app.add_route("/strict", collect)
    app.add_route("/loose", collect, rate_limit=RateLimit(1000, burst_messages=100))
    async with TestClient(app) as client, client.websocket_connect("/loose") as conn:
        for n in range(50):
            await conn.send_text(str(n))
    assert got == [str(n) for n in range(50)]


def test_token_bucket_arithmetic() -> None:
    limit = RateLimit(2, 10, burst_messages=2, burst_bytes=10)
    bucket = TokenBucket(limit, now=0.0)
    assert bucket.take(4, 0.0)
    assert bucket.take(4, 0.0)
    assert not bucket.take(1, 0.0)  # no message token left
    assert not bucket.take(1, 0.25)  # half a token
    assert bucket.take(1, 0.5)  # one message token, 2 + 5 bytes
    assert bucket.tokens == (0.0, 6.0)
    assert bucket.take(7, 10.0)  # refilled to the bursts, no further
    assert bucket.tokens == (1.0, 3.0)
    limit = RateLimit(bytes_per_second=10, burst_bytes=10)
    bucket = limit.bucket(0.0)
    assert bucket.take(25, 0.0)  # full: a large message passes into debt
    assert bucket.tokens[1] == -15
    assert not bucket.take(1, 1.0)  # still -5
    assert bucket.take(1, 2.0)
    assert bucket.take(0, 1.0)  # a clock going back refills nothing
    assert bucket.tokens[1] == 4.0
    assert message_size({"text": "aé"}) == 3
    assert message_size({"bytes": b"abc"}) == 3
    assert message_size({"text": None, "bytes": None}) == 0


def test_rate_limit_configuration() -> None:
    with pytest.raises(ValueError, match="needs"):
        RateLimit()
    for bad in (0, -1, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="messages_per_second"):
            RateLimit(bad)
    with pytest.raises(ValueError, match="on_exceed"):
        RateLimit(1, on_exceed="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        RateLimit(1, burst_messages=0.5)
    with pytest.raises(ValueError, match="needs messages_per_second"):
        RateLimit(bytes_per_second=1, burst_messages=2)
    with pytest.raises(ValueError, match="needs bytes_per_second"):
        RateLimit(1, burst_bytes=2)
    limit = RateLimit(0.5)
    assert limit.burst_messages == 1.0
    assert limit.describe() == "0.5 messages/s"
    assert "on_exceed='close'" in repr(limit)
