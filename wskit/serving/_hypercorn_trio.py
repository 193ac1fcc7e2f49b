"""A correction to hypercorn 0.18.0's trio worker, installed when wskit serves on it.

hypercorn's trio ``TCPServer`` writes to a connection's socket under a lock, except when it
closes the connection: ``_close()`` calls ``send_eof()`` without that lock. When a client's
close frame arrives while the app's close is being flushed (a short-lived WebSocket that the
server sends one message on and closes, as a health or statistics endpoint does), the reply
to the client's close can start while ``send_eof()`` is in progress, and trio refuses the
second writer with ``trio.BusyResourceError``. hypercorn catches the errors of a closed or
broken socket there, not that one, so it escapes the connection's task and ends the whole
worker: every connection of the process drops, and ``wskit run`` exits.

:class:`TCPServer` treats that refusal as what it means, the connection is closing: the
write is dropped (the peer gets the EOF that was being sent) and the protocol is told the
connection closed, as for a broken socket. :func:`install` puts it where hypercorn's trio
``worker_serve`` looks for its connection class (idempotent; other servers are untouched).
The asyncio worker has no such race (its writes and its close share one transport).
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.events import Closed
from hypercorn.trio import run as _run
from hypercorn.trio.tcp_server import TCPServer as _HypercornTCPServer

__all__ = ["TCPServer", "install"]


class TCPServer(_HypercornTCPServer):
    """hypercorn's trio connection, for which a write refused mid-close means "closed"."""

    async def protocol_send(self, event: Any) -> None:
        try:
            await super().protocol_send(event)
        except trio.BusyResourceError:  # _close() is sending the EOF in another task
            await self.protocol.handle(Closed())


def install() -> None:
    """Make hypercorn's trio ``worker_serve`` use :class:`TCPServer` for its connections."""
    namespace = vars(_run)  # the name worker_serve reads at each call
    if namespace.get("TCPServer") is _HypercornTCPServer:
        namespace["TCPServer"] = TCPServer
