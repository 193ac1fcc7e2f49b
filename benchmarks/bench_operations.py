"""What does typed operation dispatch cost per message: decode, route, handler, typed reply?

Every contender serves one connection of ``N`` request envelopes (100 000; 2 000 with
``--quick``) and answers each with a typed reply carrying the request's correlation id::

    {"type":"chat.send","payload":{"id":1000042,"room":"general",...},"id":7}
    -> {"type":"chat.sent","payload":{"id":1000042,"room":"general"},"id":7}

The ASGI driver is the one of ``bench_connection.py``: ``receive`` hands out pre-built message
dicts and ``send`` counts, never suspending, so the numbers are the pure per-message cost of
each layer (the harshest setting for a framework: with a real server, socket I/O adds tens of
microseconds to every contender alike). Payloads are the seeded chat messages of ``_data.py``.

Two groups, in one interleaved run:

* **one operation** (every message is ``chat.send``): the floor is raw ASGI with one cached
  msgspec ``Decoder`` of the envelope Struct and one ``Encoder`` (the baseline); then wskit's
  ``OperationRouter`` with five operations registered; the same union decode dispatched by hand
  over ``wskit.WebSocket``'s public ``receive_text``/``send_frame`` (a coroutine frame each
  per message, which the router's loop skips: see "the inlined fast path" in
  ``wskit.operations.session``); and the FastWS style: Starlette ``receive_json`` (stdlib
  ``json``) to a dict, a pydantic envelope model, a dict lookup, a pydantic payload model,
  ``send_json(model_dump())``.
* **five operations** (the messages cycle through all five): the floor is raw ASGI with one
  msgspec decoder of the five-way tagged union and a dict from class to handler; then the router
  and the FastWS style again.

A third group replays the first one's contenders as request/response: a client task sends a
request and waits for the reply before sending the next, through anyio memory streams (``N/5``
messages), as a browser talking to a server would. Every message then crosses two task
switches; this is the closest an in-process benchmark gets to a real server, and it shows how
little of a real round trip the dispatch is.

"vs. baseline" is the throughput ratio (``0.80x``: 80 % of the floor's messages per second).
The target of issue 4, printed below the tables: the router >= 0.80x its raw floor in the first
two groups (the zero-cost driver). On a loaded machine, prefer ``--clock cpu``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Union

import anyio
import msgspec
import pydantic
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from benchmarks._data import Chat, ChatModel, chat_dicts
from benchmarks._driver import App, Message, Receive, Send, connection_case, make_scope
from benchmarks._harness import Case, Options, Result, baseline_of, groups, run, run_async
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.operations import OperationRouter

TARGET_LABEL = "wskit OperationRouter"
TARGET_5_LABEL = "wskit OperationRouter (5 ops)"
PINGPONG = "one operation, request/response over memory streams"
TARGET = 0.80
_DISTINCT = 1000

# -- the five operations, as msgspec types ------------------------------------------------------


class Ack(msgspec.Struct):
    id: int
    room: str


class Edit(msgspec.Struct):
    id: int
    text: str


class Delete(msgspec.Struct):
    id: int
    room: str


class Presence(msgspec.Struct):
    user: str
    online: bool


class Ping(msgspec.Struct):
    nonce: int


def make_router() -> OperationRouter:
    """The router under test: five operations, each with a typed reply."""
    ops = OperationRouter()

    @ops.on("chat.send", reply="chat.sent")
    async def send(payload: Chat) -> Ack:
        return Ack(payload.id, payload.room)

    @ops.on("chat.edit", reply="chat.edited")
    async def edit(payload: Edit) -> Ack:
        return Ack(payload.id, "edited")

    @ops.on("chat.delete", reply="chat.deleted")
    async def delete(payload: Delete) -> Ack:
        return Ack(payload.id, payload.room)

    @ops.on("presence.set", reply="presence.changed")
    async def presence(payload: Presence) -> Presence:
        return payload

    @ops.on("ping", reply="pong")
    async def ping(payload: Ping) -> Ping:
        return payload

    return ops


# -- the inbound messages -----------------------------------------------------------------------


def envelopes(mixed: bool) -> list[str]:
    """``_DISTINCT`` request envelopes as JSON text: all ``chat.send``, or cycling the five."""
    encode = msgspec.json.Encoder().encode
    out = []
    for i, chat in enumerate(chat_dicts(_DISTINCT)):
        kind = i % 5 if mixed else 0
        if kind == 0:
            envelope: dict[str, Any] = {"type": "chat.send", "payload": chat}
        elif kind == 1:
            envelope = {"type": "chat.edit", "payload": {"id": chat["id"], "text": chat["text"]}}
        elif kind == 2:
            envelope = {"type": "chat.delete", "payload": {"id": chat["id"], "room": chat["room"]}}
        elif kind == 3:
            envelope = {"type": "presence.set", "payload": {"user": chat["user"], "online": True}}
        else:
            envelope = {"type": "ping", "payload": {"nonce": chat["id"]}}
        envelope["id"] = i
        out.append(encode(envelope).decode())
    return out


def inbound(n: int, mixed: bool) -> list[Message]:
    """``websocket.connect``, ``n`` text messages (shared dicts), ``websocket.disconnect``."""
    frames = [{"type": "websocket.receive", "text": text} for text in envelopes(mixed)]
    body = [frames[i % _DISTINCT] for i in range(n)]
    return [
        {"type": "websocket.connect"},
        *body,
        {"type": "websocket.disconnect", "code": 1000, "reason": ""},
    ]


# -- floor 1: raw ASGI, one Struct --------------------------------------------------------------

_ID = Union[int, str, None]  # noqa: UP007 - a runtime type for defstruct


class SendRequest(msgspec.Struct):
    type: str
    payload: Chat
    id: int | str | None = None


class SentReply(msgspec.Struct, tag_field="type", tag="chat.sent", omit_defaults=True):
    payload: Ack
    id: int | str | None = None


_decode_send = msgspec.json.Decoder(SendRequest).decode
_encode = msgspec.json.Encoder().encode


async def raw_one_struct(scope: Message, receive: Receive, send: Send) -> None:
    """Raw ASGI: one cached Struct decoder and encoder, the reply built inline."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        request = _decode_send(message["text"])
        if request.type != "chat.send":
            raise ValueError(request.type)
        chat = request.payload
        reply = SentReply(Ack(chat.id, chat.room), request.id)
        await send({"type": "websocket.send", "text": _encode(reply).decode()})


