"""Every inlined copy of the connection's fast path behaves as the checked path it stands for.

wskit inlines the fast paths of ``WebSocket``'s data methods in three places, all through the
connection's port (:class:`wskit.connection.Port`): the methods themselves, the operation loop
(:mod:`wskit.operations.session`) and the hub's direct sends (:mod:`wskit.pubsub`). Each copy is
a *path* here, and every scenario runs twice through it: through the copy, and through the
checked path it stands for. The checked path of a method is the same method given a deadline
(any deadline skips every fast path; ``LONG`` is an hour, which no run reaches). The checked path
of the operation loop and of the hub is :class:`Checked`, a ``WebSocket`` subclass that
overrides the methods they inline, so that they find no port and call the overrides, which pass
that deadline.

The two runs must have the same :class:`Outcome`: what the server was sent, what was returned
or raised, the close code and reason, both sides' states, what was left unread, the
one-receiver flag, and for the hub its counters and who is still subscribed.

The scenarios are tables, one per direction, and each path runs every scenario of its
direction: frames of each kind at and over each threshold (in characters and in bytes), the
bytes-likes a frame may be and things that are no frame at all, a server that takes them or
raises ``OSError``, a connection closed by the application, left by the client or with a default
deadline; and inbound, text and binary frames at and over each threshold, frames of the other
kind, empty ones, a disconnect and a server that breaks the ASGI sequence. A few scenarios only
the operation loop can express (a handler that closes, or reads a frame itself) have a table of
their own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
import pytest

from tests._asgi_pair import ASGIPair, Message, accepted
from tests.pubsub._wait import eventually
from wskit.codecs import JSON, MSGPACK, Codec
from wskit.connection import Limits, Port, WebSocket
from wskit.exceptions import ConcurrentReceive
from wskit.operations import OperationRouter
from wskit.operations.session import INLINED
from wskit.pubsub import Hub

#: A deadline no run reaches: given to a method, it makes it skip its fast path.
LONG = 3600.0


def receive_deadline(ws: WebSocket) -> float:
    """The deadline of a checked receive: the connection's default, else ``LONG``."""
    return ws.limits.receive_timeout or LONG


def send_deadline(ws: WebSocket) -> float:
    """The deadline of a checked send: the connection's default, else ``LONG``."""
    return ws.limits.send_timeout or LONG


#: The size limit of the scenarios (a text of at most 25 characters is within it for sure).
LIMIT = 100


class Checked(WebSocket):
    """The checked path of the layers that inline: they find no port for this class (it
    overrides what they inline) and call its methods, which skip their own fast paths."""

    calls = 0

    async def receive_text(self, timeout: float | None = None) -> str:
        Checked.calls += 1
        return await super().receive_text(timeout or receive_deadline(self))

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        Checked.calls += 1
        return await super().receive_bytes(timeout or receive_deadline(self))

    async def send_frame(self, frame: str | bytes, timeout: float | None = None) -> None:
        Checked.calls += 1
        await super().send_frame(frame, timeout or send_deadline(self))


@dataclass
class Outcome:
    """Everything a client, a server or a caller could see of one run.

    The messages the server was sent are compared with the type of every value, since a
    ``bytearray`` equals the ``bytes`` it holds but is not what a server expects.
    """

    sent: list[list[tuple[str, type, object]]]
    result: object
    error: type[BaseException] | None
    close: tuple[int | None, str | None]
    states: tuple[bool, str, str]
    unread: int
    receiving: bool
    hub: tuple[int, ...] = ()


def receiving(ws: WebSocket) -> bool:
    """Whether a task waits in the server's ``receive`` (the port's one-receiver guard)."""
    port = Port.of(ws)
    assert port is not None
    return port.receiving


async def observe(
    pair: ASGIPair, ws: WebSocket, run: Callable[[], Awaitable[object]], hub: tuple[int, ...] = ()
) -> Outcome:
    result: object = None
    error: BaseException | None = None
    with anyio.fail_after(5):  # every scenario ends by itself
        try:
            result = await run()
        except Exception as exc:
            error = exc
    return Outcome(
        [[(key, type(value), value) for key, value in message.items()] for message in pair.sent],
        result,
        type(error) if error is not None else None,
        (ws.close_code, ws.close_reason),
        pair.snapshot(ws),
        len(pair.inbound),
        receiving(ws),
        hub,
    )


def agree(fast: Outcome, checked: Outcome) -> None:
    assert fast == checked


def sends(outcome: Outcome) -> list[list[tuple[str, object]]]:
    """The ``websocket.send`` messages of a run, as ``(key, value)`` lists."""
    return [
        [(key, value) for key, _, value in message]
        for message in outcome.sent
        if ("type", str, "websocket.send") in message
    ]


