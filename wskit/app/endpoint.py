"""Serving one connection: an endpoint resolved once, and the outcome of its handler.

:func:`run_handler` is the per-connection core shared by :class:`~wskit.app.App` and the
Starlette route of :mod:`wskit.contrib.starlette`: handshake checks, the handler, and the
outcome settled as the table in :mod:`wskit.app.application` says. :class:`EndpointSpec` is one
endpoint resolved once (handler, settings, guards). :func:`refuse` sends a denial.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import anyio
from starlette.websockets import WebSocketState

from wskit._outcome import is_disconnect, log_handler_error, peer
from wskit.connection import WebSocket
from wskit.exceptions import Denied, RemoteProtocolError, WebSocketDisconnect
from wskit.policies import Handshake
from wskit.status import CloseCode, reason_for

from ._guards import GuardSpec
from .routing import Handler

if TYPE_CHECKING:
    from wskit._types import Receive, Scope, Send

__all__ = ["EndpointSpec", "close_open", "refuse", "run_handler"]

_CONNECTING: Final = WebSocketState.CONNECTING
_CONNECTED: Final = WebSocketState.CONNECTED
_DISCONNECTED: Final = WebSocketState.DISCONNECTED


async def refuse(
    ws: WebSocket, denied: Denied, logger: logging.Logger, level: int = logging.DEBUG
) -> None:
    """Send a denial (or close before accept); a client already gone is not an error.

    Logged at ``level`` with the status, the reason and the peer: INFO for a policy's refusal
    (Origin, authentication, subprotocol, connection cap, a ``Denied`` of the handler's own), so
    a client that cannot connect leaves a trace; DEBUG for the rest (unknown path, shutdown).
    """
    logger.log(level, "refusing %s with HTTP %d: %s", peer(ws.scope), denied.status, denied.reason)
    try:
        await ws.deny(denied.status, denied.headers, denied.body)
    except (WebSocketDisconnect, RemoteProtocolError):
        pass


async def close_open(ws: WebSocket, code: int, reason: str) -> None:
    """Close an open connection, shielded and bounded by ``Limits.close_timeout``."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(ws.limits.close_timeout):
        await ws.close(code, reason)


async def _settle_error(ws: WebSocket, exc: Exception, logger: logging.Logger) -> None:
    """Turn a handler's exception into a denial, a close, or nothing (see the table)."""
    state = ws.application_state
    if state is _CONNECTING and isinstance(exc, Denied):
        await refuse(ws, exc, logger, logging.INFO)  # a policy (or the handler) refused it
        return
    if is_disconnect(exc):
        logger.debug("client left %r: %r", ws.scope.get("path", ""), exc)
        code, reason = int(CloseCode.NORMAL_CLOSURE), ""
    else:
        code, reason = log_handler_error(exc, ws.scope, logger)
        if state is _CONNECTING:
            await refuse(ws, Denied(500, b"internal server error"), logger)
            return
    if state is _CONNECTED:
        await close_open(ws, code, reason)


async def run_handler(
    ws: WebSocket,
    handler: Handler,
    handshake: Handshake,
    logger: logging.Logger,
    cancel_scope: anyio.CancelScope | None = None,
) -> None:
    """Run the handshake checks and ``handler(ws)``, and settle the outcome (see the table).

    This is the per-connection core shared by :class:`App` and the Starlette route in
    :mod:`wskit.contrib.starlette`. It never raises, except for cancellation (after closing an
    open connection with 1001).
    """
    try:
        if handshake.enabled:
            await handshake.check(ws)
        await handler(ws)
    except Exception as exc:
        await _settle_error(ws, exc, logger)
    except BaseException as exc:
        # Cancellation (the server stopping, the drain's deadline) is a 1001, never a 1011.
        if isinstance(exc, anyio.get_cancelled_exc_class()) and ws.application_state is _CONNECTED:
            await close_open(ws, CloseCode.GOING_AWAY, reason_for(CloseCode.GOING_AWAY))
        raise
    else:
        state = ws.application_state
        if state is _CONNECTED:
            if cancel_scope is None:
                with anyio.move_on_after(ws.limits.close_timeout):
                    await ws.close(CloseCode.NORMAL_CLOSURE)
                    await ws.finish_close()
                return
            # Reuse the registry's scope for the deadline: one timer less per connection.
            cancel_scope.deadline = anyio.current_time() + ws.limits.close_timeout
            await ws.close(CloseCode.NORMAL_CLOSURE)
        elif state is _CONNECTING:
            logger.debug("handler for %r returned without accepting", ws.scope.get("path", ""))
            await refuse(ws, Denied(403), logger)
            return
    # Closed by this side: read what the client still sends until the server reports the
    # disconnect, so that the server lets go of the stream (see WebSocket.finish_close).
    if ws.application_state is _DISCONNECTED:
        await ws.finish_close()


class EndpointSpec:
    """One endpoint resolved once, at registration: its handler, settings and guards.

    :class:`App` keeps one per route, and the Starlette endpoint in :mod:`wskit.contrib.starlette`
    one for itself, so both build connections the same way.

    Args:
        handler: The endpoint's handler.
        handshake: The endpoint's resolved :class:`~wskit.policies.Handshake`.
    """

    __slots__ = ("guards", "handler", "handshake")

    def __init__(self, handler: Handler, handshake: Handshake) -> None:
        self.handler = handler
        self.handshake = handshake
        #: The after-accept guards, or ``None`` when the endpoint has none (the fast path).
        self.guards = GuardSpec(handshake, handler) if handshake.guarded else None

    def connect(self, scope: Scope, receive: Receive, send: Send) -> tuple[WebSocket, Handler]:
        """Build one connection's ``WebSocket`` and the handler to run it with."""
        guards = self.guards
        if guards is not None:
            return guards.connect(scope, receive, send)
        handshake = self.handshake
        ws = WebSocket(scope, receive, send, codec=handshake.codec, limits=handshake.limits)
        return ws, self.handler
