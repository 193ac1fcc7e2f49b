"""What does a WebSocket layer cost per message over raw ASGI, for text and for typed messages?

Every contender is an echo app that runs one connection of ``N`` messages (100 000; 2 000 with
``--quick``) through the same in-memory ASGI driver: ``receive`` hands out pre-built message
dicts from a list, ``send`` counts. The driver never suspends, so the numbers are the pure
per-message cost of each layer: coroutine frames, state checks, decoding and encoding. The
messages are the seeded ~150-byte chat messages of ``benchmarks/_data.py``.

Two groups, measured in one interleaved run:

* **text**: raw ASGI (the baseline), ``wskit.WebSocket`` ``receive_text``/``send_text``,
  Starlette's ``WebSocket`` ``receive_text``/``send_text``;
* **typed**: raw ASGI with a cached msgspec ``Decoder(Chat)``/``Encoder`` (the baseline), wskit
  ``receive(Chat)``/``send_data``, Starlette ``receive_json`` + pydantic v2 ``model_validate``/
  ``send_json(model_dump())``, and Litestar's ``websocket_listener`` (the whole Litestar app,
  whose per-connection setup is spread over ``N`` messages).

"vs. baseline" is the throughput ratio: ``0.80x`` means 80 % of raw ASGI's messages per second.
The targets of issue 2 are printed below the tables: wskit text >= 0.65x raw ASGI, wskit typed
>= 0.80x raw ASGI + msgspec.

Each group also has a **ceiling**: a connection class whose ``receive_text``/``send_text`` (and
``receive``/``send_data``) are bare coroutines that await the server and do nothing else: no
state, no limits, no errors. No class that keeps the receive/send API as coroutine methods can
be faster on this interpreter, because a Python coroutine call costs about 100-120 ns on
CPython 3.11 whatever it does. The ceiling is a reference point, not a contender; it shows how
much of the gap to raw ASGI is the two frames themselves and how much is wskit's checks.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import cast

import msgspec
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from benchmarks._data import Chat, ChatModel, chat_json
from benchmarks._driver import App, Message, Receive, Send, connection_case, make_scope
from benchmarks._harness import Case, Options, Result, baseline_of, groups, run, run_async
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect

TARGETS = {"wskit text": 0.65, "wskit typed": 0.80}
_DISTINCT = 1000


def inbound(n: int) -> list[Message]:
    """``websocket.connect``, ``n`` text messages (shared dicts), ``websocket.disconnect``."""
    frames = [{"type": "websocket.receive", "text": text} for text in chat_json(_DISTINCT)]
    body = [frames[i % _DISTINCT] for i in range(n)]
    return [
        {"type": "websocket.connect"},
        *body,
        {"type": "websocket.disconnect", "code": 1000, "reason": ""},
    ]


# -- the contenders -----------------------------------------------------------------------------


async def raw_text(scope: Message, receive: Receive, send: Send) -> None:
    """Raw ASGI text echo."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "text": message["text"]})


async def wskit_text(scope: Message, receive: Receive, send: Send) -> None:
    """wskit text echo."""
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        pass


async def starlette_text(scope: Message, receive: Receive, send: Send) -> None:
    """Starlette text echo."""
    ws = StarletteWebSocket(scope, receive, send)
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except StarletteDisconnect:
        pass


_decode_chat = msgspec.json.Decoder(Chat).decode
_encode = msgspec.json.Encoder().encode


async def raw_msgspec(scope: Message, receive: Receive, send: Send) -> None:
    """Raw ASGI typed echo with a cached msgspec decoder and encoder."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        chat = _decode_chat(message["text"])
        await send({"type": "websocket.send", "text": _encode(chat).decode()})


async def wskit_typed(scope: Message, receive: Receive, send: Send) -> None:
    """wskit typed echo: ``receive(Chat)`` and ``send_data``."""
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    try:
        while True:
            await ws.send_data(await ws.receive(Chat))
    except WebSocketDisconnect:
        pass


async def starlette_pydantic(scope: Message, receive: Receive, send: Send) -> None:
    """Starlette typed echo with pydantic v2."""
    ws = StarletteWebSocket(scope, receive, send)
    await ws.accept()
    try:
        while True:
            chat = ChatModel.model_validate(await ws.receive_json())
            await ws.send_json(chat.model_dump())
    except StarletteDisconnect:
        pass


def litestar_listener() -> App | None:
    """Litestar's ``websocket_listener`` echo, as a whole Litestar app (None if missing)."""
    try:
        from litestar import Litestar, websocket_listener
    except ImportError:  # pragma: no cover - litestar is in the bench extra
        return None

    @websocket_listener("/")
    async def echo(data: Chat) -> Chat:
        return data

    return cast(App, Litestar(route_handlers=[echo], debug=False))