def closes(outcome: Outcome) -> list[tuple[object, object]]:
    """The code and reason of every ``websocket.close`` the server was sent."""
    out = []
    for message in outcome.sent:
        fields = {key: value for key, _, value in message}
        if fields["type"] == "websocket.close":
            out.append((fields.get("code"), fields.get("reason")))
    return out


# -- outbound --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Out:
    """A send: what the application sends, and the connection and server it goes to."""

    value: object
    limit: int | None = LIMIT
    server: str = "ok"  # or "oserror": the server's send raises ConnectionResetError
    state: str = "open"  # "closed" by the application, "left" (the client), "deadline"

    def limits(self) -> Limits:
        timeout = 5.0 if self.state == "deadline" else None
        return Limits(max_message_size=None, max_send_size=self.limit, send_timeout=timeout)


OUTBOUND = {
    "text": Out("hello"),
    "text at the characters threshold": Out("é" * (LIMIT // 4)),
    "text over it, within the bytes": Out("é" * (LIMIT // 2)),
    "text over the limit": Out("é" * (LIMIT // 2 + 1)),
    "ascii at the limit": Out("x" * LIMIT),
    "ascii over the limit": Out("x" * (LIMIT + 1)),
    "empty text": Out(""),
    "bytes": Out(b"\x00\xff"),
    "bytes at the limit": Out(b"x" * LIMIT),
    "bytes over the limit": Out(b"x" * (LIMIT + 1)),
    "no limit": Out("é" * 1000, limit=None),
    "bytearray": Out(bytearray(b"ab")),
    "memoryview": Out(memoryview(b"ab")),
    "a str subclass": Out(type("Name", (str,), {})("ada")),
    "a list": Out(["not", "a", "frame"]),
    "an int": Out(5),
    "None": Out(None),
    "transport lost": Out("hello", server="oserror"),
    "closed by the application": Out("hello", state="closed"),
    "left by the client": Out("hello", state="left"),
    "a default deadline": Out("hello", state="deadline"),
}


async def prepare(pair: ASGIPair, ws: WebSocket, out: Out) -> None:
    """Bring an accepted connection into the scenario's state."""
    if out.state == "closed":
        await ws.close(4000, "app")
    elif out.state == "left":
        pair.disconnect(1001, "bye")
        assert (await ws.receive())["type"] == "websocket.disconnect"
    if out.server == "oserror":
        pair.fail_send = ConnectionResetError("the socket is gone")


@pytest.mark.parametrize("method", ["send_frame", "send_text", "send_bytes", "send_data"])
@pytest.mark.parametrize("out", OUTBOUND.values(), ids=OUTBOUND.keys())
async def test_the_methods_send_as_their_checked_path(method: str, out: Out) -> None:
    async def run(checked: bool) -> Outcome:
        pair, ws = await accepted(limits=out.limits())
        await prepare(pair, ws, out)
        send = getattr(ws, method)
        deadline = send_deadline(ws)
        return await observe(
            pair, ws, lambda: send(out.value, deadline) if checked else send(out.value)
        )

    agree(await run(False), await run(True))


async def test_send_frame_refuses_what_is_no_frame_and_converts_bytes_likes() -> None:
    # Finding 2 of issue 14: the fast path handed any value to the server as "bytes".
    pair, ws = await accepted()
    for value in (["not", "a", "frame"], 5, None):
        with pytest.raises(TypeError):
            await ws.send_frame(value)  # type: ignore[arg-type]
    await ws.send_frame(bytearray(b"ab"))  # type: ignore[arg-type]
    await ws.send_frame(memoryview(b"cd"))  # type: ignore[arg-type]
    assert pair.data == [b"ab", b"cd"]
    assert all(type(frame) is bytes for frame in pair.data)


async def serve_hub(out: Out, cls: type[WebSocket], setup: str) -> Outcome:
    """Publish the scenario's value to a ``cls`` subscriber, after ``setup``."""
    async with Hub(send_timeout=None) as hub:
        gate = anyio.Event()
        failing = out.server == "oserror"
        firsts = 1 if setup == "writer" else 0
        pair = ASGIPair()

        async def server_send(message: Message) -> None:
            # Holds the subscriber's first frame in "writer" (it becomes busy: the scenario's
            # frame is queued behind it), and fails the scenario's frame when asked to.
            if message["type"] == "websocket.send":
                if len(pair.data) < firsts:
                    await gate.wait()
                elif failing:
                    raise ConnectionResetError("the socket is gone")
            await pair.send(message)

        pair, ws = await accepted(pair, limits=out.limits(), cls=cls, send=server_send)
        if setup == "after a hand-off":
            # Subscribed first, its send blocks: the rest of the fan-out goes to a new leader,
            # which checks the remaining direct sends one by one.
            blocker_pair, blocker = await accepted()
            blocker_pair.gate = gate
            await hub.subscribe(blocker, "t")
        await hub.subscribe(ws, "t")
        if setup == "writer":
            await hub.publish("t", "first")
            await hub.flush()
        out = Out(out.value, out.limit, "ok", out.state)  # the failure is server_send's
        await prepare(pair, ws, out)

        async def publish() -> None:
            await hub.publish("t", out.value)
            await hub.flush()
            gate.set()
            await eventually(lambda: hub.statistics().writers == 0)

        outcome = await observe(pair, ws, publish)
        stats = hub.statistics()
        subscribed = int(ws in hub.subscribers("t"))
        outcome.hub = (stats.delivered, stats.dropped, stats.failed, stats.evicted, subscribed)
        return outcome


@pytest.mark.parametrize("setup", ["hot loop", "after a hand-off", "writer"])
@pytest.mark.parametrize("out", OUTBOUND.values(), ids=OUTBOUND.keys())
async def test_the_hubs_direct_sends_as_send_frame(setup: str, out: Out) -> None:
    Checked.calls = 0
    fast = await serve_hub(out, WebSocket, setup)
    checked = await serve_hub(out, Checked, setup)
    if sends(checked):
        assert Checked.calls > 0  # the checked run did go through send_frame
    agree(fast, checked)


# -- the operation loop --------------------------------------------------------------------


CONNECT: Message = {"type": "websocket.connect"}
DISCONNECT: Message = {"type": "websocket.disconnect", "code": 1001, "reason": "bye"}


def router(reply: Callable[[WebSocket], Awaitable[object]] | None = None) -> OperationRouter:
    ops = OperationRouter()

    @ops.on("echo", reply="echoed")
    async def echo(payload: Any, ws: WebSocket) -> Any:
        return payload if reply is None else await reply(ws)

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


def envelope(
    name: str, payload: object = None, id: object = None, *, codec: Codec = JSON
) -> Message:
    body: dict[str, object] = {"type": name}
    if payload is not None:
        body["payload"] = payload
    if id is not None:
        body["id"] = id
    frame = codec.encode_frame(body)
    key = "bytes" if codec.binary else "text"
    return {"type": "websocket.receive", key: frame}


async def serve_router(
    events: list[Message],
    cls: type[WebSocket],
    *,
    codec: Codec = JSON,
    limits: Limits | None = None,
    reply: Callable[[WebSocket], Awaitable[object]] | None = None,
) -> Outcome:
    """Serve ``events`` with the router on a ``cls`` connection (a drained script waits)."""
    pair = ASGIPair()
    pair.push(*events)
    ws = pair.websocket(codec=codec, limits=limits or Limits(), cls=cls)
    return await observe(pair, ws, lambda: router(reply)(ws))


async def both_loops(events: list[Message], **options: Any) -> Outcome:
    """Run a scenario through the loop's inlined path and its checked path; they must agree."""
    fast = await serve_router(events, WebSocket, **options)
    Checked.calls = 0
    checked = await serve_router(events, Checked, **options)
    assert Checked.calls > 0  # the overrides were used: the checked path really ran
    agree(fast, checked)
    return fast


#: The scenarios a reply can meet: a client that left ends the loop before any handler runs.
REPLIES = {name: out for name, out in OUTBOUND.items() if out.state != "left"}


@pytest.mark.parametrize("out", REPLIES.values(), ids=REPLIES.keys())
async def test_the_operation_loop_replies_as_send_frame(out: Out) -> None:
    pairs: list[ASGIPair] = []

    async def reply(ws: WebSocket) -> object:  # the scenario's value, in the scenario's state
        if out.state == "closed":
            await ws.close(4000, "app")
        if out.server == "oserror":
            pairs[-1].fail_send = ConnectionResetError("the socket is gone")
        value = out.value
        return bytes(value) if isinstance(value, bytearray | memoryview) else value

    async def run(cls: type[WebSocket]) -> Outcome:
        pair = ASGIPair()
        pairs.append(pair)
        pair.push(envelope("echo", id=1), DISCONNECT)
        ws = pair.websocket(limits=out.limits(), cls=cls)
        return await observe(pair, ws, lambda: router(reply)(ws))

    agree(await run(WebSocket), await run(Checked))


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
@pytest.mark.parametrize("char", ["x", "é"])
@pytest.mark.parametrize("size", [-1, 0, 1])
async def test_the_operation_loop_at_the_outbound_limit(codec: Codec, char: str, size: int) -> None:
    payload = char * 40
    reply = codec.encode({"type": "echoed", "payload": payload, "id": 1})
    outcome = await both_loops(
        [envelope("echo", payload, 1, codec=codec), DISCONNECT],
        codec=codec,
        limits=Limits(max_send_size=len(reply) + size),
    )
    replies = [dict(message)["bytes" if codec.binary else "text"] for message in sends(outcome)]
    assert (size >= 0) == (replies[:1] == [reply if codec.binary else reply.decode()])


# -- inbound ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class In:
    """A receive: the message the server hands over, and the connection's inbound limit."""

    message: Message
    limit: int | None = LIMIT
    tags: frozenset[str] = field(default_factory=frozenset)

    def limits(self) -> Limits:
        return Limits(max_message_size=self.limit)


def text(value: str, **options: Any) -> In:
    return In({"type": "websocket.receive", "text": value}, **options)


def binary(value: bytes, **options: Any) -> In:
    return In({"type": "websocket.receive", "bytes": value}, **options)


INBOUND = {
    "text": text("hello"),
    "a JSON text": text('{"a": [1, 2]}'),
    "a number": text("42"),
    "text at the characters threshold": text("é" * (LIMIT // 4)),
    "text over it, within the bytes": text("é" * (LIMIT // 2)),
    "text over the limit": text("é" * (LIMIT // 2 + 1)),
    "ascii over the limit": text("x" * (LIMIT + 1)),
    "empty text": text(""),
    "no limit": text("é" * 1000, limit=None),
    "bytes": binary(b"\x00\xff"),
    "bytes at the limit": binary(b"x" * LIMIT),
    "bytes over the limit": binary(b"x" * (LIMIT + 1)),
    "empty bytes": binary(b""),
    "a frame with neither": In({"type": "websocket.receive"}),
    "a disconnect": In(DISCONNECT),
    "a broken server": In({"type": "http.request"}),
}


class Chat(msgspec.Struct):
    text: str


RECEIVES: dict[str, Callable[[WebSocket, float | None], Awaitable[object]]] = {
    "receive_text": lambda ws, timeout: ws.receive_text(timeout),
    "receive_bytes": lambda ws, timeout: ws.receive_bytes(timeout),
    "receive(str)": lambda ws, timeout: ws.receive(str, timeout),
    "receive(bytes)": lambda ws, timeout: ws.receive(bytes, timeout),
    "receive(int)": lambda ws, timeout: ws.receive(int, timeout),
    "receive(dict)": lambda ws, timeout: ws.receive(dict, timeout),
    "receive(Struct)": lambda ws, timeout: ws.receive(Chat, timeout),
}


@pytest.mark.parametrize("method", RECEIVES.keys())
@pytest.mark.parametrize("scenario", INBOUND.values(), ids=INBOUND.keys())
async def test_the_methods_receive_as_their_checked_path(method: str, scenario: In) -> None:
    async def run(checked: bool) -> Outcome:
        pair, ws = await accepted(limits=scenario.limits())
        pair.push(scenario.message, DISCONNECT)
        receive = RECEIVES[method]
        deadline = receive_deadline(ws) if checked else None
        return await observe(pair, ws, lambda: receive(ws, deadline))

    agree(await run(False), await run(True))


def wrapped(scenario: In) -> Message:
    """The scenario's frame as the payload of an ``echo`` envelope of the frame's kind."""
    message = scenario.message
    if message.get("type") != "websocket.receive":
        return message
    data = message.get("text", message.get("bytes"))
    if data is None:
        return message
    return envelope("echo", data, 1, codec=MSGPACK if isinstance(data, bytes) else JSON)


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
@pytest.mark.parametrize("scenario", INBOUND.values(), ids=INBOUND.keys())
async def test_the_operation_loop_receives_as_receive_text_and_bytes(
    codec: Codec, scenario: In
) -> None:
    events = [wrapped(scenario), envelope("echo", "next", 2, codec=codec), DISCONNECT]
    await both_loops(events, codec=codec, limits=scenario.limits())


OPERATIONS = {
    "replies, then the client leaves": [
        envelope("echo", "a", 1),
        envelope("echo", "b"),
        DISCONNECT,
    ],
    "a handler that closes": [envelope("close"), envelope("echo", "a")],
    "a reply after the handler closed": [envelope("close.reply", id=1), envelope("echo", "a")],
    "a handler that reads a frame itself": [
        envelope("read", id=1),
        {"type": "websocket.receive", "text": "raw"},
        DISCONNECT,
    ],
}


@pytest.mark.parametrize("events", OPERATIONS.values(), ids=OPERATIONS.keys())
async def test_the_operation_loop_handlers(events: list[Message]) -> None:
    await both_loops(events)


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
@pytest.mark.parametrize("char", ["x", "é"])
@pytest.mark.parametrize("size", [-1, 0, 1])
async def test_the_operation_loop_at_the_inbound_limit(codec: Codec, char: str, size: int) -> None:
    payload = char * 40
    frame = wrapped(In({"type": "websocket.receive", "text": payload}))
    if codec.binary:
        frame = envelope("echo", payload, 1, codec=MSGPACK)
    data = frame.get("text", frame.get("bytes"))
    assert data is not None
    length = len(data.encode() if isinstance(data, str) else data)
    outcome = await both_loops(
        [frame, DISCONNECT], codec=codec, limits=Limits(max_message_size=length - size)
    )
    assert outcome.close[0] == (1009 if size > 0 else 1001)


async def test_a_receive_timeout_closes_the_loop_as_idle() -> None:
    outcome = await both_loops([envelope("echo", "a", 1)], limits=Limits(receive_timeout=0.05))
    assert closes(outcome) == [(1008, "idle timeout")]


# -- the port itself -------------------------------------------------------------------------


def test_only_an_unmodified_websocket_lends_its_port() -> None:
    async def nothing(*args: Any) -> Any:
        return None

    ws = WebSocket(ASGIPair().scope, nothing, nothing)
    assert Port.of(ws, *INLINED) is Port.of(ws) is not None
    assert Port.of(Checked(ASGIPair().scope, nothing, nothing), *INLINED) is None
    assert Port.of(object(), *INLINED) is None


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
    events = [envelope("echo", "a", 1), envelope("echo", "b", 2), DISCONNECT]
    outcome = await serve_router(events, WebSocket)
    assert calls == []  # no deadlines: the inlined path, no wrapper
    assert outcome.close == (1001, "bye")
    outcome = await serve_router(events, WebSocket, limits=limits)
    assert calls == ["receive_text", "send_frame"] * 2 + ["receive_text"]
    assert outcome.close == (1001, "bye")


BOTH_PATHS = pytest.mark.parametrize("cls", [WebSocket, Checked], ids=["inlined", "checked"])


@BOTH_PATHS
async def test_another_task_receiving_while_the_loop_waits_is_refused(
    cls: type[WebSocket],
) -> None:
    to_app, inbox = anyio.create_memory_object_stream[Message](10)
    replied = anyio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            replied.set()

    ws = cls(ASGIPair().scope, inbox.receive, send)
    with anyio.fail_after(5):
        async with to_app, inbox, anyio.create_task_group() as tg:
            tg.start_soon(router(), ws)
            await to_app.send(CONNECT)
            await to_app.send(envelope("echo", "a", 1))
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

    ws = cls(ASGIPair().scope, inbox.receive, send)
    with anyio.fail_after(5):
        async with to_app, inbox, anyio.create_task_group() as tg:

            @ops.on("steal")
            async def steal(ws: WebSocket) -> None:
                tg.start_soon(ws.receive_text)
                await anyio.wait_all_tasks_blocked()  # that task now waits for a frame

            await to_app.send(CONNECT)
            await to_app.send(envelope("steal"))
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

    ws = cls(ASGIPair().scope, inbox.receive, send)
    async with to_app, inbox:
        await to_app.send(CONNECT)
        with anyio.move_on_after(0.05):
            await router()(ws)
    assert not receiving(ws)
    assert not ws.closed


async def test_a_lost_transport_ends_the_loop_quietly(caplog: pytest.LogCaptureFixture) -> None:
    async def reply(ws: WebSocket) -> object:
        pairs[-1].fail_send = ConnectionResetError("the socket is gone")
        return "a"

    pairs: list[ASGIPair] = []

    async def run(cls: type[WebSocket]) -> Outcome:
        pair = ASGIPair()
        pairs.append(pair)
        pair.push(envelope("echo", "a", 1), envelope("echo", "b", 2))
        ws = pair.websocket(cls=cls)
        return await observe(pair, ws, lambda: router(reply)(ws))

    with caplog.at_level(logging.DEBUG, "wskit"):
        fast, checked = await run(WebSocket), await run(Checked)
    agree(fast, checked)
    # The loop ends quietly: the client is gone, which is no handler error.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert fast.error is None
    assert fast.close[0] == 1006
    assert fast.unread == 1
