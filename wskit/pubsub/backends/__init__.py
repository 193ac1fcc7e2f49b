"""Backends that carry a hub's messages between processes.

``MemoryBackend`` (one process) is always available; ``RedisBackend`` needs the ``redis``
extra (coredis) and is imported on first use, so ``import wskit.pubsub`` never imports coredis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name == "RedisBackend":
        from .redis import RedisBackend

        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
