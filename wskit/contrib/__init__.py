"""Integrations with web frameworks.

wskit needs no integration to run inside a framework that can mount an ASGI app: mount a
:class:`wskit.App` (Starlette ``Mount``, Litestar ``@asgi(..., is_mount=True)``, a Django ASGI
dispatcher). The modules here go further for one framework each:

* :mod:`wskit.contrib.starlette`: a Starlette route whose handler receives a
  :class:`wskit.WebSocket`, with wskit's policies, outcome rules and drain.
"""

from __future__ import annotations

__all__: list[str] = []
