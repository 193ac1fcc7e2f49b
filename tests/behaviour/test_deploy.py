"""What a deployment needs, on every server: TLS, proxy headers, pings, permessage-deflate.

Each test starts its own server with the option under test (``--certfile/--keyfile``,
``--proxy-headers``, ``--ping-interval``, ``--per-message-deflate``). granian has no ping or
permessage-deflate setting: those two tests skip on it with the reason, and its adapter warns
at startup when they are asked for.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import anyio
import msgspec
import pytest

from tests._services import ServerProcess, require_binary, server_process, timeout
from tests.behaviour._client import handshake
from tests.behaviour.conftest import APP
from tests.integration._client import ws_connect

pytestmark = pytest.mark.integration

GRANIAN_PING = "granian has no WebSocket ping setting (granian 2.x): no pings are sent"
GRANIAN_DEFLATE = "granian has no permessage-deflate (granian 2.x): it is never negotiated"
DEFLATE = (b"Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (``openssl``), and its key."""
    openssl = require_binary("openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def _whoami(url: str, **options: object) -> tuple[str, int, str]:
    async with ws_connect(url, **options) as ws:
        return msgspec.json.decode(await ws.recv(), type=tuple[str, int, str])


async def test_tls(kind: tuple[str, str], certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server, worker = kind
    args = ["--certfile", str(cert), "--keyfile", str(key)]
    async with server_process(APP, server=server, worker=worker, args=args) as process:
        assert process.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        url = process.url.replace("https://", "wss://") + "/whoami"
        host, _, scheme = await _whoami(url, ssl=context)
    assert (host, scheme) == ("127.0.0.1", "wss")


async def test_proxy_headers_from_a_trusted_proxy_only(kind: tuple[str, str]) -> None:
    server, worker = kind
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    args = ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
    async with server_process(APP, server=server, worker=worker, args=args) as process:
        host, _, scheme = await _whoami(process.ws("/whoami"), additional_headers=forwarded)
    assert (host, scheme) == ("203.0.113.7", "wss")
    args = ["--proxy-headers", "--forwarded-allow-ips", "192.0.2.1"]  # not this client
    async with server_process(APP, server=server, worker=worker, args=args) as process:
        host, _, scheme = await _whoami(process.ws("/whoami"), additional_headers=forwarded)
    assert (host, scheme) == ("127.0.0.1", "ws")


async def _next_ping(process: ServerProcess, deadline: float = 15.0) -> bytes:
    """Open ``/echo`` on a raw socket and return the payload of the first ping frame."""
    with anyio.fail_after(timeout(deadline)):
        async with await anyio.connect_tcp("127.0.0.1", process.port) as stream:
            await stream.send(
                b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            data = data.partition(b"\r\n\r\n")[2]
            while True:
                while len(data) < 2 or len(data) < 2 + (data[1] & 0x7F):
                    data += await stream.receive()
                opcode, size = data[0] & 0x0F, data[1] & 0x7F
                frame, data = data[2 : 2 + size], data[2 + size :]
                if opcode == 0x9:
                    return frame


async def test_ping_interval(kind: tuple[str, str]) -> None:
    server, worker = kind
    if server == "granian":
        pytest.skip(GRANIAN_PING)
    args = ["--ping-interval", "0.2"]
    async with server_process(APP, server=server, worker=worker, args=args) as process:
        await _next_ping(process)  # a ping arrives (bounded wait: none would fail the test)


async def test_permessage_deflate_only_when_asked_for(kind: tuple[str, str]) -> None:
    server, worker = kind
    async with server_process(APP, server=server, worker=worker) as process:
        head = await handshake(process, _request(DEFLATE))
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"permessage-deflate" not in head.lower()  # off by default, on every server
    if server == "granian":
        pytest.skip(GRANIAN_DEFLATE)
    args = ["--per-message-deflate"]
    async with server_process(APP, server=server, worker=worker, args=args) as process:
        head = await handshake(process, _request(DEFLATE))
    assert b"permessage-deflate" in head.lower()


def _request(*headers: tuple[bytes, bytes]) -> bytes:
    lines = [
        b"GET /echo HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
        *(name + b": " + value for name, value in headers),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"
