"""Every exception wskit raises, under one root.

The tree::

    WebSocketDisconnect(code, reason)      the connection ended: Starlette's own class, re-exported

    WskitError
    ├── ProtocolError                      ``close_code`` on each subclass
    │   ├── LocalProtocolError             the application broke the ASGI sequence (1011)
    │   │   └── InvalidTransition          also RuntimeError: "cannot <call> in state <STATE>"
    │   │       └── WebSocketDisconnected  use before accept/after close (also Starlette's)
    │   │           └── ConnectionClosed   also WebSocketDisconnect: used after the end
    │   └── RemoteProtocolError            the server sent a message out of sequence (1002);
    │                                      also RuntimeError, as Starlette raises
    ├── ConcurrentReceive                  a second receive() while one waits; RuntimeError
    ├── DecodeError                        a message did not decode (1007); also ValueError
    │   └── ValidationError                does not fit the type; ``path`` like "$.items[0]"
    ├── FrameTypeError                     text where bytes were required, or the reverse
    │                                      (1003); also TypeError
    ├── Denied(status, body, headers)      refuse a handshake with an HTTP response
    ├── UnexpectedMessage                  ``expect()`` received something else
    ├── MessageTooBig                      over the size limit (1009); also ValueError
    ├── UnknownOperation                   an operation router has no handler (1003)
    ├── Timeout                            a receive, send or request deadline passed
    ├── WouldBlock                         raised by ``*_nowait`` methods instead of waiting
    ├── BackendError                       a pub/sub backend failed; the cause is chained
    │   └── BackendUnavailable             the backend is unreachable now (Redis down)
    └── MissingExtra                       an optional extra is not installed; ImportError

Errors that end a connection carry the close code they map to in ``close_code``; the table in
``docs/topics/close-codes.md`` lists them. Subclasses also inherit from the standard exception a
user already catches (``RuntimeError``, ``ValueError``, ``TypeError``, ``TimeoutError``): for the
same misuse, wskit raises the type Starlette 1.10 raises.

``WebSocketDisconnect`` is not a wskit class at all: it *is*
``starlette.websockets.WebSocketDisconnect``. A subclass would have been one-way (an
``except wskit.WebSocketDisconnect`` would miss the disconnects of Starlette's connections, which
Starlette's own routes still build); one class makes ``except WebSocketDisconnect`` catch every
disconnect, whichever module it was imported from. ``WebSocketDisconnected`` (use after the
end) subclasses Starlette's class of that name, so ``except`` clauses written with Starlette's
name catch wskit's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from starlette.websockets import WebSocketDisconnect as _StarletteDisconnect
from starlette.websockets import WebSocketDisconnected as _StarletteDisconnected

from .status import CloseCode, reason_for

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ConcurrentReceive",
    "ConnectionClosed",
    "DecodeError",
    "Denied",
    "FrameTypeError",
    "InvalidTransition",
    "LocalProtocolError",
    "MissingExtra",
    "MessageTooBig",
    "ProtocolError",
    "RemoteProtocolError",
    "Timeout",
    "UnexpectedMessage",
    "UnknownOperation",
    "ValidationError",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WouldBlock",
    "WskitError",
]


class WskitError(Exception):
    """The root of every exception wskit raises."""

    #: The close code a connection ends with when this error ends it, or ``None``.
    close_code: ClassVar[int | None] = None

    @property
    def close_reason(self) -> str:
        """The reason sent with :attr:`close_code` when this error closes a connection.

        Written for the client: what was wrong with *its* message, never the server's
        internals. wskit cuts it to the 123 UTF-8 bytes a close frame holds. Subclasses say
        more than the default, the close code's generic name (``"invalid message"``...).
        """
        return reason_for(self.close_code) if self.close_code is not None else ""


#: The connection ended: the client left (``code`` and ``reason`` are its close frame's), or the
#: transport broke (``code`` 1006). Starlette's own class: one class for both libraries.
WebSocketDisconnect = _StarletteDisconnect


class ProtocolError(WskitError):
    """The ASGI message sequence was broken."""

    close_code: ClassVar[int | None] = CloseCode.INTERNAL_ERROR


class LocalProtocolError(ProtocolError):
    """The application made a call its connection's state does not allow."""


