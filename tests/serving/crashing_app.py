"""An app module that imports in the parent but makes every worker process exit with 3."""

from __future__ import annotations

import multiprocessing

from tests.serving.fixture_module import app

if multiprocessing.parent_process() is not None:
    raise SystemExit(3)

__all__ = ["app"]
