"""Does one hypercorn process hold 5,000 WebSockets and deliver every broadcast, in order?

The load benchmark lives in :mod:`benchmarks.load` (``python -m benchmarks.load``); this module
only lets ``python -m benchmarks`` run it with the other ``bench_*`` modules, whose options it
accepts (``--quick``: 200 connections, a few seconds; ``--backend``: the server's worker).
"""

from __future__ import annotations

from .load import main

__all__ = ["main"]
