"""In-memory testing tools for ASGI applications: :class:`TestClient` and its sessions.

The client runs any ASGI application in the test's own event loop (asyncio or trio), with no
thread, socket or server, and checks what the application sends against the ASGI spec as a
server would::

    async def test_echo() -> None:
        async with TestClient(app) as client:
            async with client.websocket_connect("/echo", subprotocols=["chat"]) as ws:
                await ws.send_text("hello")
                assert await ws.receive_text() == "hello"

Decisions worth knowing, all documented on the methods:

* Every wait is bounded: 5 s by default, times ``WSKIT_TESTS_TIMEOUT_FACTOR``, then
  :class:`~wskit.exceptions.Timeout`. A per-call ``timeout=`` is taken as given.
* The application's exception is re-raised to the test, once: from the ``receive_*``/``send_*``
  call that notices it, from :meth:`WebSocketTestSession.close`, or on leaving the block.
  ``WebSocketDisconnect`` and :class:`ClientDisconnected` escaping the application after the
  handshake are not errors: they only say the client left.
* A handshake the application refuses raises :class:`WebSocketDenied` with the HTTP status a
  server would send: 403 for a close before accept, the denial response's own status, or 500
  when the application returns without answering.
* After the application closes, ``close_code``/``close_reason`` are set and ``receive_*`` raise
  :class:`~wskit.exceptions.WebSocketDisconnect` once the messages sent before the close were
  read. The application's ``receive`` never blocks forever once the client is gone.
* :meth:`WebSocketTestSession.drop` simulates a vanished client: the application's ``receive``
  gets ``websocket.disconnect`` with 1006 and its ``send`` raises :class:`ClientDisconnected`.
"""

from __future__ import annotations

from ._client import TestClient
from ._common import (
    TIMEOUT_FACTOR_ENV,
    ClientDisconnected,
    HTTPResponse,
    LifespanError,
    WebSocketDenied,
)
from ._websocket import WebSocketTestSession

# Tracebacks and reprs name the public module, not the private one that defines the class.
for _public in (ClientDisconnected, HTTPResponse, LifespanError, TestClient, WebSocketDenied):
    _public.__module__ = __name__
WebSocketTestSession.__module__ = __name__
del _public

__all__ = [
    "TIMEOUT_FACTOR_ENV",
    "ClientDisconnected",
    "HTTPResponse",
    "LifespanError",
    "TestClient",
    "WebSocketDenied",
    "WebSocketTestSession",
]