class InvalidTransition(LocalProtocolError, RuntimeError):
    """A call is illegal in the connection's current state.

    Raised before anything is sent to the server, so the ASGI ``send`` never sees a message it
    would reject.

    Attributes:
        state: The name of the state the connection was in.
        event: The call or ASGI message type that was refused.
        side: ``"send"`` for the application's side, ``"receive"`` for the client's side.
    """

    def __init__(self, state: str, event: str, side: str = "send", hint: str = "") -> None:
        self.state = state
        self.event = event
        self.side = side
        verb = "send" if side == "send" else "receive"
        message = f"cannot {verb} {event!r} in state {state}"
        super().__init__(f"{message}: {hint}" if hint else message)


class WebSocketDisconnected(InvalidTransition, _StarletteDisconnected):
    """The connection was used after it was closed (by the application or the client)."""


class ConnectionClosed(WebSocketDisconnected, WebSocketDisconnect):
    """The connection was used after it ended: a send, a receive or an accept came too late.

    It is both kinds of error Starlette users catch: a ``WebSocketDisconnect`` carrying the
    code and reason the connection ended with (so ``except WebSocketDisconnect:`` loops end
    cleanly when another task closed the connection), and a ``RuntimeError`` naming the state
    and the call.
    """

    def __init__(self, state: str, event: str, side: str, code: int, reason: str | None) -> None:
        verb = "send" if side == "send" else "receive"
        Exception.__init__(
            self,
            f"cannot {verb} {event!r} in state {state}: the connection has ended (code {code})",
        )
        self.state = state
        self.event = event
        self.side = side
        self.code = code
        self.reason = reason or ""

    def __str__(self) -> str:
        return str(self.args[0])

    def __repr__(self) -> str:
        return f"ConnectionClosed({self.args[0]!r}, code={self.code!r}, reason={self.reason!r})"


class RemoteProtocolError(ProtocolError, RuntimeError):
    """The server handed the application an ASGI message out of sequence.

    A ``RuntimeError``, as Starlette raises for the same fault.
    """

    close_code: ClassVar[int | None] = CloseCode.PROTOCOL_ERROR


class ConcurrentReceive(WskitError, RuntimeError):
    """A second ``receive`` started while another was still waiting on the same connection."""


class DecodeError(WskitError, ValueError):
    """A message could not be decoded into the requested type.

    The connection stays open: the next receive works.

    Attributes:
        path: Where in the message the problem is, in msgspec's notation (``$.items[0]``), or
            ``"$"`` for the whole message.
    """

    close_code: ClassVar[int | None] = CloseCode.INVALID_FRAME_PAYLOAD_DATA

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.path = path

    @property
    def close_reason(self) -> str:
        """What was wrong with the message: ``"malformed message: ..."``."""
        return str(self)


class ValidationError(DecodeError):
    """A message decoded, but its value does not fit the requested type."""

    @property
    def close_reason(self) -> str:
        """``"invalid message: "`` and msgspec's message with its path (``... at $.seq``)."""
        return f"invalid message: {self}"


class _Mismatch(WskitError):
    """Something other than what was expected arrived (``expected``, ``received``)."""

    def __init__(self, expected: object, received: object, message: str) -> None:
        self.expected = expected
        self.received = received
        super().__init__(message)


class FrameTypeError(_Mismatch, TypeError):
    """A text frame arrived where bytes were required, or a binary frame where text was.

    Attributes:
        expected: ``"text"`` or ``"bytes"``.
        received: ``"text"`` or ``"bytes"``.
    """

    close_code: ClassVar[int | None] = CloseCode.UNSUPPORTED_DATA

    def __init__(self, expected: str, received: str) -> None:
        message = f"expected a {expected} frame, received a {received} frame"
        super().__init__(expected, received, message)

    @property
    def close_reason(self) -> str:
        """``"expected a text frame"`` (or bytes)."""
        return f"expected a {self.expected} frame"


