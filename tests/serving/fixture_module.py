"""A module whose app reaches a process-local object only through a handler's globals."""

from __future__ import annotations

from wskit._types import Receive, Scope, Send


class LocalBackend:
    """Stands in for the in-memory pub/sub backend."""

    is_process_local = True


backend = LocalBackend()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Names ``backend`` in its code, so the check finds it through ``__globals__``."""
    _ = backend
