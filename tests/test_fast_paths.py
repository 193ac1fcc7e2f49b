"""The router's direct port behaves exactly like the public ``WebSocket`` methods it inlines.

The connection loop awaits the server's ``receive``/``send`` itself when the connection's fast
path is open (see :mod:`wskit.operations.session`). A ``WebSocket`` subclass overriding
``receive_text``, ``receive_bytes`` and ``send_frame`` turns the direct port off, so running a
scenario with both classes compares the direct port with the public path, outcome for outcome:
what was sent, what was raised, the close code, and how many events were read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
import pytest

from wskit.codecs import JSON, MSGPACK, Codec
from wskit.connection import Limits, Port, WebSocket
from wskit.exceptions import ConcurrentReceive, RemoteProtocolError
from wskit.operations import OperationRouter
from wskit.operations.session import INLINED

Message = MutableMapping[str, Any]

SCOPE: Message = {
    "type": "websocket",
    "path": "/",
    "headers": [],
    "subprotocols": [],
    "query_string": b"",
}
CONNECT: Message = {"type": "websocket.connect"}


class PublicPath(WebSocket):
    """A WebSocket whose loop must go through the public methods (they are overridden)."""

    calls = 0

    async def receive_text(self, timeout: float | None = None) -> str:
        PublicPath.calls += 1
        return await super().receive_text(timeout)

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        PublicPath.calls += 1
        return await super().receive_bytes(timeout)

    async def send_frame(self, frame: str | bytes, timeout: float | None = None) -> None:
        PublicPath.calls += 1
        await super().send_frame(frame, timeout)


def router() -> OperationRouter:
    ops = OperationRouter()

    @ops.on("echo", reply="echoed")
    async def echo(payload: str) -> str:
        return payload

    @ops.on("close")
    async def close(ws: WebSocket) -> None:
        await ws.close(4000, "handler")

    @ops.on("close.reply", reply="closed")
    async def close_then_reply(ws: WebSocket) -> str:
        await ws.close(4001)
        return "too late"

    @ops.on("read", reply="read.done")
    async def read(ws: WebSocket) -> str:
        return await ws.receive_text()  # the handler takes the next frame itself

    return ops


def text(name: str, payload: object = None, id: object = None) -> Message:
    return {
        "type": "websocket.receive",
        "text": JSON.encode_frame({"type": name, **_rest(payload, id)}),
    }


def binary(name: str, payload: object = None, id: object = None) -> Message:
    data = MSGPACK.encode_frame({"type": name, **_rest(payload, id)})
    return {"type": "websocket.receive", "bytes": data}


def _rest(payload: object, id: object) -> dict[str, object]:
    out: dict[str, object] = {}
    if payload is not None:
        out["payload"] = payload
    if id is not None:
        out["id"] = id
    return out


DISCONNECT: Message = {"type": "websocket.disconnect", "code": 1001, "reason": "bye"}


@dataclass
class Outcome:
    sent: list[Message]
    error: type[BaseException] | None
    close_code: int | None
    closed: bool
    unread: int
    receiving: bool


async def serve(
    cls: type[WebSocket],
    events: list[Message],
    *,
    codec: Codec = JSON,
    limits: Limits | None = None,
    failing_send: bool = False,
) -> Outcome:
    """Serve ``events`` with the router on a ``cls`` connection; a drained script blocks."""
    queue = [CONNECT, *events]
    sent: list[Message] = []

    async def receive() -> Message:
        if not queue:
            await anyio.sleep_forever()
        return queue.pop(0)

    async def send(message: Message) -> None:
        if failing_send and message["type"] == "websocket.send":
            raise ConnectionResetError("the socket is gone")
        sent.append(message)

    ws = cls(dict(SCOPE), receive, send, codec=codec, limits=limits or Limits())
    error: BaseException | None = None
    with anyio.fail_after(5):  # every scenario ends the loop by itself
        try:
            await router()(ws)
        except Exception as exc:
            error = exc
    return Outcome(
        sent, type(error) if error else None, ws.close_code, ws.closed, len(queue), receiving(ws)
    )


def receiving(ws: WebSocket) -> bool:
    """Whether a task waits in the server's ``receive`` (the port's one-receiver guard)."""
    port = Port.of(ws)
    assert port is not None
    return port.receiving


async def both(events: list[Message], **options: Any) -> Outcome:
    """Run a scenario through the direct port and the public path; they must agree."""
    direct = await serve(WebSocket, list(events), **options)
    PublicPath.calls = 0
    public = await serve(PublicPath, list(events), **options)
    assert PublicPath.calls > 0  # the overrides were used: the public path really ran
    assert direct == public
    return direct


def frames(outcome: Outcome) -> list[Any]:
    out = []
    for message in outcome.sent:
        if message["type"] == "websocket.send":
            data = message.get("text")
            if data is not None:
                out.append(msgspec.json.decode(data))
            else:
                out.append(msgspec.msgpack.decode(message["bytes"]))
    return out


def closes(outcome: Outcome) -> list[tuple[int, str]]:
    return [(m["code"], m["reason"]) for m in outcome.sent if m["type"] == "websocket.close"]


def test_only_an_unmodified_websocket_has_the_direct_port() -> None:
    async def nothing(*args: Any) -> Any:
        return None

    ws = WebSocket(dict(SCOPE), nothing, nothing)
    assert Port.of(ws, *INLINED) is Port.of(ws) is not None
    assert Port.of(PublicPath(dict(SCOPE), nothing, nothing), *INLINED) is None
    assert Port.of(object(), *INLINED) is None


async def test_replies_and_the_client_leaving() -> None:
    outcome = await both([text("echo", "a", 1), text("echo", "b"), DISCONNECT, text("echo")])
    assert frames(outcome) == [
        {"type": "echoed", "payload": "a", "id": 1},
        {"type": "echoed", "payload": "b"},
    ]
    assert outcome.error is None
    assert outcome.close_code == 1001
    assert outcome.closed
    assert closes(outcome) == []  # the client left: nothing more is sent
    assert outcome.unread == 1  # and nothing more is read
    assert not outcome.receiving


async def test_msgpack_replies_in_binary_frames() -> None:
    outcome = await both([binary("echo", "a", 1), DISCONNECT], codec=MSGPACK)
    assert outcome.sent[1]["bytes"] is not None
    assert frames(outcome) == [{"type": "echoed", "payload": "a", "id": 1}]


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
async def test_a_frame_of_the_other_kind_is_unsupported(codec: Codec) -> None:
    other = text("echo", "a", 1) if codec.binary else binary("echo", "a", 1)
    ok = binary("echo", "b") if codec.binary else text("echo", "b")
    outcome = await both([other, ok, DISCONNECT], codec=codec)
    error, reply = frames(outcome)
    assert error["type"] == "error"
    assert error["payload"]["code"] == "unsupported_frame"
    assert reply == {"type": "echoed", "payload": "b"}


@pytest.mark.parametrize(
    ("frame", "limit", "served"),
    [
        # The envelope around the payload is 33 characters.
        pytest.param("é" * 20, 100, True, id="chars-over-a-quarter-bytes-under"),
        pytest.param("é" * 40, 100, False, id="chars-under-limit-bytes-over"),
        pytest.param("x" * 100, 100, False, id="ascii-over"),
    ],
)
async def test_inbound_size_limit_on_text_frames(frame: str, limit: int, served: bool) -> None:
    events = [text("echo", frame, 1), DISCONNECT]
    outcome = await both(events, limits=Limits(max_message_size=limit))
    if served:
        assert frames(outcome) == [{"type": "echoed", "payload": frame, "id": 1}]
        assert outcome.close_code == 1001
    else:
        assert frames(outcome) == []
        assert closes(outcome) == [(1009, "message too big")]
        assert outcome.close_code == 1009
        assert outcome.unread == 1
    assert outcome.error is None


@pytest.mark.parametrize(("size", "served"), [(40, True), (200, False)])
async def test_inbound_size_limit_on_binary_frames(size: int, served: bool) -> None:
    events = [binary("echo", "x" * size, 1), DISCONNECT]
    outcome = await both(events, codec=MSGPACK, limits=Limits(max_message_size=100))
    assert outcome.close_code == (1001 if served else 1009)
    assert len(frames(outcome)) == int(served)


async def test_an_oversized_frame_of_the_other_kind_is_too_big_first() -> None:
    outcome = await both(
        [binary("echo", "x" * 200), DISCONNECT], limits=Limits(max_message_size=64)
    )
    assert closes(outcome) == [(1009, "message too big")]


async def test_outbound_size_limit() -> None:
    events = [text("echo", "x" * 100, 1), text("echo", "y", 2), DISCONNECT]
    # The reply is 130 bytes, the error envelope 117.
    outcome = await both(events, limits=Limits(max_send_size=120))
    too_big, small = frames(outcome)
    assert too_big["payload"]["code"] == "internal_error"
    assert too_big["id"] == 1
    assert small == {"type": "echoed", "payload": "y", "id": 2}


async def test_a_broken_server_is_raised() -> None:
    outcome = await both([text("echo", "a"), {"type": "http.request"}])
    assert outcome.error is RemoteProtocolError
    assert outcome.closed


async def test_a_server_send_failing_with_oserror_is_a_lost_transport(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, "wskit"):
        outcome = await both([text("echo", "a", 1), text("echo", "b", 2)], failing_send=True)
    # The loop ends quietly: the client is gone, which is no handler error.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert outcome.error is None
    assert outcome.close_code == 1006
    assert outcome.closed
    assert outcome.unread == 1
    assert frames(outcome) == []


async def test_a_handler_that_closes_ends_the_loop() -> None:
    outcome = await both([text("close"), text("echo", "a")])
    assert closes(outcome) == [(4000, "handler")]
    assert outcome.close_code == 4000
    assert frames(outcome) == []


async def test_a_reply_after_the_handler_closed_is_not_sent() -> None:
    outcome = await both([text("close.reply", id=1), text("echo", "a")])
    assert closes(outcome) == [(4001, "")]
    assert frames(outcome) == []
    assert outcome.unread == 1


async def test_a_handler_may_receive_a_frame_itself() -> None:
    outcome = await both(
        [text("read", id=1), {"type": "websocket.receive", "text": "raw"}, DISCONNECT]
    )
    assert frames(outcome) == [{"type": "read.done", "payload": "raw", "id": 1}]


@pytest.mark.parametrize(
    "limits",
    [Limits(receive_timeout=5), Limits(send_timeout=5)],
    ids=["receive_timeout", "send_timeout"],
)
async def test_a_connection_with_default_deadlines_takes_the_public_path(
    monkeypatch: pytest.MonkeyPatch, limits: Limits
) -> None:
    calls: list[str] = []

    def spy(name: str) -> Callable[..., Any]:
        original = getattr(WebSocket, name)

        async def method(self: WebSocket, *args: Any) -> Any:
            calls.append(name)
            return await original(self, *args)

        return method

    # Patched on the class itself, so the connection still counts as unmodified.
    for name in ("receive_text", "send_frame"):
        monkeypatch.setattr(WebSocket, name, spy(name))
    events = [text("echo", "a", 1), text("echo", "b", 2), DISCONNECT]
    outcome = await serve(WebSocket, list(events))
    assert calls == []  # no deadlines: the direct port, no wrapper
    assert len(frames(outcome)) == 2
    outcome = await serve(WebSocket, list(events), limits=limits)
    assert calls == ["receive_text", "send_frame"] * 2 + ["receive_text"]
    assert len(frames(outcome)) == 2
    assert outcome.close_code == 1001


async def test_a_receive_timeout_closes_as_idle() -> None:
    outcome = await both([text("echo", "a", 1)], limits=Limits(receive_timeout=0.05))
    assert frames(outcome) == [{"type": "echoed", "payload": "a", "id": 1}]
    assert closes(outcome) == [(1008, "idle timeout")]


BOTH_PATHS = pytest.mark.parametrize("cls", [WebSocket, PublicPath], ids=["direct", "public"])


@BOTH_PATHS
async def test_another_task_receiving_while_the_loop_waits_is_refused(
    cls: type[WebSocket],
) -> None:
    to_app, inbox = anyio.create_memory_object_stream[Message](10)
    replied = anyio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            replied.set()

    ws = cls(dict(SCOPE), inbox.receive, send)
    with anyio.fail_after(5):
        async with to_app, inbox, anyio.create_task_group() as tg:
            tg.start_soon(router(), ws)
            await to_app.send(CONNECT)
            await to_app.send(text("echo", "a", 1))
            await replied.wait()
            await anyio.wait_all_tasks_blocked()  # the loop now waits for the next frame
            assert receiving(ws)
            with pytest.raises(ConcurrentReceive):
                await ws.receive_text()
            await to_app.send(DISCONNECT)
    assert not receiving(ws)
    assert ws.close_code == 1001


@BOTH_PATHS
async def test_the_loop_refuses_to_receive_while_another_task_does(cls: type[WebSocket]) -> None:
    ops = router()
    to_app, inbox = anyio.create_memory_object_stream[Message](10)

    async def send(message: Message) -> None:
        pass

    ws = cls(dict(SCOPE), inbox.receive, send)
    with anyio.fail_after(5):
        async with to_app, inbox, anyio.create_task_group() as tg:

            @ops.on("steal")
            async def steal(ws: WebSocket) -> None:
                tg.start_soon(ws.receive_text)
                await anyio.wait_all_tasks_blocked()  # that task now waits for a frame

            await to_app.send(CONNECT)
            await to_app.send(text("steal"))
            with pytest.raises(ConcurrentReceive):
                await ops(ws)
            tg.cancel_scope.cancel()


@BOTH_PATHS
async def test_cancelling_the_loop_while_it_waits_releases_the_receive_side(
    cls: type[WebSocket],
) -> None:
    to_app, inbox = anyio.create_memory_object_stream[Message](10)

    async def send(message: Message) -> None:
        pass

    ws = cls(dict(SCOPE), inbox.receive, send)
    async with to_app, inbox:
        await to_app.send(CONNECT)
        with anyio.move_on_after(0.05):
            await router()(ws)
    assert not receiving(ws)
    assert not ws.closed
