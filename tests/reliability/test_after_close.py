"""Calls after the end, and closes that race: typed errors at once, one close frame ever.

After the end. After the client left (``websocket.disconnect``, or the server's ``send`` raised
``OSError``), every receive and send raises a typed error at once and the ASGI callables are
never called again, even though the server's ``receive`` here would block forever. After the
application's own close, every send raises at once and calls nothing.

Closes that race. Double close, concurrent closes from several tasks while the first close frame is
still in the server's hands, a close racing a stream of sends, a close racing the drain, a
close racing the client's own close: exactly one ``websocket.close`` reaches the server, and
nothing follows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgspec
import pytest

from tests._asgi_pair import make_scope
from wskit._types import Message
from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import InvalidTransition, WebSocketDisconnect, WskitError
from wskit.testing import TestClient

from ._helpers import Recorder, Records


class Tick(msgspec.Struct):
    seq: int


class Server:
    """A scripted server: queued events, then a ``receive`` that blocks forever.

    ``send`` records each message and, while ``gate`` is set, waits for it to open, so a test
    can hold a message "in flight" in the server's hands.
    """

    def __init__(self, *events: Message) -> None:
        self.events = list(events)
        self.receive_calls = 0
        self.send_calls = 0
        self.sent: list[Message] = []
        self.gate: anyio.Event | None = None
        self.in_flight = 0
        self.fail: OSError | None = None

    async def receive(self) -> Message:
        self.receive_calls += 1
        if self.events:
            return self.events.pop(0)
        await anyio.sleep_forever()  # a real server may never answer again
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(self, message: Message) -> None:
        self.send_calls += 1
        if self.fail is not None:
            raise self.fail
        self.sent.append(dict(message))  # in the order the server is handed them
        self.in_flight += 1
        try:
            if self.gate is not None:
                await self.gate.wait()
            await anyio.lowlevel.checkpoint()
        finally:
            self.in_flight -= 1

    def websocket(self) -> WebSocket:
        return WebSocket(make_scope(), self.receive, self.send)

    @property
    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]


Call = Callable[[WebSocket], Awaitable[Any]]

RECEIVES: dict[str, Call] = {
    "receive": lambda ws: ws.receive(),
    "receive_text": lambda ws: ws.receive_text(),
    "receive_bytes": lambda ws: ws.receive_bytes(),
    "receive_json": lambda ws: ws.receive_json(),
    "receive_json_binary": lambda ws: ws.receive_json(mode="binary"),
    "receive(Tick)": lambda ws: ws.receive(Tick),
    "receive(int)": lambda ws: ws.receive(int),
    "receive(timeout=)": lambda ws: ws.receive_text(timeout=30),
    "expect": lambda ws: ws.expect("x"),
    "pair(recv_first)": lambda ws: ws.pair("x", recv_first=True),
}

SENDS: dict[str, Call] = {
    "send": lambda ws: ws.send({"type": "websocket.send", "text": "x"}),
    "send_text": lambda ws: ws.send_text("x"),
    "send_bytes": lambda ws: ws.send_bytes(b"x"),
    "send_json": lambda ws: ws.send_json({"x": 1}),
    "send_data": lambda ws: ws.send_data(Tick(1)),
    "send_frame": lambda ws: ws.send_frame("x"),
    "send_text(timeout=)": lambda ws: ws.send_text("x", timeout=30),
    "pair": lambda ws: ws.pair("x"),
    "accept": lambda ws: ws.accept(),
    "deny": lambda ws: ws.deny(403),
}

CONNECT: Message = {"type": "websocket.connect"}
DISCONNECT: Message = {"type": "websocket.disconnect", "code": 1001}


async def _immediately(call: Call, ws: WebSocket) -> BaseException:
    """Run ``call``; it must raise at once (a blocked call fails the test in 1 s)."""
    with anyio.fail_after(1):
        try:
            await call(ws)
        except (WskitError, RuntimeError) as exc:
            return exc
    raise AssertionError("the call did not raise")


# -- after the end -----------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["client-left", "transport-broke"])
@pytest.mark.parametrize("name", [*RECEIVES, *SENDS])
async def test_after_the_client_left_nothing_reaches_the_server(name: str, ending: str) -> None:
    server = Server(CONNECT, DISCONNECT) if ending == "client-left" else Server(CONNECT)
    ws = server.websocket()
    await ws.accept()
    if ending == "client-left":
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()
    else:
        server.fail = ConnectionResetError("peer reset")
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send_text("lost")
        assert info.value.code == 1006
    receives, sends = server.receive_calls, server.send_calls
    call = {**RECEIVES, **SENDS}[name]
    error = await _immediately(call, ws)
    if name not in ("accept", "deny"):
        # A WebSocketDisconnect (ConnectionClosed): ``except WebSocketDisconnect`` loops end.
        assert isinstance(error, WebSocketDisconnect), repr(error)
    else:
        assert isinstance(error, InvalidTransition), repr(error)
    assert (server.receive_calls, server.send_calls) == (receives, sends)
    await ws.close()  # idempotent, and silent
    assert (server.receive_calls, server.send_calls) == (receives, sends)


@pytest.mark.parametrize("name", list(SENDS))
async def test_after_the_apps_close_sends_raise_at_once(name: str) -> None:
    server = Server(CONNECT)
    ws = server.websocket()
    await ws.accept()
    await ws.close(4000, "bye")
    sends = server.send_calls
    error = await _immediately(SENDS[name], ws)
    assert isinstance(error, InvalidTransition), repr(error)
    assert server.send_calls == sends
    assert server.types == ["websocket.accept", "websocket.close"]


async def test_iterators_after_the_end_stop_without_a_call() -> None:
    server = Server(CONNECT, DISCONNECT)
    ws = server.websocket()
    await ws.accept()
    assert [text async for text in ws.iter_text()] == []
    calls = server.receive_calls
    with anyio.fail_after(1):
        assert [x async for x in ws.iter_bytes()] == []
        assert [x async for x in ws.iter_json()] == []
        assert [x async for x in ws.iter_data(Tick)] == []
    assert server.receive_calls == calls
    assert ws.close_code == 1001


# -- closes that race --------------------------------------------------------------------------


async def test_concurrent_closes_while_the_first_is_in_flight() -> None:
    server = Server(CONNECT)
    ws = server.websocket()
    await ws.accept()
    server.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        for code in (4000, 4001, 1000, 1001):
            tg.start_soon(ws.close, code)
        with anyio.fail_after(1):
            await anyio.wait_all_tasks_blocked()
        assert server.in_flight == 1
        # The first close is in the server's hands; the others must already have returned.
        assert server.send_calls == 2
        server.gate.set()
    assert [m["type"] for m in server.sent] == ["websocket.accept", "websocket.close"]
    # Whichever task got there first (trio does not promise an order) decided the code.
    assert ws.close_code == server.sent[1]["code"]


@pytest.mark.parametrize("at", [0, 1, 5])
async def test_close_racing_a_stream_of_sends(at: int) -> None:
    server = Server(CONNECT)
    ws = server.websocket()
    await ws.accept()
    ended: list[str] = []

    async def stream() -> None:
        try:
            for n in range(100):
                await ws.send_text(str(n))
        except WebSocketDisconnect as exc:  # ConnectionClosed: the other task closed
            ended.append(type(exc).__name__)

    async def closer() -> None:
        for _ in range(at):
            await anyio.lowlevel.checkpoint()
        await ws.close(4002)

    async with anyio.create_task_group() as tg:
        tg.start_soon(stream)
        tg.start_soon(closer)
    types = server.types
    assert types.count("websocket.close") == 1
    assert "websocket.send" not in types[types.index("websocket.close") :]
    assert ended == ["ConnectionClosed"]


async def test_close_racing_the_drain_and_the_client(records: Records) -> None:
    app = App(drain_timeout=1.0)
    started = anyio.Event()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        started.set()
        try:
            await ws.receive_text()
        finally:
            with anyio.CancelScope(shield=True):
                await ws.close(4003)  # the handler's own close, racing the drain's 1001

    recorder = Recorder(app)
    async with TestClient(recorder) as client, client.websocket_connect("/ws") as conn:
        await started.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(app.shutdown)
            tg.start_soon(conn.close, 1000)
    closes = [m for m in recorder.sent if m["type"] == "websocket.close"]
    assert len(closes) <= 1  # zero when the client's close came first: nothing more is sent
    assert recorder.types[:1] == ["websocket.accept"]
    assert records.errors == []


async def test_double_close_through_the_app() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        async with ws:
            await ws.close(4004, "first")
            await ws.close(4005, "second")
        await ws.close()

    recorder = Recorder(app)
    async with TestClient(recorder).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
        assert (conn.close_code, conn.close_reason) == (4004, "first")
    assert recorder.types == ["websocket.accept", "websocket.close"]