# -- floor 2: raw ASGI, a five-way tagged union dispatched by hand ------------------------------


def _tagged(name: str, payload: object) -> Any:
    return msgspec.defstruct(
        name, [("payload", payload), ("id", _ID, None)], tag_field="type", tag=name
    )


def _reply(name: str, payload: object) -> Any:
    return msgspec.defstruct(
        name,
        [("payload", payload), ("id", _ID, None)],
        tag_field="type",
        tag=name,
        omit_defaults=True,
    )


_REQUESTS = {
    "chat.send": (_tagged("chat.send", Chat), _reply("chat.sent", Ack)),
    "chat.edit": (_tagged("chat.edit", Edit), _reply("chat.edited", Ack)),
    "chat.delete": (_tagged("chat.delete", Delete), _reply("chat.deleted", Ack)),
    "presence.set": (_tagged("presence.set", Presence), _reply("presence.changed", Presence)),
    "ping": (_tagged("ping", Ping), _reply("pong", Ping)),
}


def _hand_handlers() -> dict[type, tuple[Callable[[Any], Awaitable[Any]], Any]]:
    async def send(p: Chat) -> Ack:
        return Ack(p.id, p.room)

    async def edit(p: Edit) -> Ack:
        return Ack(p.id, "edited")

    async def delete(p: Delete) -> Ack:
        return Ack(p.id, p.room)

    async def same(p: Any) -> Any:
        return p

    functions: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "chat.send": send,
        "chat.edit": edit,
        "chat.delete": delete,
    }
    return {
        request: (functions.get(name, same), reply) for name, (request, reply) in _REQUESTS.items()
    }


_HAND = _hand_handlers()
_decode_union = msgspec.json.Decoder(Union[tuple(_HAND)]).decode  # noqa: UP007


async def raw_union(scope: Message, receive: Receive, send: Send) -> None:
    """Raw ASGI: one decoder of the tagged union, a dict from class to handler."""
    await receive()
    await send({"type": "websocket.accept"})
    table = _HAND
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        request = _decode_union(message["text"])
        handler, reply = table[request.__class__]
        result = await handler(request.payload)
        await send({"type": "websocket.send", "text": _encode(reply(result, request.id)).decode()})


async def wskit_hand(scope: Message, receive: Receive, send: Send) -> None:
    """``wskit.WebSocket``'s fast paths with the union decode and dispatch written by hand."""
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    table = _HAND
    receive_text, send_frame = ws.receive_text, ws.send_frame
    try:
        while True:
            request = _decode_union(await receive_text())
            handler, reply = table[request.__class__]
            result = await handler(request.payload)
            await send_frame(_encode(reply(result, request.id)).decode())
    except WebSocketDisconnect:
        pass


# -- FastWS style: decode to a dict, then validate with pydantic --------------------------------


class EnvelopeModel(pydantic.BaseModel):
    type: str
    payload: dict[str, Any] | None = None
    id: int | str | None = None


class AckModel(pydantic.BaseModel):
    id: int
    room: str


class EditModel(pydantic.BaseModel):
    id: int
    text: str


class DeleteModel(pydantic.BaseModel):
    id: int
    room: str


class PresenceModel(pydantic.BaseModel):
    user: str
    online: bool


class PingModel(pydantic.BaseModel):
    nonce: int


