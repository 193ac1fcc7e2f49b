"""The views' first home, kept for its imports: see :mod:`wskit.operations.views`."""

from __future__ import annotations

from .operations.views import WebSocketView as WebSocketView
