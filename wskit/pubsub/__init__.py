"""Pub/sub for WebSocket connections: the :class:`Hub` and its backends.

``Hub`` fans messages out to local connections through bounded outboxes; a backend carries
them between processes (``MemoryBackend`` for one process, ``RedisBackend`` for many). See
``docs/topics/pubsub.md`` for the delivery guarantees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backends import lazy_redis_backend
from .backends.base import Backend, BackendStatistics
from .backends.memory import MemoryBackend, MemoryBroker
from .history import HistoryEntry
from .hub import Hub
from .outbox import OverflowPolicy, Subscriber
from .topics import HubStatistics, Topic

if TYPE_CHECKING:
    from .backends.redis import RedisBackend

__all__ = [
    "Backend",
    "BackendStatistics",
    "HistoryEntry",
    "Hub",
    "HubStatistics",
    "MemoryBackend",
    "MemoryBroker",
    "OverflowPolicy",
    "RedisBackend",
    "Subscriber",
    "Topic",
]


__getattr__ = lazy_redis_backend(__name__)
