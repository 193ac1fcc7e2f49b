"""The registry's first home, kept for its imports: see :mod:`wskit.app.registry`."""

from __future__ import annotations

from .app.endpoint import EndpointSpec as EndpointSpec
from .app.endpoint import refuse as refuse
from .app.endpoint import run_handler as run_handler
from .app.registry import SHUTDOWN_REASON as SHUTDOWN_REASON
from .app.registry import Registry as Registry
