"""The app's message limit, and the running server's: a server's limit must not be below it.

wskit checks every inbound message against its route's ``Limits.max_message_size`` and closes
with 1009 and a reason. The server buffers a whole message before wskit sees it, so the server
needs a limit too, and it must not be below the app's: a server that refuses first answers in
its own way. :func:`app_message_limit` finds the app's largest limit by walking the app: a
:class:`~wskit.app.App` (its routes and mounted apps: anything with a ``Handshake`` and
``routes``), Starlette routers and mounts holding
:mod:`wskit.contrib.starlette` routes or endpoints (anything with a ``wskit_endpoint``), and
middleware (through ``.app``). ``wskit run`` gives the server that limit
(:mod:`wskit.serving.limits`).

Under a server started by other means (``hypercorn app:app``, ``uvicorn app:app``), a
``wskit.App`` checks at lifespan startup (:func:`check_server_limit`) what it can see of the
server's limit (hypercorn's ``websocket_max_message_size`` or uvicorn's ``ws_max_size``, read
from the server's config on the call stack of the lifespan call) and warns once when it is
below the app's largest.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Final

from wskit.policies import Handshake

from .routing import Route

__all__ = ["UNLIMITED", "app_message_limit", "check_server_limit", "running_server_limit"]

logger = logging.getLogger("wskit.server")

#: What :func:`app_message_limit` returns for a route without a limit.
UNLIMITED: Final = -1
_MAX_NODES: Final = 10_000


def _limits(node: object, seen: set[int]) -> Iterator[int | None]:
    """The inbound limits of the wskit endpoints reachable from ``node`` (``None``: unlimited)."""
    stack = [node]
    while stack and len(seen) < _MAX_NODES:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        handshake = getattr(obj, "handshake", None)
        routes = getattr(obj, "routes", None)
        if isinstance(handshake, Handshake) and isinstance(routes, tuple | list):  # a wskit App
            for route in routes:
                if isinstance(route, Route):
                    yield handshake.override(route.options).limits.max_message_size
                else:  # a mount: its app
                    stack.append(route.app)
            continue
        # A wskit.contrib.starlette route or endpoint (an endpoint is its own wskit_endpoint).
        handshake = getattr(getattr(obj, "wskit_endpoint", None), "handshake", None)
        if isinstance(handshake, Handshake):
            yield handshake.limits.max_message_size
            continue
        routes = getattr(obj, "routes", None)  # Starlette apps, routers and mounts
        if isinstance(routes, list | tuple):
            stack.extend(routes)
        for name in ("app", "router"):  # middleware, Starlette's Mount and app
            child = getattr(obj, name, None)
            if child is not None and not isinstance(child, type):
                stack.append(child)


def app_message_limit(app: object) -> int | None:
    """The largest inbound message limit among the app's wskit endpoints.

    Returns:
        The limit in bytes; :data:`UNLIMITED` when an endpoint has none; ``None`` when the
        walk found no wskit endpoint.
    """
    found: int | None = None
    for limit in _limits(app, set()):
        if limit is None:
            return UNLIMITED
        found = limit if found is None else max(found, limit)
    return found


#: The config attributes that hold a server's WebSocket message limit, and the setting's name.
_SERVER_LIMITS: Final = {
    "websocket_max_message_size": "hypercorn's websocket_max_message_size",
    "ws_max_size": "uvicorn's --ws-max-size",
}


def running_server_limit() -> tuple[int, str] | None:
    """The message limit of the server running this lifespan call, and its setting's name.

    Found on the call stack: the server object whose ``config`` carries a known limit
    attribute (hypercorn and uvicorn). ``None`` when none is seen (granian, tests).
    """
    frame: FrameType | None = sys._getframe(1)
    for _ in range(64):
        if frame is None:
            break
        config = getattr(frame.f_locals.get("self"), "config", None)
        for attribute, setting in _SERVER_LIMITS.items():
            value = getattr(config, attribute, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value, setting
        frame = frame.f_back
    return None


def check_server_limit(app: object) -> None:
    """Warn once when the running server's message limit is below the app's largest."""
    seen = running_server_limit()
    limit = app_message_limit(app)
    if seen is None or limit is None:
        return
    size, setting = seen
    if limit == UNLIMITED or size < limit:
        app_limit = "no limit" if limit == UNLIMITED else f"{limit} bytes"
        logger.warning(
            "the server's WebSocket message limit (%d bytes, %s) is below the app's largest "
            "(%s): larger messages get the server's refusal, not wskit's 1009; raise it "
            "(or serve with wskit run, which sets it from the app)",
            size,
            setting,
            app_limit,
        )
