"""What a router or a view does with input it cannot handle, and with a handler that fails.

Bad input is sorted into one of four machine-readable codes, each with the close code it
maps to when the policy is ``"close"``:

=====================  ===================================================  =========
code                   cause                                                close code
=====================  ===================================================  =========
``malformed``          not JSON / MessagePack, not an object, no string      1007
                       type field
``unknown_operation``  the type names no operation                          1003
``invalid_payload``    the payload (or the id) does not fit its type        1007
``unsupported_frame``  a binary frame on a JSON (text) connection, or a     1003
                       text frame on a MessagePack (binary) one
=====================  ===================================================  =========

With the ``"reply"`` policy (the default) the client gets an error envelope (see
:class:`~wskit.operations.envelope.ErrorPayload`) and the connection stays open; with
``"close"`` the connection is closed with the code above. ``max_bad_messages=N`` closes it with
1008 (policy violation) when the client sends its ``N + 1``-th bad message, whatever the
policy. A handler exception is logged once and answered with ``internal_error`` (no details
leave the server), or closes with 1011 under the ``"close"`` policy. A handler that raises
:class:`OperationError` chooses its own error code; that is an answer, not a failure: it is
always a reply and is never logged as an error.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

import msgspec

from .._outcome import log_handler_error, peer
from ..codecs import DECODE_ERRORS, translate_decode_error
from ..exceptions import WebSocketDisconnect, WskitError
from ..status import CloseCode, fit_reason
from .envelope import CorrelationId, EnvelopeFormat, ErrorPayload

if TYPE_CHECKING:
    from ..connection import WebSocket

__all__ = [
    "BadMessage",
    "ErrorCode",
    "ErrorHandling",
    "ErrorPolicy",
    "OperationError",
    "classify",
]

logger: Final = logging.getLogger("wskit.operations")

#: What to do with bad input or a failed handler: answer with an error envelope, or close.
ErrorPolicy: TypeAlias = Literal["reply", "close"]
#: The error codes wskit itself sends (a handler may send others through ``OperationError``).
ErrorCode: TypeAlias = Literal[
    "malformed", "unknown_operation", "invalid_payload", "internal_error"
]

_CLOSE_CODES: Final[dict[str, int]] = {
    "malformed": CloseCode.INVALID_FRAME_PAYLOAD_DATA,
    "unknown_operation": CloseCode.UNSUPPORTED_DATA,
    "invalid_payload": CloseCode.INVALID_FRAME_PAYLOAD_DATA,
    "unsupported_frame": CloseCode.UNSUPPORTED_DATA,
}
_REASONS: Final[dict[str, str]] = {
    "malformed": "malformed message",
    "unknown_operation": "unknown operation",
    "invalid_payload": "invalid payload",
    "unsupported_frame": "unsupported frame type",
}


def _close_reason(bad: BadMessage) -> str:
    """The close reason of a bad message: its kind and what was wrong (the path included)."""
    kind = _REASONS[bad.code]
    return fit_reason(bad.message if bad.message.startswith(kind) else f"{kind}: {bad.message}")


class OperationError(WskitError):
    """Raise from a handler to answer the client with an error envelope of your own code.

    The connection stays open and nothing is logged as an error: this is an answer
    (``"forbidden"``, ``"not_found"``), not a failure.

    Args:
        code: The machine-readable code sent as ``payload.code``.
        message: The human-readable message sent as ``payload.message``.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A message that could not be handled, sorted into an error code.

    Attributes:
        code: ``"malformed"``, ``"unknown_operation"``, ``"invalid_payload"`` or
            ``"unsupported_frame"``.
        message: A safe, human-readable description.
        operation: The operation name the message carried, if it carried a string one.
        path: msgspec's path to the bad value, when the problem is in a value.
        id: The message's correlation id, when it had a valid one.
    """

    code: str
    message: str
    operation: str | None = None
    path: str | None = None
    id: CorrelationId = None

    @property
    def close_code(self) -> int:
        """The close code this kind of bad input maps to under the ``"close"`` policy."""
        return _CLOSE_CODES[self.code]


def _valid_id(value: object) -> CorrelationId:
    return value if type(value) is str or type(value) is int else None


def classify(
    data: str | bytes,
    binary: bool,
    exc: Exception,
    envelope: EnvelopeFormat,
    known: Container[str],
) -> BadMessage:
    """Sort a failed envelope decode into an error code. Runs only on the error path.

    The one-pass decoder cannot say *which* operation a bad message meant, so this reads the
    type and id fields again, leniently, to name the operation and keep the correlation id.

    Args:
        data: The frame's content.
        binary: Whether it came in a binary (MessagePack) frame.
        exc: The ``msgspec.DecodeError`` / ``msgspec.ValidationError`` / ``RecursionError``.
        envelope: The envelope's field names.
        known: The operation names the router handles.
    """
    if not isinstance(exc, msgspec.ValidationError):
        # msgspec's own words ("JSON is malformed: ... (byte 1)"), or "nested too deeply".
        text = (
            str(exc) if isinstance(exc, msgspec.DecodeError) else str(translate_decode_error(exc))
        )
        return BadMessage("malformed", text)
    error = translate_decode_error(exc)
    try:
        name, raw_id = envelope.probe(data, binary)
    except DECODE_ERRORS:
        return BadMessage("malformed", "a message must be an object with a string type field")
    correlation = _valid_id(raw_id)
    if not isinstance(name, str):
        return BadMessage(
            "malformed",
            f"a message must have a string {envelope.type_field!r} field",
            id=correlation,
        )
    if name not in known:
        return BadMessage("unknown_operation", f"unknown operation {name!r}", name, id=correlation)
    return BadMessage("invalid_payload", str(error), name, error.path, correlation)


class ErrorHandling:
    """One router's (or view's) policies for bad input and failed handlers, and the error envelope.

    Args:
        envelope: The envelope's field names (for the error envelope).
        on_bad_input: ``"reply"`` with an error envelope, or ``"close"`` (1003 / 1007).
        on_handler_error: ``"reply"`` with ``internal_error``, or ``"close"`` (1011).
        max_bad_messages: Close with 1008 on the ``N + 1``-th bad message; ``None``: no cap.
    """

    __slots__ = ("_error", "envelope", "max_bad_messages", "on_bad_input", "on_handler_error")

    def __init__(
        self,
        envelope: EnvelopeFormat,
        *,
        on_bad_input: ErrorPolicy = "reply",
        on_handler_error: ErrorPolicy = "reply",
        max_bad_messages: int | None = None,
    ) -> None:
        for name, value in (("on_bad_input", on_bad_input), ("on_handler_error", on_handler_error)):
            if value not in ("reply", "close"):
                raise ValueError(f"{name} must be 'reply' or 'close', got {value!r}")
        if max_bad_messages is not None and (
            not isinstance(max_bad_messages, int) or max_bad_messages < 0
        ):
            raise ValueError(f"max_bad_messages must be None or >= 0, got {max_bad_messages!r}")
        self.envelope = envelope
        self.on_bad_input = on_bad_input
        self.on_handler_error = on_handler_error
        self.max_bad_messages = max_bad_messages
        self._error = envelope.error_struct()

    async def send_error(
        self,
        ws: WebSocket,
        code: str,
        message: str,
        operation: str | None = None,
        path: str | None = None,
        id: CorrelationId = None,
    ) -> bool:
        """Send an error envelope. Returns ``True`` if the client had already left."""
        frame = ws.codec.encode_frame(
            self._error(
                ErrorPayload(code=code, message=message, operation=operation, path=path), id
            )
        )
        try:
            await ws.send_frame(frame)
        except WebSocketDisconnect:
            return True
        return False

    async def reject(self, ws: WebSocket, bad: BadMessage, count: int) -> bool:
        """Apply the bad-input policy to the ``count``-th bad message of a connection.

        Returns:
            ``True`` when the connection is over (closed by policy, or the client left).
        """
        limit = self.max_bad_messages
        # A close for the client's fault is one WARNING, as everywhere (wskit._outcome).
        if limit is not None and count > limit:
            logger.warning(
                "closing %s with 1008: %d bad messages (limit %d)", peer(ws.scope), count, limit
            )
            await ws.close(CloseCode.POLICY_VIOLATION, "too many bad messages")
            return True
        if self.on_bad_input == "close":
            reason = _close_reason(bad)
            logger.warning("closing %s with %d: %s", peer(ws.scope), bad.close_code, reason)
            await ws.close(bad.close_code, reason)
            return True
        logger.debug("bad message on %r: %s (%s)", ws.scope.get("path"), bad.code, bad.message)
        return await self.send_error(ws, bad.code, bad.message, bad.operation, bad.path, bad.id)

    async def failed(
        self, ws: WebSocket, exc: Exception, operation: str | None, id: CorrelationId
    ) -> bool:
        """Apply the handler-error policy to ``exc``, raised while handling ``operation``.

        Returns:
            ``True`` when the connection is over.
        """
        if isinstance(exc, OperationError):
            return await self.send_error(ws, exc.code, exc.message, operation, None, id)
        if ws.closed or isinstance(exc, WebSocketDisconnect):
            # The client left (or the connection was closed) while the handler ran: not a bug.
            return True
        code, reason = log_handler_error(exc, ws.scope)
        if self.on_handler_error == "close":
            await ws.close(code, reason)
            return True
        return await self.send_error(ws, "internal_error", "internal error", operation, None, id)
