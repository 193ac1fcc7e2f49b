"""hypercorn 0.18.0's trio worker: a write refused while the connection closes ends the worker.

The race needs two tasks to meet inside one checkpoint (see ``wskit.serving._hypercorn_trio``),
so it is shown here with a socket stream that refuses the write the way trio does when another
task is sending the EOF; the cluster tests' short-lived ``/stats`` connections on the trio worker
met it for real (``wskit run`` exited, every connection of the process dropped).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from hypercorn.config import Config
from hypercorn.events import Closed, RawData
from hypercorn.trio import run
from hypercorn.trio.tcp_server import TCPServer as HypercornTCPServer

from wskit.serving._hypercorn_trio import TCPServer, install


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


class _ClosingStream:
    """A socket stream whose other writer (``send_eof`` in ``_close``) is mid-way."""

    async def send_all(self, data: bytes) -> None:
        raise trio.BusyResourceError("another task is sending")


class _Protocol:
    def __init__(self) -> None:
        self.events: list[object] = []

    async def handle(self, event: object) -> None:
        self.events.append(event)


def _connection(cls: type[Any]) -> Any:
    server = cls(None, Config(), None, None, _ClosingStream())
    server.protocol = _Protocol()
    return server


async def test_hypercorn_alone_lets_the_refusal_escape() -> None:
    server = _connection(HypercornTCPServer)
    with pytest.raises(trio.BusyResourceError):  # and so out of the worker's nursery
        await server.protocol_send(RawData(b"close frame"))


async def test_wskit_takes_the_refusal_as_closed() -> None:
    server = _connection(TCPServer)
    await server.protocol_send(RawData(b"close frame"))
    assert [type(event) for event in server.protocol.events] == [Closed]


def test_install_is_idempotent() -> None:
    install()
    install()
    assert vars(run)["TCPServer"] is TCPServer