class UnexpectedMessage(_Mismatch):
    """``expect()`` received a message other than the one it expected.

    The received message is consumed; it is kept on ``received``. Uncaught, it closes the
    connection with 1008: the client did not follow the conversation.
    """

    close_code: ClassVar[int | None] = CloseCode.POLICY_VIOLATION

    def __init__(self, expected: object, received: object) -> None:
        super().__init__(expected, received, f"expected {expected!r}, received {received!r}")

    @property
    def close_reason(self) -> str:
        """``"unexpected message"`` (the messages themselves stay in the server's log)."""
        return "unexpected message"


class MessageTooBig(WskitError, ValueError):
    """A message is over the configured size limit.

    Inbound, the connection is closed with 1009 before this is raised. Outbound, nothing is
    sent and the connection stays open.
    """

    close_code: ClassVar[int | None] = CloseCode.MESSAGE_TOO_BIG

    def __init__(self, size: int, limit: int, direction: str = "inbound") -> None:
        self.size = size
        self.limit = limit
        self.direction = direction
        super().__init__(f"{direction} message of {size} bytes is over the limit of {limit} bytes")


class Denied(WskitError):
    """Refuse a WebSocket handshake with an HTTP response (raised before accept).

    Raise it from an ``authenticate`` hook (or anything else that runs before accept); the app
    answers with ``ws.deny(status, headers, body)``: a denial response where the server
    supports one, else a close before accept (HTTP 403).

    Attributes:
        status: The HTTP status of the response (401, 403, 429, 503...).
        body: The response body.
        headers: Extra response headers.
        reason: Why, for the server's log (never sent): the App logs a refusal at INFO with
            it and the peer's address. Default: the body's text, else ``"HTTP <status>"``.
    """

    def __init__(
        self,
        status: int = 403,
        body: bytes | str = b"",
        headers: Mapping[str, str] | Sequence[tuple[bytes, bytes]] | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        if reason is None:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            reason = text.strip()[:200] or f"HTTP {status}"
        self.reason = reason
        super().__init__(f"handshake denied with HTTP {status}")


class UnknownOperation(WskitError, LookupError):
    """An operation router received a message type it has no handler for."""

    close_code: ClassVar[int | None] = CloseCode.UNSUPPORTED_DATA

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(f"unknown operation {operation!r}")

    @property
    def close_reason(self) -> str:
        """``"unknown operation 'name'"``."""
        return str(self)


class Timeout(WskitError, TimeoutError):
    """A receive, send or request deadline passed.

    Uncaught, it closes the connection with 1008: the client was idle, or too slow to read.
    """

    close_code: ClassVar[int | None] = CloseCode.POLICY_VIOLATION

    @property
    def close_reason(self) -> str:
        """``"timeout"``."""
        return "timeout"


class WouldBlock(WskitError):
    """A ``*_nowait`` method would have had to wait."""


class BackendError(WskitError):
    """A pub/sub backend failed. The underlying error is chained as ``__cause__``."""


class BackendUnavailable(BackendError):
    """The pub/sub backend cannot be reached right now (for example, Redis is down)."""


class MissingExtra(WskitError, ImportError):
    """An optional extra is not installed: one line that names it and how to install it.

    Attributes:
        feature: What needed the extra (``"wskit demo"``, ``"RedisBackend"``).
        extra: The extra's name (``"server"``).
        package: The distribution the extra brings (``"hypercorn"``, ``"PyYAML"``).
    """

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(
            f"{feature} needs the {extra!r} extra ({package}): pip install 'wskit[{extra}]'"
        )
        self.feature = feature
        self.extra = extra
        self.package = package
