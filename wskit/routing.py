"""Routing's first home, kept for its imports: see :mod:`wskit.app.routing`."""

from __future__ import annotations

from .app.routing import Handler as Handler
from .app.routing import Mount as Mount
from .app.routing import Route as Route
from .app.routing import RouteTable as RouteTable
from .app.routing import route_path as route_path
