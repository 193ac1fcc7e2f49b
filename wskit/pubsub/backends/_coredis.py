"""What wskit corrects in coredis (6.9.0) for :mod:`wskit.pubsub.backends.redis`, its one user.

* **Streams left open**: a connection whose connect fails, and the cluster layout, keep anyio
  memory streams that anyio warns about when they are collected (:func:`tidy`,
  :func:`close_cluster_layout`).
* **Leases never given back**: ``ShardedPubSub`` keeps the connections it leases
  (:class:`Leases`, :func:`give_back`).
* **A failure logged twice**: coredis logs every failed connection attempt at ERROR, with a
  traceback, and raises it to its caller too, once per attempt: against a Redis that hangs,
  that is an ERROR a second. The backend reports the same failure itself, once per outage
  (WARNING "redis link is down"; DEBUG for each further attempt) or as the
  ``BackendUnavailable`` a publisher gets, so :func:`quiet_connection_failures` drops those
  records of the ``coredis`` logger: ERROR records that carry no exception, or a transport
  failure (``OSError``, a timeout, coredis's ``ConnectionError``) or a cancellation (wskit's
  own deadlines). Every other coredis record, and every record below ERROR, is kept.

Each correction is checked by a test against a real redis-server that fails without it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from coredis.exceptions import ConnectionError as RedisConnectionError

__all__ = [
    "Leases",
    "close_cluster_layout",
    "close_streams",
    "give_back",
    "quiet_connection_failures",
    "tidy",
]

#: The exceptions of a connection attempt that the backend reports in its own record.
_TRANSPORT: Final = (OSError, TimeoutError, RedisConnectionError)


# -- logging --------------------------------------------------------------------------------


def _cancellation(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.CancelledError):
        return True
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(exc, trio.Cancelled)


class _ConnectionFailures(logging.Filter):
    """Drops coredis's ERROR records of failed connection attempts (see the module's doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or record.exc_info is None:
            return True
        exc = record.exc_info[1]
        return not (exc is None or isinstance(exc, _TRANSPORT) or _cancellation(exc))


_FILTER: Final = _ConnectionFailures()


def quiet_connection_failures() -> None:
    """Drop, from the ``coredis`` logger, the records of failures the backend reports itself.

    Idempotent; called by every :class:`~wskit.pubsub.backends.redis.RedisBackend`.
    """
    logging.getLogger("coredis").addFilter(_FILTER)


# -- streams --------------------------------------------------------------------------------
# coredis 6.9 opens anyio memory streams it never closes in two places: a connection whose
# connect fails (Redis down: one per reconnection attempt) and the cluster layout. Left open,
# anyio warns (``ResourceWarning: Unclosed MemoryObjectSendStream``) when they are collected.
# These helpers close them, without naming coredis' private attributes.


def close_streams(obj: object) -> None:
    for value in list(vars(obj).values()):
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, MemoryObjectSendStream | MemoryObjectReceiveStream):
                item.close()


_TIDY_CLASSES: dict[type[Any], type[Any]] = {}


def tidy(base: type[Any]) -> type[Any]:
    """A subclass of a coredis connection class that closes its streams when it ends."""
    tidy = _TIDY_CLASSES.get(base)
    if tidy is None:

        class Tidy(base):  # type: ignore[misc]
            async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
                try:
                    await super().run(task_status=task_status)
                finally:
                    close_streams(self)

        Tidy.__name__ = Tidy.__qualname__ = f"Tidy{base.__name__}"
        tidy = _TIDY_CLASSES[base] = Tidy
    return tidy


# -- leases ---------------------------------------------------------------------------------


class Leases:
    """A cluster pool as a link's ``ShardedPubSub`` sees it: what it leases is given back once.

    coredis 6.9.0's ``ShardedPubSub.run`` enters one ``pool.acquire(node=...)`` context per
    master into an ``AsyncExitStack`` that it never closes. Those contexts are async
    generators: the garbage collector finalizes them later, often after the pool has closed
    and after it cleared the weak references the pool's statistics keep, so the late release
    fails with a ``KeyError`` in a task nobody awaits (asyncio logs "Task exception was never
    retrieved"; trio reports an exception ignored during the finalization of an async
    generator, which pytest turns into a failure). Here ``acquire`` returns a plain context
    manager (nothing for the collector to finalize), and :func:`give_back` releases what
    coredis kept, once, when the link ends and while the pool is still open. Should coredis
    close its stack one day, each connection is still released once.
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        #: Connections leased and not given back yet.
        self.held: list[Any] = []

    def __getattr__(self, name: str) -> Any:  # everything else is the pool's
        return getattr(self.pool, name)

    def acquire(self, node: Any = None, primary: bool = True, **options: Any) -> Lease:
        """A lease of one connection (to ``node``) from the pool."""
        return Lease(self, node, primary)

    def give_back(self, connection: Any) -> None:
        """Release ``connection`` to the pool unless it was released already."""
        if connection in self.held:
            self.held.remove(connection)
            self.pool.release(connection)


class Lease:
    __slots__ = ("connection", "leases", "node", "primary")

    def __init__(self, leases: Leases, node: Any, primary: bool) -> None:
        self.leases, self.node, self.primary = leases, node, primary
        self.connection: Any = None

    async def __aenter__(self) -> Any:
        self.connection = await self.leases.pool.get_connection(
            node=self.node, primary=self.primary
        )
        self.leases.held.append(self.connection)
        return self.connection

    async def __aexit__(self, *exc_info: object) -> None:
        self.leases.give_back(self.connection)


def give_back(pubsub: Any) -> None:
    """Release the connections a sharded pubsub leased and kept (see :class:`Leases`)."""
    leases = pubsub.connection_pool
    if isinstance(leases, Leases):
        while leases.held:
            leases.give_back(leases.held[-1])


def close_cluster_layout(client: Any) -> None:
    layout = getattr(getattr(client, "connection_pool", None), "cluster_layout", None)
    if layout is not None:
        close_streams(layout)
