"""How a handler's ending maps to a close code, a reason and one log record, for every layer.

``async with ws:``, views, operation routers, the App and the Starlette route all see a
handler's exception; this module makes them agree, so that one failure is one log record
however many layers it passes through, and whatever serves the app:

* the client left (``WebSocketDisconnect``): a normal end; nothing is sent or logged;
* a **client fault**, a wskit error whose close code blames the client (1002, 1003, 1007, 1008,
  1009 or an application code): closed with that code and the error's ``close_reason``, one
  WARNING without a traceback, and the error stops where it was caught (``async with ws:`` and
  views swallow it as they swallow a disconnect, so no server logs it again);
* anything else, a **server error**: closed with 1011 "internal error" (never the exception's
  text) on the way out, and logged once, ERROR with the traceback, where it stops: the App or
  the Starlette route (on their logger), an operation router (by its policy), or, in a bare
  ASGI app, the ASGI server itself: ``async with ws:`` and views re-raise it without logging.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from .exceptions import WebSocketDisconnect, WskitError
from .status import CloseCode, fit_reason, reason_for

if TYPE_CHECKING:
    from ._types import Scope

__all__ = [
    "INTERNAL_ERROR",
    "client_fault",
    "is_disconnect",
    "log_client_fault",
    "log_handler_error",
    "peer",
]

#: The attribute set on an exception once it has been logged.
LOGGED: Final = "_wskit_logged"
#: The close of a server error: 1011 and a generic reason, nothing of the exception.
INTERNAL_ERROR: Final = (int(CloseCode.INTERNAL_ERROR), reason_for(CloseCode.INTERNAL_ERROR))
_logger: Final = logging.getLogger("wskit.connection")


def is_disconnect(exc: BaseException) -> bool:
    """Tell whether ``exc`` (or every exception of a group) is the client leaving."""
    if isinstance(exc, WebSocketDisconnect):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(WebSocketDisconnect)[1] is None
    return False


def client_fault(exc: BaseException) -> tuple[int, str] | None:
    """The close code and reason of a client fault, or ``None`` for a server error."""
    if not isinstance(exc, WskitError):
        return None
    code = exc.close_code
    if code is None or code == CloseCode.INTERNAL_ERROR:
        return None
    return int(code), fit_reason(exc.close_reason)


def peer(scope: Scope) -> str:
    """``'/path' from host:port``: where a connection goes and where it comes from."""
    client = scope.get("client")
    path = scope.get("path", "")
    if isinstance(client, list | tuple) and len(client) == 2:
        return f"{path!r} from {client[0]}:{client[1]}"
    return f"{path!r}"


def _first_time(exc: BaseException) -> bool:
    if getattr(exc, LOGGED, False):
        return False
    try:
        setattr(exc, LOGGED, True)
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        pass
    return True


def log_client_fault(
    exc: BaseException, fault: tuple[int, str], scope: Scope, logger: logging.Logger = _logger
) -> None:
    """Log a client fault once: WARNING, the close code and the error, no traceback."""
    if _first_time(exc):
        logger.warning("closing %s with %d: %s", peer(scope), fault[0], exc)


def log_handler_error(
    exc: BaseException, scope: Scope, logger: logging.Logger = _logger
) -> tuple[int, str]:
    """Log a handler's exception once and return the close code and reason it maps to.

    For the layers that stop an exception (the App, the Starlette route, an operation router):
    a client fault is one WARNING without a traceback; anything else is one ERROR with the
    traceback, and closes with 1011 "internal error".
    """
    fault = client_fault(exc)
    if fault is not None:
        log_client_fault(exc, fault, scope, logger)
        return fault
    if _first_time(exc):
        logger.error("WebSocket handler for %s raised", peer(scope), exc_info=exc)
    return INTERNAL_ERROR
