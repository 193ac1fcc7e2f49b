"""The registry's first home, kept for its imports: see :mod:`wskit.app.registry`."""

from __future__ import annotations

from .app.registry import SHUTDOWN_REASON as SHUTDOWN_REASON
from .app.registry import EndpointSpec as EndpointSpec
from .app.registry import Registry as Registry
from .app.registry import refuse as refuse
from .app.registry import run_handler as run_handler
