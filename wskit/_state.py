"""The sans-I/O state machine of one ASGI WebSocket connection.

Theory of operation
-------------------

An ASGI WebSocket connection has two independent sides, as h11 models an HTTP connection:

* the **receive side** follows the messages the server hands the application through
  ``receive()`` (the client's events): ``websocket.connect``, then any number of
  ``websocket.receive``, then ``websocket.disconnect``;
* the **send side** follows the messages the application gives the server through ``send()``:
  ``websocket.accept`` (or a rejection: ``websocket.close`` before accept, or a denial response
  made of ``websocket.http.response.start`` and ``websocket.http.response.body`` messages), then
  any number of ``websocket.send``, then one ``websocket.close``.

Each side is in one of Starlette's four :class:`~starlette.websockets.WebSocketState` values, so
``client_state`` and ``application_state`` compare equal to what Starlette users already test
against. ``TRANSITIONS`` lists every legal (side, state, event) triple and the state it leads to;
anything not in the table is illegal and :func:`transition` raises
:class:`~wskit.exceptions.InvalidTransition` naming the state and the event. No I/O happens here:
the connection asks the table first and only then calls the server, so the server never sees a
message it would reject.

The rules come from the ASGI HTTP & WebSocket spec, version 2.4
(https://asgi.readthedocs.io/en/latest/specs/www.html#websocket):

* "Connect - receive event": the first message is ``websocket.connect``.
* "Accept - send event" / "Close - send event": sent once the connect event arrived; a close
  before accept rejects the handshake (the server answers HTTP 403).
* "Denial Response" (the ``websocket.http.response`` extension): ``start`` then ``body``
  messages until one has ``more_body`` false.
* "Disconnect - receive event": after it, the application must not wait for more events.

A denial body with ``more_body`` true is the event ``BODY_MORE``; the last body is ``BODY``.
The two cross-side rules (an accept needs the connect event first; nothing is sent to a client
that already left) are enforced by the connection, which owns both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from starlette.websockets import WebSocketState as State

from .exceptions import InvalidTransition, WebSocketDisconnected

__all__ = [
    "BODY",
    "BODY_MORE",
    "RECEIVE",
    "SEND",
    "TRANSITIONS",
    "Side",
    "send_event",
    "State",
    "transition",
]

Side = Literal["receive", "send"]

RECEIVE: Final = "receive"
SEND: Final = "send"

#: The final body of a denial response (``more_body`` false).
BODY: Final = "websocket.http.response.body"
#: A body chunk of a denial response with ``more_body`` true.
BODY_MORE: Final = "websocket.http.response.body+more"

CONNECTING: Final = State.CONNECTING
CONNECTED: Final = State.CONNECTED
DISCONNECTED: Final = State.DISCONNECTED
RESPONSE: Final = State.RESPONSE

TRANSITIONS: Final[Mapping[tuple[Side, State, str], State]] = {
    # Receive side: the client's events, as the server reports them.
    (RECEIVE, CONNECTING, "websocket.connect"): CONNECTED,
    (RECEIVE, CONNECTED, "websocket.receive"): CONNECTED,
    (RECEIVE, CONNECTED, "websocket.disconnect"): DISCONNECTED,
    # A server may report a client that vanished before the connect event was read.
    (RECEIVE, CONNECTING, "websocket.disconnect"): DISCONNECTED,
    # Send side: the application's messages.
    (SEND, CONNECTING, "websocket.accept"): CONNECTED,
    (SEND, CONNECTING, "websocket.close"): DISCONNECTED,
    (SEND, CONNECTING, "websocket.http.response.start"): RESPONSE,
    (SEND, RESPONSE, BODY_MORE): RESPONSE,
    (SEND, RESPONSE, BODY): DISCONNECTED,
    (SEND, CONNECTED, "websocket.send"): CONNECTED,
    (SEND, CONNECTED, "websocket.close"): DISCONNECTED,
}

_HINTS: Final[Mapping[tuple[Side, State], str]] = {
    (SEND, CONNECTING): "accept, close or deny the handshake first",
    (SEND, CONNECTED): "the connection is open: only 'websocket.send' and 'websocket.close'",
    (SEND, RESPONSE): "a denial response is being sent: only its body may follow",
    (RECEIVE, CONNECTING): "the server must send 'websocket.connect' first",
    (RECEIVE, CONNECTED): "expected 'websocket.receive' or 'websocket.disconnect'",
}


def transition(side: Side, state: State, event: str) -> State:
    """Return the state that ``event`` leads to from ``state`` on ``side``.

    Raises:
        WebSocketDisconnected: ``state`` is DISCONNECTED: the connection was used after it ended.
        InvalidTransition: the event is not legal in ``state`` (for any other state).
    """
    try:
        return TRANSITIONS[side, state, event]
    except KeyError:
        pass
    if state is DISCONNECTED:
        raise WebSocketDisconnected(state.name, event, side, "the connection has ended") from None
    raise InvalidTransition(state.name, event, side, _HINTS.get((side, state), "")) from None


def send_event(message: Mapping[str, object]) -> str:
    """Name the send-side event of an ASGI message: its type, except for denial bodies."""
    message_type = str(message.get("type"))
    if message_type == BODY and message.get("more_body", False):
        return BODY_MORE
    return message_type