class Bare:
    """The ceiling: receive/send coroutines that await the server and do nothing else."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send

    async def receive_text(self) -> str:
        """The next text frame (a disconnect ends the loop with ``KeyError``)."""
        receive = self._receive
        message = await receive()
        return message["text"]  # type: ignore[no-any-return]

    async def send_text(self, data: str) -> None:
        """Send a text frame."""
        send = self._send
        await send({"type": "websocket.send", "text": data})

    async def receive_chat(self) -> Chat:
        """The next text frame decoded as a ``Chat``."""
        receive = self._receive
        message = await receive()
        return _decode_chat(message["text"])

    async def send_chat(self, chat: Chat) -> None:
        """Send ``chat`` as JSON."""
        send = self._send
        await send({"type": "websocket.send", "text": _encode(chat).decode()})


async def ceiling_text(scope: Message, receive: Receive, send: Send) -> None:
    """The text echo through :class:`Bare`."""
    await receive()
    await send({"type": "websocket.accept"})
    ws = Bare(receive, send)
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except KeyError:  # the disconnect has no "text"
        pass


async def ceiling_typed(scope: Message, receive: Receive, send: Send) -> None:
    """The typed echo through :class:`Bare`."""
    await receive()
    await send({"type": "websocket.accept"})
    ws = Bare(receive, send)
    try:
        while True:
            await ws.send_chat(await ws.receive_chat())
    except KeyError:
        pass


# -- the driver ---------------------------------------------------------------------------------


def check_echo(label: str, app: App, backend: str) -> None:
    """Run ``app`` over a few messages with a recording driver: it must echo them exactly."""
    messages = inbound(50)
    sent: list[Message] = []
    next_message = iter(messages).__next__

    async def receive() -> Message:
        return next_message()

    async def send(message: Message) -> None:
        sent.append(message)

    run_async(app, make_scope(), receive, send, backend=backend)
    echoed = [m.get("text") for m in sent[1:]]
    if sent[0]["type"] != "websocket.accept" or echoed != [m["text"] for m in messages[1:-1]]:
        raise AssertionError(f"{label} does not echo its input exactly")


def cases(options: Options) -> list[Case]:
    """The contenders, each checked once for a correct echo."""
    n = 2_000 if options.quick else 100_000
    messages = inbound(n)
    contenders: list[tuple[str, App, str, bool]] = [
        ("raw ASGI", raw_text, "text", True),
        ("ceiling: bare wrapper coroutines", ceiling_text, "text", False),
        ("wskit text", wskit_text, "text", False),
        ("Starlette text", starlette_text, "text", False),
        ("raw ASGI + msgspec", raw_msgspec, "typed", True),
        ("ceiling: bare wrapper coroutines + msgspec", ceiling_typed, "typed", False),
        ("wskit typed", wskit_typed, "typed", False),
        ("Starlette + pydantic", starlette_pydantic, "typed", False),
    ]
    litestar = litestar_listener()
    if litestar is not None:
        contenders.append(("Litestar listener", litestar, "typed", False))
    out = []
    for label, app, group, baseline in contenders:
        check_echo(label, app, options.backend)
        out.append(connection_case(label, app, messages, group=group, baseline=baseline))
    return out


def targets(results: Sequence[Result]) -> str:
    """Check the issue's throughput targets."""
    lines = []
    for members in groups(results).values():
        base = baseline_of(members)
        for result in members:
            target = TARGETS.get(result.case.label)
            if target is None:
                continue
            ratio = base.median / result.median
            verdict = "met" if ratio >= target else "MISSED"
            lines.append(
                f"target {result.case.label} >= {target:.2f}x {base.case.label}: "
                f"{ratio:.2f}x ({verdict})"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    return run(__doc__, cases, argv, name="connection", unit="msg", notes=targets)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