def _fastws_table() -> dict[str, tuple[type[pydantic.BaseModel], str, Callable[[Any], Any]]]:
    async def send(p: ChatModel) -> AckModel:
        return AckModel(id=p.id, room=p.room)

    async def edit(p: EditModel) -> AckModel:
        return AckModel(id=p.id, room="edited")

    async def delete(p: DeleteModel) -> AckModel:
        return AckModel(id=p.id, room=p.room)

    async def same(p: Any) -> Any:
        return p

    return {
        "chat.send": (ChatModel, "chat.sent", send),
        "chat.edit": (EditModel, "chat.edited", edit),
        "chat.delete": (DeleteModel, "chat.deleted", delete),
        "presence.set": (PresenceModel, "presence.changed", same),
        "ping": (PingModel, "pong", same),
    }


_FASTWS = _fastws_table()


async def fastws_style(scope: Message, receive: Receive, send: Send) -> None:
    """Starlette ``receive_json`` -> pydantic envelope -> lookup -> pydantic payload -> reply."""
    ws = StarletteWebSocket(scope, receive, send)
    await ws.accept()
    table = _FASTWS
    try:
        while True:
            envelope = EnvelopeModel.model_validate(await ws.receive_json())
            model, reply_name, handler = table[envelope.type]
            result = await handler(model.model_validate(envelope.payload))
            reply = {"type": reply_name, "payload": result.model_dump()}
            if envelope.id is not None:
                reply["id"] = envelope.id
            await ws.send_json(reply)
    except StarletteDisconnect:
        pass


def router_app(ops: OperationRouter) -> App:
    """The router as the handler of a bare ASGI app."""

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        await ops(WebSocket(scope, receive, send))

    return app


# -- the drivers --------------------------------------------------------------------------------


def pingpong_case(label: str, app: App, messages: list[Message], **kw: Any) -> Case:
    """A case where a client task sends one request and awaits its reply before the next.

    The app and the client talk through anyio memory streams, as they would through a server:
    every message crosses two task switches, which every contender pays alike.
    """
    scope = make_scope()

    async def connection() -> None:
        to_app, app_inbox = anyio.create_memory_object_stream[Message](1)
        app_outbox, from_app = anyio.create_memory_object_stream[Message](1)

        async def serve() -> None:
            await app(dict(scope), app_inbox.receive, app_outbox.send)

        async with anyio.create_task_group() as tg, to_app, from_app:
            tg.start_soon(serve)
            await to_app.send(messages[0])
            await from_app.receive()  # the accept
            for message in messages[1:-1]:
                await to_app.send(message)
                await from_app.receive()
            await to_app.send(messages[-1])

    return Case(label, connection, ops=len(messages) - 2, number=1, **kw)


def replies(app: App, messages: list[Message], backend: str) -> list[Any]:
    """Run ``app`` over ``messages`` and return the decoded replies (after the accept)."""
    sent: list[Message] = []
    next_message = iter(messages).__next__

    async def receive() -> Message:
        return next_message()

    async def send(message: Message) -> None:
        sent.append(message)

    run_async(app, make_scope(), receive, send, backend=backend)
    if sent[0]["type"] != "websocket.accept":
        raise AssertionError("no accept")
    return [json.loads(m["text"]) for m in sent[1:] if m["type"] == "websocket.send"]


def cases(options: Options) -> list[Case]:
    """The contenders of both groups, each checked once against the floor's replies."""
    n = 2_000 if options.quick else 100_000
    router = router_app(make_router())
    groups_: list[tuple[str, bool, list[tuple[str, App, bool]]]] = [
        (
            "one operation",
            False,
            [
                ("raw ASGI + msgspec Struct", raw_one_struct, True),
                (TARGET_LABEL, router, False),
                ("wskit WebSocket + hand dispatch", wskit_hand, False),
                ("FastWS style (pydantic)", fastws_style, False),
            ],
        ),
        (
            "five operations",
            True,
            [
                ("raw ASGI + msgspec union", raw_union, True),
                (TARGET_5_LABEL, router, False),
                ("FastWS style (pydantic, 5 ops)", fastws_style, False),
            ],
        ),
    ]
    out = []
    for group, mixed, contenders in groups_:
        sample = inbound(50, mixed)
        expected = replies(contenders[0][1], sample, options.backend)
        messages = inbound(n, mixed)
        for label, app, baseline in contenders:
            if replies(app, sample, options.backend) != expected:
                raise AssertionError(f"{label} does not answer like {contenders[0][0]}")
            out.append(connection_case(label, app, messages, group=group, baseline=baseline))
    messages = inbound(n // 5, False)
    for label, app, baseline in groups_[0][2]:
        out.append(pingpong_case(label, app, messages, group=PINGPONG, baseline=baseline))
    return out


def targets(results: Sequence[Result]) -> str:
    """Check the issue's target: the router against its raw floor (one and five operations)."""
    lines = []
    for members in groups(results).values():
        base = baseline_of(members)
        for result in members:
            if result is base:
                continue
            ratio = base.median / result.median
            line = f"{result.case.label}: {ratio:.2f}x {base.case.label}"
            label = result.case.label
            if label in (TARGET_LABEL, TARGET_5_LABEL) and result.case.group != PINGPONG:
                verdict = "met" if ratio >= TARGET else "MISSED"
                line += f" (target >= {TARGET:.2f}x: {verdict})"
            lines.append(line)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    return run(__doc__, cases, argv, name="operations", unit="msg", notes=targets)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
