"""Hostile handshakes, as raw bytes through a real socket to hypercorn.

Origin look-alikes, a malformed ``Host``, non-UTF-8 header bytes, 1,000 headers and a huge
``Sec-WebSocket-Protocol`` offer. Defined outcome: each is refused (an HTTP 4xx from
hypercorn or from wskit's policies) or handled (101, with the right subprotocol), never an
unhandled exception (nothing logged at ERROR), and no per-connection resource outlives a
refused handshake: the App's registry is empty and the server's event loop has as many tasks
after the barrage as before it.

One server-side detail: a request hypercorn itself refuses with 400 (no ``Host``, a NUL in a
header) holds two tasks of hypercorn's *trio* worker until its ``keep_alive_timeout`` (5 s by
default), although the client has closed the socket; the asyncio worker frees them at once.
The test lowers that timeout and waits for it.

The scope-level variants (odd paths, headers that are not pairs, garbage subprotocol lists)
are in ``tests/app/test_policies.py``; hypothesis drives random header bytes in
``test_fuzz.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from tests._services import running_server, timeout
from wskit.app import App
from wskit.connection import WebSocket
from wskit.policies import OriginPolicy

from ._helpers import ASYNCIO_CLIENT, Records, wait_until

ALLOWED = "https://app.example.com"
KEEP_ALIVE = 0.5
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def request(
    path: bytes = b"/ws",
    *,
    host: bytes | None = b"127.0.0.1",
    origin: bytes | None = ALLOWED.encode(),
    protocols: bytes | None = None,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1"]
    if host is not None:
        lines.append(b"Host: " + host)
    lines += [
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + KEY,
        b"Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(b"Origin: " + origin)
    if protocols is not None:
        lines.append(b"Sec-WebSocket-Protocol: " + protocols)
    lines += [name + b": " + value for name, value in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read the response head (empty if the server just closed)."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        with anyio.fail_after(timeout(5)):
            await stream.send(data)
            head = b""
            while b"\r\n\r\n" not in head:
                try:
                    head += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    return head


def status(head: bytes) -> int:
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else 0


def protocol(head: bytes) -> bytes | None:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-protocol":
            return value.strip()
    return None


MANY_PROTOCOLS = b", ".join(b"p%d" % n for n in range(2000)) + b", chat"

# name -> (request bytes, the statuses that are acceptable outcomes, the subprotocol if 101)
CASES: dict[str, tuple[bytes, set[int], bytes | None]] = {
    "allowed origin, other case and default port": (
        request(origin=b"https://APP.example.com:443"),
        {101},
        None,
    ),
    "look-alike: suffix": (request(origin=b"https://app.example.com.evil.io"), {403}, None),
    "look-alike: prefix": (request(origin=b"https://evil-app.example.com"), {403}, None),
    "look-alike: userinfo": (request(origin=b"https://app.example.com@evil.io"), {403}, None),
    "look-alike: scheme": (request(origin=b"http://app.example.com"), {403}, None),
    "look-alike: port": (request(origin=b"https://app.example.com:8443"), {403}, None),
    "look-alike: trailing dot": (request(origin=b"https://app.example.com."), {403}, None),
    "look-alike: path": (request(origin=b"https://app.example.com/"), {403}, None),
    "look-alike: punycode": (request(origin=b"https://xn--pp-6ja.example.com"), {403}, None),
    "origin null": (request(origin=b"null"), {403}, None),
    "no origin": (request(origin=None), {403}, None),
    "two origins": (request(extra=[(b"Origin", ALLOWED.encode())]), {403}, None),
    "non-UTF-8 origin": (request(origin=b"https://app.example.com\xff\xfe"), {400, 403}, None),
    "non-UTF-8 header value": (
        request(extra=[(b"Cookie", b"\xff\xfe=\x80"), (b"X-Name", b"\xc3\x28")]),
        {101},
        None,
    ),
    "malformed host: bracket": (request(host=b"[::1"), {101, 400}, None),
    "malformed host: spaces": (request(host=b"a b c"), {101, 400}, None),
    "malformed host: empty": (request(host=b""), {101, 400}, None),
    "no host": (request(host=None), {400}, None),
    "1,000 headers": (
        request(extra=[(b"X-H%d" % n, b"v" * 10) for n in range(1000)]),
        {101, 400, 413, 431, 0},
        None,
    ),
    "huge subprotocol offer": (request(protocols=MANY_PROTOCOLS), {101, 400, 413, 431, 0}, b"chat"),
    "subprotocol offer of junk": (
        request(protocols=b"\xff\xfe, ,,, chat;q=1, \x00"),
        {101, 400},
        None,
    ),
}


def hostile_app() -> App:
    app = App(
        origins=OriginPolicy([ALLOWED]),
        subprotocols=["chat", "superchat"],
        max_connections=100,
    )

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        async with ws:
            async for text in ws.iter_text():
                await ws.send_text(text)

    @app.websocket("/tasks", origins=None)
    async def tasks(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()  # (RawClient may miss a frame that arrives with the 101)
        await ws.send_text(str(len(anyio.get_running_tasks())))
        # The client closes: a close of ours racing the client's can make hypercorn's trio
        # worker send from two tasks at once (trio.BusyResourceError), which is not our case.
        await ws.receive()

    return app


async def _server_tasks(port: int) -> int:
    """The number of tasks in the server's event loop, asked through a WebSocket."""
    from tests._services import raw_ws_connect

    async with raw_ws_connect(f"ws://127.0.0.1:{port}/tasks") as client:
        await client.send("how many?")
        return int(await client.receive())


@pytest.mark.integration
@ASYNCIO_CLIENT  # tests._services.running_server cannot stop a trio worker from a trio test
@pytest.mark.parametrize("worker", ["asyncio", "trio"])
async def test_hostile_handshakes_through_hypercorn(records: Records, worker: str) -> None:
    app = hostile_app()
    async with running_server(app, worker=worker, keep_alive_timeout=KEEP_ALIVE) as server:
        port = server.port
        assert port is not None
        before = await _server_tasks(port)
        outcomes: dict[str, int] = {}
        for name, (data, allowed, subprotocol) in CASES.items():
            head = await exchange(port, data)
            outcomes[name] = code = status(head)
            assert code in allowed, (name, head[:200])
            if code == 101 and subprotocol is not None:
                assert protocol(head) == subprotocol, name
        await wait_until(lambda: not app.connections)  # accepted ones end with their socket
        after = await _server_tasks(port)
        with anyio.move_on_after(timeout(KEEP_ALIVE + 2)):
            while after != before:  # hypercorn's trio worker: see the module docstring
                await anyio.sleep(0.1)
                after = await _server_tasks(port)
        assert after == before, outcomes
    assert records.errors == []
