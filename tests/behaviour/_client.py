"""Client-side helpers of the behaviour suite: the server's ``/stats``, raw handshakes."""

from __future__ import annotations

import struct
from collections.abc import Callable

import anyio
import msgspec

from tests._services import ServerProcess, timeout
from tests.behaviour.apps import Stats

__all__ = ["flood", "handshake", "http_request", "settled_stats", "stats", "wait_stats"]


async def http_request(server: ServerProcess, request: bytes, deadline: float = 10.0) -> bytes:
    """Send raw ``request`` bytes to ``server`` and return everything it answers until EOF."""
    response = b""
    with anyio.fail_after(timeout(deadline)):
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(request)
            try:
                async for chunk in stream:
                    response += chunk
            except (anyio.BrokenResourceError, ConnectionResetError):
                pass  # a server that resets after its answer
    return response


async def handshake(server: ServerProcess, request: bytes, deadline: float = 10.0) -> bytes:
    """Send a raw handshake; return the response head. After a 101, close cleanly (1000)."""
    head = b""
    with anyio.fail_after(timeout(deadline)):
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(request)
            try:
                while b"\r\n\r\n" not in head:
                    head += await stream.receive()
                if head.startswith(b"HTTP/1.1 101 "):
                    # A masked close frame (zero key, RFC 6455 5.3): 1000, then read to EOF.
                    await stream.send(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
                    async for _ in stream:
                        pass
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                pass  # the server closed (or reset) after its answer
    return head.partition(b"\r\n\r\n")[0]


async def stats(server: ServerProcess) -> Stats:
    """The server process's :class:`~tests.behaviour.apps.Stats` (``GET /stats``)."""
    request = b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    response = await http_request(server, request)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return msgspec.json.decode(body, type=Stats)


async def wait_stats(
    server: ServerProcess, predicate: Callable[[Stats], bool], deadline: float = 30.0
) -> Stats:
    """Poll ``/stats`` until ``predicate`` holds (bounded); return the last value seen.

    The state lives in another process: there is no event to wait on. The deadline only stops
    a hang; a server that never gets there fails the test with the last value in the message.
    """
    last = await stats(server)
    with anyio.move_on_after(timeout(deadline)):
        while not predicate(last):
            await anyio.sleep(0.1)
            last = await stats(server)
    return last


async def settled_stats(server: ServerProcess, quiet: float = 1.0, deadline: float = 30.0) -> Stats:
    """``/stats`` once no connection is open and tasks and descriptors held still ``quiet`` s.

    A baseline taken while earlier connections are still winding down would hide a leak.
    """
    last = await wait_stats(server, lambda s: s.connections == 0, deadline)
    with anyio.move_on_after(timeout(deadline)):
        while True:
            await anyio.sleep(quiet)
            now = await stats(server)
            if (now.connections, now.tasks, now.fds) == (0, last.tasks, last.fds):
                return now
            last = now
    return last


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame with the all-zero mask key, which leaves the payload as is (RFC 6455 5.3)."""
    size = len(payload)
    head = (
        struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        if size < 126
        else (struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size))
    )
    return head + b"\x00\x00\x00\x00" + payload


async def flood(
    server: ServerProcess, path: str, message: str, count: int, deadline: float = 30.0
) -> tuple[int, str]:
    """Open ``path``, send ``count`` text messages in one write without reading, then read
    until the server's close frame, answer it and wait for the end of the stream.

    Every message is in the server's socket before it reads the first: a server that stops
    reading when the application stops receiving is stuck with them. Returns the close code
    and reason the server sent (1006 and "" if none came).
    """
    frame = _masked(0x1, message.encode())
    data = b""
    with anyio.fail_after(timeout(deadline)):
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(
                b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            data = data.partition(b"\r\n\r\n")[2]
            await stream.send(frame * count)
            try:
                while True:
                    while len(data) < 2 or len(data) < 2 + _extra(data) + _size(data):
                        data += await stream.receive()
                    start = 2 + _extra(data)
                    opcode, size = data[0] & 0x0F, _size(data)
                    payload, data = data[start : start + size], data[start + size :]
                    if opcode == 0x8:
                        await stream.send(_masked(0x8, payload[:2]))  # echo the code
                        async for _ in stream:
                            pass
                        code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                        return code, payload[2:].decode()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                return 1006, ""


def _extra(data: bytes) -> int:
    """The extended length bytes of the server frame at the start of ``data``."""
    return {126: 2, 127: 8}.get(data[1] & 0x7F, 0)


def _size(data: bytes) -> int:
    """The payload size of the server frame at the start of ``data`` (0 until it is known)."""
    length = data[1] & 0x7F
    if length == 126:
        return struct.unpack("!H", data[2:4])[0] if len(data) >= 4 else 0
    if length == 127:
        return struct.unpack("!Q", data[2:10])[0] if len(data) >= 10 else 0
    return length
