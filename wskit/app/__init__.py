"""The App layer: serving WebSocket endpoints, for an ASGI server or a parent framework.

:class:`App` (:mod:`~wskit.app.application`) routes paths (:mod:`~wskit.app.routing`) to
handlers, runs the handshake policies and the guards of an open connection (rate limit, idle
timeout, lifespan), settles each handler's outcome, runs the lifespan and drains on shutdown.
:class:`Registry` (:mod:`~wskit.app.registry`) tracks live connections for the connection cap
and the drain, for an App or for Starlette routes (:mod:`wskit.contrib.starlette`); each
connection is served by :mod:`~wskit.app.endpoint`.
"""

from __future__ import annotations

from .application import App as App
from .application import Lifespan as Lifespan
from .registry import Registry as Registry

__all__ = ["App", "Lifespan", "Registry"]
