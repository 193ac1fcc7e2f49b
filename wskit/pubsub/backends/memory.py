"""The in-memory backend: one process, no network.

:class:`MemoryBackend` is the default backend of a :class:`~wskit.pubsub.Hub`. On its own it
does nothing visible: the hub already delivers every message to its local subscribers. Several
backends sharing one :class:`MemoryBroker` behave like processes sharing one Redis (each has
its own subscriptions and inbound buffer; each message reaches every other backend subscribed
to its topic), which is how the contract tests run the same suite on memory and Redis.

The broker never blocks a publisher: a backend whose inbound buffer is full loses the message
(counted in its ``dropped`` statistic), as Redis disconnects a subscriber that falls too far
behind. The objects are process-local (``is_process_local = True``): ``wskit run --workers 2``
warns about them, because each worker would get its own broker.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, ClassVar

import anyio

from wskit.exceptions import BackendUnavailable, MessageTooBig

from ..history import MemoryHistory
from .base import DEFAULT_MAX_PAYLOAD, Backend, Counters, HistoryItem, offer, one_reader

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Collection

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from .base import BackendStatistics

__all__ = ["MemoryBackend", "MemoryBroker"]


class MemoryBroker:
    """A message bus for the backends of one process (what Redis is to many processes)."""

    is_process_local: ClassVar[bool] = True

    def __init__(self) -> None:
        self._backends: list[MemoryBackend] = []
        self.history = MemoryHistory()

    def attach(self, backend: MemoryBackend) -> None:
        """Connect ``backend`` to the bus."""
        self._backends.append(backend)

    def detach(self, backend: MemoryBackend) -> None:
        """Disconnect ``backend`` from the bus."""
        if backend in self._backends:
            self._backends.remove(backend)

    def publish(self, sender: MemoryBackend, topic: str, data: bytes, history: int) -> None:
        """Deliver ``data`` to every other attached backend subscribed to ``topic``."""
        if history > 0:
            self.history.append(topic, data, history)
        for backend in self._backends:
            if backend is not sender and backend.wants(topic):
                backend.deliver(topic, data)


class MemoryBackend(Backend):
    """The in-process backend (see the module docstring).

    Args:
        broker: The bus to share with other backends; a new private one by default.
        max_buffer: Inbound messages buffered for the hub's reader before new ones are dropped.
        max_payload: Largest envelope accepted, in bytes (``None``: no limit).
    """

    is_process_local: ClassVar[bool] = True

    def __init__(
        self,
        broker: MemoryBroker | None = None,
        *,
        max_buffer: int = 10_000,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.broker = broker if broker is not None else MemoryBroker()
        self.max_payload = max_payload
        self._max_buffer = max_buffer
        self._topics: set[str] = set()
        self._patterns: dict[str, Callable[[str], object]] = {}
        self._send: MemoryObjectSendStream[tuple[str, bytes]] | None = None
        self._receive: MemoryObjectReceiveStream[tuple[str, bytes]] | None = None
        self._reading = False
        self._counts = Counters()

    @property
    def running(self) -> bool:
        """Whether the backend is attached to its broker."""
        return self._send is not None

    async def start(self) -> None:
        """Attach to the broker."""
        if self._send is not None:
            raise RuntimeError("the backend is already running")
        self._send, self._receive = anyio.create_memory_object_stream[tuple[str, bytes]](
            self._max_buffer
        )
        self.broker.attach(self)

    async def close(self) -> None:
        """Detach from the broker; the message stream ends."""
        self.broker.detach(self)
        if self._send is not None:
            self._send.close()
            self._send = None
        if self._receive is not None:
            self._receive.close()
            self._receive = None
        self._reading = False

    def wants(self, topic: str) -> bool:
        """Whether a message of ``topic`` is for this backend."""
        if topic in self._topics:
            return True
        return any(match(topic) for match in self._patterns.values())

    def deliver(self, topic: str, data: bytes) -> None:
        """Take one message from the broker (dropped when the inbound buffer is full)."""
        assert self._send is not None  # the broker only delivers to attached backends
        if offer(self._send, (topic, data)):
            self._counts.received += 1
        else:
            self._counts.dropped += 1

    def _check(self, data: bytes) -> None:
        if self._send is None:
            raise BackendUnavailable("the memory backend is not running")
        if self.max_payload is not None and len(data) > self.max_payload:
            raise MessageTooBig(len(data), self.max_payload, "publish")

    async def publish(self, topic: str, data: bytes, *, history: int = 0) -> None:
        """Deliver ``data`` to the other backends of the broker (never waits, never yields)."""
        self.publish_nowait(topic, data, history=history)

    def publish_nowait(self, topic: str, data: bytes, *, history: int = 0) -> None:
        """Deliver ``data`` to the other backends of the broker."""
        self._check(data)
        self._counts.published += 1
        self.broker.publish(self, topic, data, history)

    async def subscribe(self, topics: Collection[str], *, patterns: bool = False) -> None:
        """Receive the messages of ``topics`` (or of topics matching glob ``patterns``)."""
        if patterns:
            for pattern in topics:
                self._patterns[pattern] = re.compile(fnmatch.translate(pattern)).fullmatch
        else:
            self._topics.update(topics)
        await anyio.lowlevel.checkpoint()

    async def unsubscribe(self, topics: Collection[str], *, patterns: bool = False) -> None:
        """Stop receiving the messages of ``topics``."""
        for topic in topics:
            if patterns:
                self._patterns.pop(topic, None)
            else:
                self._topics.discard(topic)
        await anyio.lowlevel.checkpoint()

    def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """The stream of messages from the other backends of the broker."""
        stream = one_reader(self._receive, self._reading, "memory")
        self._reading = True
        return stream

    async def history(
        self, topic: str, *, after: str | None = None, limit: int | None = None
    ) -> list[HistoryItem]:
        """The kept messages of ``topic`` after id ``after``."""
        await anyio.lowlevel.checkpoint()
        return self.broker.history.range(topic, after, limit)

    def statistics(self) -> BackendStatistics:
        """The backend's counters."""
        subscriptions = len(self._topics) + len(self._patterns)
        return self._counts.snapshot(connected=self._send is not None, subscriptions=subscriptions)
