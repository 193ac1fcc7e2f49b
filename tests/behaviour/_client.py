"""Client-side helpers of the behaviour suite: the server's ``/stats``, raw handshakes."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import msgspec

from tests._services import ServerProcess, timeout
from tests.behaviour.apps import Stats

__all__ = ["handshake", "http_request", "stats", "wait_stats"]


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
