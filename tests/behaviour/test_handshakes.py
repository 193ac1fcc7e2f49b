"""Hostile handshakes get an HTTP error (or are handled), never an ERROR traceback per attempt.

Each request is sent three times as raw bytes through a real socket. The outcome: an HTTP
status line (a 4xx, or 101 for an offer that is odd but valid), and at most a short line in the
server's log per attempt, no ``Traceback`` and nothing at ERROR (hypercorn logged ~40 lines at
ERROR from inside wsproto for a non-ASCII byte in ``Sec-WebSocket-Protocol`` and sent no
response: a log-flooding vector; wskit's adapter answers 400).
"""

from __future__ import annotations

import re

import anyio
import pytest

from tests._services import ServerProcess
from tests.behaviour._client import handshake as send_handshake

pytestmark = pytest.mark.integration

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ATTEMPTS = 3
STATUS = re.compile(rb"^HTTP/1\.1 (\d{3}) ")


def handshake(*headers: tuple[bytes, bytes], key: bytes = KEY, version: bytes = b"13") -> bytes:
    lines = [
        b"GET /echo HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + key,
        b"Sec-WebSocket-Version: " + version,
    ]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


HOSTILE = {
    "non-ascii-subprotocol": handshake((b"Sec-WebSocket-Protocol", b"chat, \xff\xfe")),
    "non-utf8-header": handshake((b"User-Agent", b"\xc3\x28 \xff")),
    "huge-subprotocol-list": handshake(
        (b"Sec-WebSocket-Protocol", b", ".join(b"p%d" % i for i in range(1500)))
    ),
    "key-not-base64": handshake(key=b"not base64 at all!!"),
    "key-wrong-length": handshake(key=b"c2hvcnQ="),
    "wrong-version": handshake(version=b"12"),
    "header-flood": handshake(*[(b"X-Flood-%d" % i, b"x" * 20) for i in range(2000)]),
    # Frames sent before the server's 101 (RFC 6455 4.1: a client must wait for it).
    "data-before-101": handshake() + (b"\x81\x85\x00\x00\x00\x00hello" * 50),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_handshake_is_answered_not_logged(served: ServerProcess, name: str) -> None:
    await send_handshake(served, handshake())  # the server is up and has logged its start
    log_before = served.stderr_text()
    for _ in range(ATTEMPTS):
        response = await send_handshake(served, HOSTILE[name])
        match = STATUS.match(response)
        if match is not None:  # an answer: an error, or 101 for an odd but valid offer
            status = int(match.group(1))
            assert status == 101 or 400 <= status < 500, response[:200]
        else:  # no answer at all is allowed only as a closed connection (never a hang)
            assert response == b"", response[:200]
    with anyio.move_on_after(0.5):  # let the server finish its log lines
        await served.wait_stderr(r"(?!)")
    added = served.stderr_text()[len(log_before) :]
    assert "Traceback" not in added, added
    assert "ERROR" not in added, added
    assert len(added.splitlines()) <= ATTEMPTS, added
