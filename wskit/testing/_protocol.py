"""The server's view of an application's WebSocket messages, without I/O.

The test client checks every message an application sends the way an ASGI server does (ASGI
www spec, "WebSocket"), so a test fails on an application that a real server would refuse. The
application's side moves through four states::

    HANDSHAKE --websocket.accept--------------------> OPEN --websocket.send--> OPEN
    HANDSHAKE --websocket.close---------------------> CLOSED      (HTTP 403)
    HANDSHAKE --websocket.http.response.start-------> RESPONSE    (denial-response extension)
    RESPONSE  --websocket.http.response.body--------> RESPONSE    (more_body=True)
    RESPONSE  --websocket.http.response.body--------> CLOSED      (the last chunk)
    OPEN      --websocket.close---------------------> CLOSED

Anything else raises, in the application's ``send``, as uvicorn and hypercorn do: a message out
of sequence is a ``RuntimeError``, a malformed one a ``TypeError`` or ``ValueError``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

from wskit.status import is_sendable

from ._common import check_headers

if TYPE_CHECKING:
    from collections.abc import Mapping

    from wskit._types import Message

__all__ = ["State", "transition"]


class State(enum.Enum):
    """The application's side of one WebSocket connection, as the server tracks it."""

    HANDSHAKE = "HANDSHAKE"  # websocket.connect delivered; waiting for accept, close or response
    OPEN = "OPEN"  # accepted
    RESPONSE = "RESPONSE"  # denial response started, more body to come
    CLOSED = "CLOSED"  # the application sent websocket.close, or finished its denial response


_EXPECTED: Final[Mapping[State, str]] = {
    State.HANDSHAKE: "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'",
    State.OPEN: "'websocket.send' or 'websocket.close'",
    State.RESPONSE: "'websocket.http.response.body'",
}


def transition(state: State, message: Message, *, denial_response: bool) -> State:
    """Check the application's ``message`` in ``state`` and return the next state.

    Args:
        state: The application's current state.
        message: The message the application passed to ``send``.
        denial_response: Whether the scope offered the ``websocket.http.response`` extension.

    Raises:
        RuntimeError: If the message is out of sequence (or uses an extension not offered).
        TypeError: If a field has the wrong type.
        ValueError: If a close code or reason is one an endpoint may not send.
    """
    kind = message.get("type")
    if state is State.HANDSHAKE and kind == "websocket.accept":
        _check_accept(message)
        return State.OPEN
    if state is State.HANDSHAKE and kind == "websocket.close":
        return State.CLOSED
    if state is State.HANDSHAKE and kind == "websocket.http.response.start":
        if not denial_response:
            raise RuntimeError(
                "cannot send 'websocket.http.response.start': the scope does not offer the "
                "'websocket.http.response' extension (denial_response=False)"
            )
        if not isinstance(message.get("status"), int):
            raise TypeError("'websocket.http.response.start' needs an int 'status'")
        check_headers("websocket.http.response.start", message)
        return State.RESPONSE
    if state is State.RESPONSE and kind == "websocket.http.response.body":
        if not isinstance(message.get("body", b""), bytes):
            raise TypeError("'websocket.http.response.body' needs bytes in 'body'")
        return State.RESPONSE if message.get("more_body", False) else State.CLOSED
    if state is State.OPEN and kind == "websocket.send":
        _check_send(message)
        return State.OPEN
    if state is State.OPEN and kind == "websocket.close":
        _check_close(message)
        return State.CLOSED
    if state is State.CLOSED:
        raise RuntimeError(
            f"cannot send {kind!r}: the connection is over (the application sent "
            "'websocket.close' or a complete denial response)"
        )
    raise RuntimeError(f"cannot send {kind!r} in state {state.value}: expected {_EXPECTED[state]}")


def _check_accept(message: Message) -> None:
    subprotocol = message.get("subprotocol")
    if subprotocol is not None and not isinstance(subprotocol, str):
        raise TypeError("'websocket.accept' needs a str or None 'subprotocol'")
    for name, _ in check_headers("websocket.accept", message):
        if name.lower() == b"sec-websocket-protocol":
            # ASGI www spec, accept: the server must raise if the application sets this header.
            raise RuntimeError(
                "'websocket.accept' must not carry a sec-websocket-protocol header: "
                "use its 'subprotocol' key"
            )


def _check_send(message: Message) -> None:
    # ASGI www spec, send: exactly one of bytes or text must be non-None.
    text, data = message.get("text"), message.get("bytes")
    if (text is None) == (data is None):
        raise TypeError("'websocket.send' needs exactly one of 'text' and 'bytes' to be set")
    if text is not None and not isinstance(text, str):
        raise TypeError(f"'websocket.send' needs a str in 'text', not {type(text).__name__}")
    if data is not None and not isinstance(data, bytes | bytearray):
        raise TypeError(f"'websocket.send' needs bytes in 'bytes', not {type(data).__name__}")


def _check_close(message: Message) -> None:
    # RFC 6455 section 7.4.1 lists the codes an endpoint may send; section 5.5 bounds a control
    # frame's payload to 125 bytes, 2 of them for the code.
    code = message.get("code", 1000)
    reason = message.get("reason") or ""
    if not isinstance(code, int) or not is_sendable(code):
        raise ValueError(f"'websocket.close' has code {code!r}, which an endpoint may not send")
    if not isinstance(reason, str) or len(reason.encode()) > 123:
        raise ValueError("'websocket.close' needs a str 'reason' of at most 123 UTF-8 bytes")
