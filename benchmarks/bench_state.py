"""What does consulting the state table cost, next to the connection's precomputed fast path?

``wskit.WebSocket`` reads its port's ``send`` (``None`` while the fast path is shut) per data
message and consults the sans-I/O
table (``wskit._state.transition``) only off the fast path: before accept, after a close, with
a deadline, for handshake and close messages. This benchmark prices the pieces:

* **checks**: reading the port's ``send``, a raw ``TRANSITIONS`` lookup, a ``transition()``
  call, and an illegal ``transition()`` that raises ``InvalidTransition``;
* **send**: one ``send_text`` on an open connection over a no-op ASGI ``send``, on the fast path,
  with ``timeout=`` (which takes the table path and sets a deadline), and the raw ``send``
  of a ``websocket.send`` message (the table path without a deadline). Each call runs 1 000
  messages in one event loop.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping, Sequence
from typing import Any

from benchmarks._harness import Case, Options, run, run_async
from wskit._state import SEND, TRANSITIONS, Side, State, transition
from wskit.connection import Port, WebSocket
from wskit.exceptions import InvalidTransition

Message = MutableMapping[str, Any]
BATCH = 1_000


async def _open_connection() -> WebSocket:
    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        return None

    ws = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    await ws.accept()
    return ws


def cases(options: Options) -> list[Case]:
    """The check and send cases."""
    ws = run_async(_open_connection, backend=options.backend)
    port = Port.of(ws)
    assert port is not None
    key: tuple[Side, State, str] = (SEND, State.CONNECTED, "websocket.send")

    def fast_flag() -> bool:
        return port.send is not None

    def lookup() -> State:
        return TRANSITIONS[key]

    def legal() -> State:
        return transition(SEND, State.CONNECTED, "websocket.send")

    def illegal() -> None:
        try:
            transition(SEND, State.CONNECTING, "websocket.send")
        except InvalidTransition:
            pass

    async def send_text_fast() -> None:
        for _ in range(BATCH):
            await ws.send_text("hello")

    async def send_text_deadline() -> None:
        for _ in range(BATCH):
            await ws.send_text("hello", timeout=10.0)

    async def send_raw() -> None:
        for _ in range(BATCH):
            await ws.send({"type": "websocket.send", "text": "hello"})

    checks, send = "checks", "send"
    return [
        Case("fast path open (port.send is not None)", fast_flag, group=checks, baseline=True),
        Case("TRANSITIONS[...] lookup", lookup, group=checks),
        Case("transition() legal", legal, group=checks),
        Case("transition() illegal, raises", illegal, group=checks),
        Case("send_text, fast path", send_text_fast, ops=BATCH, group=send, baseline=True),
        Case("send(message), table path", send_raw, ops=BATCH, group=send),
        Case("send_text(timeout=), table + deadline", send_text_deadline, ops=BATCH, group=send),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    return run(__doc__, cases, argv, name="state", unit="op")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
