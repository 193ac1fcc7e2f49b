"""How a handler's ending maps to a close code and a log record, shared by every layer.

``async with ws:``, the App, views and operation routers all see a handler's exception; this
module makes them agree: the client leaving is a normal end, wskit errors that blame the client
keep their close code and log one WARNING, anything else is logged once at ERROR with its
traceback and closes with 1011 — however many layers the exception passes through.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from starlette.websockets import WebSocketDisconnect

from .exceptions import WskitError
from .status import CloseCode

if TYPE_CHECKING:
    from ._types import Scope

__all__ = ["is_disconnect", "log_handler_error"]

#: The attribute set on an exception once it has been logged.
LOGGED: Final = "_wskit_logged"
_logger: Final = logging.getLogger("wskit.connection")


def is_disconnect(exc: BaseException) -> bool:
    """Tell whether ``exc`` (or every exception of a group) is the client leaving."""
    if isinstance(exc, WebSocketDisconnect):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(WebSocketDisconnect)[1] is None
    return False


def log_handler_error(exc: BaseException, scope: Scope, logger: logging.Logger = _logger) -> int:
    """Log a handler's exception once and return the close code it maps to.

    wskit errors that carry a client-side close code (1003, 1007, 1008, 1009) are logged at
    WARNING without a traceback; anything else is a server error: ERROR with the traceback,
    close 1011. An exception is logged once however many layers see it.
    """
    close_code = getattr(exc, "close_code", None)
    client_fault = isinstance(exc, WskitError) and close_code is not None and close_code != 1011
    if not getattr(exc, LOGGED, False):
        try:
            setattr(exc, LOGGED, True)
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass
        path = scope.get("path", "")
        if client_fault:
            logger.warning("closing %r with %s: %s", path, close_code, exc)
        else:
            logger.error("WebSocket handler for %r raised", path, exc_info=exc)
    return int(close_code) if client_fault and close_code else int(CloseCode.INTERNAL_ERROR)
