"""Backends that carry a hub's messages between processes.

``MemoryBackend`` (one process) is always available; ``RedisBackend`` needs the ``redis``
extra (coredis) and is imported on first use, so ``import wskit.pubsub`` never imports coredis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..._extras import require
from .base import DEFAULT_MAX_PAYLOAD, Backend, BackendStatistics, HistoryItem
from .memory import MemoryBackend, MemoryBroker

if TYPE_CHECKING:
    from .redis import RedisBackend

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "Backend",
    "BackendStatistics",
    "HistoryItem",
    "MemoryBackend",
    "MemoryBroker",
    "RedisBackend",
]


def lazy_redis_backend(module: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``RedisBackend`` when it is first asked for.

    ``wskit``, ``wskit.pubsub`` and this package export ``RedisBackend`` this way, so that
    importing them never imports coredis; without the ``redis`` extra the import raises
    :class:`~wskit.exceptions.MissingExtra`.
    """

    def __getattr__(name: str) -> Any:
        if name == "RedisBackend":
            require("redis", "RedisBackend")
            from .redis import RedisBackend

            return RedisBackend
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


__getattr__ = lazy_redis_backend(__name__)
