"""WebSocket close codes (RFC 6455 section 7.4 and the IANA registry) as named constants.

``CloseCode`` is an :class:`enum.IntEnum`, so its members compare equal to plain integers and
can be passed anywhere a close code is expected. The ``WS_*`` module constants repeat the
names Starlette users already know (``starlette.status.WS_1000_NORMAL_CLOSURE``).
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "WS_1000_NORMAL_CLOSURE",
    "WS_1001_GOING_AWAY",
    "WS_1002_PROTOCOL_ERROR",
    "WS_1003_UNSUPPORTED_DATA",
    "WS_1005_NO_STATUS_RCVD",
    "WS_1006_ABNORMAL_CLOSURE",
    "WS_1007_INVALID_FRAME_PAYLOAD_DATA",
    "WS_1008_POLICY_VIOLATION",
    "WS_1009_MESSAGE_TOO_BIG",
    "WS_1010_MANDATORY_EXT",
    "WS_1011_INTERNAL_ERROR",
    "WS_1012_SERVICE_RESTART",
    "WS_1013_TRY_AGAIN_LATER",
    "WS_1014_BAD_GATEWAY",
    "WS_1015_TLS_HANDSHAKE",
    "CloseCode",
    "check_close",
    "fit_reason",
    "is_sendable",
    "reason_for",
]


class CloseCode(enum.IntEnum):
    """Close codes from RFC 6455 section 7.4.1 and the IANA WebSocket registry."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


WS_1000_NORMAL_CLOSURE: Final = 1000
WS_1001_GOING_AWAY: Final = 1001
WS_1002_PROTOCOL_ERROR: Final = 1002
WS_1003_UNSUPPORTED_DATA: Final = 1003
WS_1005_NO_STATUS_RCVD: Final = 1005
WS_1006_ABNORMAL_CLOSURE: Final = 1006
WS_1007_INVALID_FRAME_PAYLOAD_DATA: Final = 1007
WS_1008_POLICY_VIOLATION: Final = 1008
WS_1009_MESSAGE_TOO_BIG: Final = 1009
WS_1010_MANDATORY_EXT: Final = 1010
WS_1011_INTERNAL_ERROR: Final = 1011
WS_1012_SERVICE_RESTART: Final = 1012
WS_1013_TRY_AGAIN_LATER: Final = 1013
WS_1014_BAD_GATEWAY: Final = 1014
WS_1015_TLS_HANDSHAKE: Final = 1015


def is_sendable(code: int) -> bool:
    """Tell whether an application may put ``code`` in a close frame.

    RFC 6455 section 7.4.1 reserves 1004, 1005, 1006 and 1015 (they must never appear on the
    wire), leaves 1016-2999 to future standards and 3000-3999 to registered libraries and
    frameworks, and gives 4000-4999 to applications. The registered codes an endpoint may send
    are 1000-1003 and 1007-1014.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


MAX_REASON_BYTES: Final = 123


def check_close(code: int, reason: str | None) -> str:
    """Validate a close code and reason an application wants to send; return the reason.

    Raises:
        TypeError: ``code`` is not an ``int``.
        ValueError: ``code`` is not one an application may send (see :func:`is_sendable`), or
            ``reason`` is over 123 UTF-8 bytes (a close frame's payload is at most 125 bytes,
            two of them the code).
    """
    if type(code) is not int and not isinstance(code, int):
        raise TypeError(f"close code must be an int, got {type(code).__name__}")
    if not is_sendable(code):
        raise ValueError(
            f"close code {code} may not be sent by an application "
            "(allowed: 1000-1003, 1007-1014, 3000-4999)"
        )
    reason = reason or ""
    if len(reason) > MAX_REASON_BYTES // 4 and len(reason.encode()) > MAX_REASON_BYTES:
        raise ValueError(f"close reason is {len(reason.encode())} UTF-8 bytes, over 123")
    return reason


#: The reason wskit sends with a close code when nothing more specific is known.
_REASONS: Final[dict[int, str]] = {
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.INVALID_FRAME_PAYLOAD_DATA: "invalid message",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
}


def reason_for(code: int) -> str:
    """The generic reason wskit sends with ``code`` (``""`` for 1000 and application codes)."""
    return _REASONS.get(code, "")


def fit_reason(reason: str) -> str:
    """Cut ``reason`` to the 123 UTF-8 bytes a close frame holds, at a character boundary.

    For reasons wskit builds from what it knows (a validation message quotes the client's
    data); a reason the application passes to ``close()`` is checked instead, never cut.
    """
    if len(reason) <= MAX_REASON_BYTES // 4:
        return reason
    data = reason.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_REASON_BYTES:
        return reason
    # A continuation byte (0b10xxxxxx) cannot start a character: back up to the last start.
    end = MAX_REASON_BYTES
    while end > 0 and data[end] & 0xC0 == 0x80:
        end -= 1
    return data[:end].decode("utf-8", "surrogatepass")
