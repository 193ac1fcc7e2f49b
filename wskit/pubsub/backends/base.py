"""The backend protocol: move opaque bytes between the hubs of many processes.

A backend knows nothing about connections or codecs. Each process has one hub and one
backend; the backend holds *one* subscription for the whole process (the union of the topics
its hub's connections want), and the hub fans each message out locally. The bytes are the
hub's envelopes (:mod:`wskit.pubsub._wire`).

Delivery between processes is **at most once**: a message published while the link is down,
or in flight when it drops, is lost for the other processes (the publishing process still
delivers it locally). Within one link, messages of a topic arrive in publish order.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar, Final, TypeVar

import anyio
import msgspec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection
    from typing import Self

    from anyio.streams.memory import MemoryObjectSendStream

# Counters, offer() and one_reader() are helpers for the backends in this package.
__all__ = ["DEFAULT_MAX_PAYLOAD", "Backend", "BackendStatistics", "HistoryItem"]

T = TypeVar("T")

#: Largest envelope a backend accepts by default (1 MiB). Redis disconnects a pub/sub client
#: whose output buffer passes ``client-output-buffer-limit pubsub`` (32 MiB hard, 8 MiB for
#: 60 s by default), so very large messages hurt every subscriber of the server.
DEFAULT_MAX_PAYLOAD: Final = 2**20

#: One stored message: ``(id, envelope bytes)``; ids increase with publish order.
HistoryItem = tuple[str, bytes]


def offer(inbox: MemoryObjectSendStream[T], item: T) -> bool:
    """Put a received ``item`` in the hub's ``inbox`` without waiting.

    Returns:
        ``False`` when the inbox is full: the item is dropped (a backend counts it).
    """
    try:
        inbox.send_nowait(item)
    except anyio.WouldBlock:
        return False
    return True


def one_reader(stream: T | None, reading: bool, backend: str) -> T:
    """``stream``, the backend's messages, for the hub: a backend's ``messages()``.

    Raises:
        RuntimeError: ``backend`` is not running (no ``stream``), or the stream is being read.
    """
    if stream is None:
        raise RuntimeError(f"the {backend} backend is not running")
    if reading:
        raise RuntimeError("the message stream has one reader: the hub")
    return stream


class BackendStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of one backend.

    Attributes:
        connected: Whether the link to the broker is up (always ``True`` in memory).
        published: Messages handed to the broker.
        received: Messages received from the broker.
        publish_errors: Publishes that failed (the broker was unavailable).
        dropped: Messages lost on the way in (a full inbound buffer).
        disconnects: Times the link went down.
        reconnects: Times the link came back.
        subscriptions: Topics and patterns subscribed at the broker.
    """

    connected: bool
    published: int
    received: int
    publish_errors: int
    dropped: int
    disconnects: int
    reconnects: int
    subscriptions: int


class Counters(msgspec.Struct, kw_only=True):
    """A backend's running counts: what :class:`BackendStatistics` reports of them."""

    published: int = 0
    received: int = 0
    publish_errors: int = 0
    dropped: int = 0
    disconnects: int = 0
    reconnects: int = 0

    def snapshot(self, *, connected: bool, subscriptions: int) -> BackendStatistics:
        """The statistics of a backend with these counts."""
        counts = msgspec.structs.asdict(self)
        return BackendStatistics(connected=connected, subscriptions=subscriptions, **counts)


class Backend(abc.ABC):
    """Publish bytes to topics and receive the bytes of subscribed topics.

    Use it as an async context manager (or ``start()``/``close()`` from one task); a
    :class:`~wskit.pubsub.Hub` does that for the backend it is given if it is not running.
    """

    #: ``True`` when messages never leave this process (``wskit run --workers 2`` warns).
    is_process_local: ClassVar[bool] = False
    #: Whether ``subscribe(..., patterns=True)`` is supported.
    supports_patterns: bool = True
    #: Largest envelope accepted by ``publish``, in bytes (``None``: no limit).
    max_payload: int | None = DEFAULT_MAX_PAYLOAD

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """Whether ``start()`` has run and ``close()`` has not."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect and start background work; call ``close()`` from the same task."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop background work and disconnect; ``messages()`` ends."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def publish(self, topic: str, data: bytes, *, history: int = 0) -> None:
        """Hand ``data`` to the broker for every process subscribed to ``topic``.

        Args:
            topic: The topic.
            data: The envelope.
            history: When positive, also keep the message in the topic's history, which keeps
                about the last ``history`` messages.

        Raises:
            BackendUnavailable: The broker cannot be reached (within the backend's deadline).
        """

    @abc.abstractmethod
    def publish_nowait(self, topic: str, data: bytes, *, history: int = 0) -> None:
        """Queue ``data`` for the broker without waiting.

        Raises:
            WouldBlock: The outgoing buffer is full.
            BackendUnavailable: The broker is known to be unreachable.
        """

    @abc.abstractmethod
    async def subscribe(self, topics: Collection[str], *, patterns: bool = False) -> None:
        """Receive the messages of ``topics`` (glob ``patterns`` with ``*`` and ``?``).

        The subscription is remembered and renewed after a reconnection; while the broker is
        down this records it and returns.
        """

    @abc.abstractmethod
    async def unsubscribe(self, topics: Collection[str], *, patterns: bool = False) -> None:
        """Stop receiving the messages of ``topics``."""

    @abc.abstractmethod
    def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """The one stream of ``(topic, data)`` received, for the hub's single reader."""

    @abc.abstractmethod
    async def history(
        self, topic: str, *, after: str | None = None, limit: int | None = None
    ) -> list[HistoryItem]:
        """The kept messages of ``topic`` after the one with id ``after``, oldest first."""

    @abc.abstractmethod
    def statistics(self) -> BackendStatistics:
        """A snapshot of the backend's counters."""
