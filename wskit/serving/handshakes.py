"""What a WebSocket handshake must look like before an app sees it (RFC 6455, section 4.2.1).

uvicorn's ``websockets`` core checks this itself; hypercorn and granian let a non-ASCII byte in
a WebSocket header or a key that is not 16 bytes of base64 through (hypercorn then raised
out of wsproto, a traceback at ERROR per attempt). Their adapters refuse such handshakes with
HTTP 400 through :func:`valid_handshake`, and log one DEBUG line.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from typing import Final

__all__ = ["HANDSHAKE_HEADERS", "valid_handshake"]

#: The headers of the handshake itself: they must be ASCII (RFC 6455 tokens and base64).
HANDSHAKE_HEADERS: Final = frozenset(
    {
        b"connection",
        b"upgrade",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
    }
)


def valid_handshake(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the handshake headers are ASCII and the key is 16 bytes of base64."""
    for name, value in headers:
        name = name.lower()
        if name not in HANDSHAKE_HEADERS:
            continue
        if not value.isascii():
            return False
        if name == b"sec-websocket-key":
            try:
                if len(binascii.a2b_base64(value.strip(), strict_mode=True)) != 16:
                    return False
            except binascii.Error:
                return False
    return True
