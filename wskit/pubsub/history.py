"""Topic history: the last messages of a topic, so a reconnecting client can catch up.

With ``Hub(history=N)`` every publish also stores the message's envelope; the store keeps
about the last ``N`` of each topic. ``await hub.history(topic, after=last_id)`` returns the
kept messages published after ``last_id``, oldest first, as :class:`HistoryEntry` values.

Two stores implement it:

* :class:`MemoryHistory`, a ring buffer per topic (``collections.deque(maxlen=N)``), shared by
  the hubs of one :class:`~wskit.pubsub.MemoryBroker`. Ids are decimal strings that grow by one.
* :class:`RedisStreamHistory`, a Redis Stream per topic: ``XADD key MAXLEN ~ N * d <data>``
  in the same pipeline as the ``PUBLISH``, and ``XRANGE key (after + COUNT limit`` to read.
  ``~`` lets Redis trim whole radix-tree nodes, so slightly more than ``N`` entries may stay.
  The key shares the channel's hash tag, so both live on the same cluster node. Ids are
  Redis stream ids (``"1700000000000-0"``).

History is a catch-up aid, not a delivery guarantee: a subscriber that wants no gap subscribes
first, then reads the history, and drops duplicates by an id of its own in the message.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from wskit.codecs import JSON, MSGPACK, Codec

from ._wire import BINARY, ENCODED_BINARY, TEXT

if TYPE_CHECKING:
    from .backends.base import HistoryItem

__all__ = ["HistoryEntry", "MemoryHistory", "RedisStreamHistory"]

T = TypeVar("T")

_CODECS: dict[str, Codec] = {JSON.name: JSON, MSGPACK.name: MSGPACK}


class HistoryEntry(msgspec.Struct, frozen=True):
    """One kept message.

    Attributes:
        id: Its id in the store; pass it as ``after`` to read what came next.
        topic: The topic it was published to.
        kind: What ``body`` holds (see :mod:`wskit.pubsub._wire`).
        codec: The name of the codec that encoded ``body`` (``""`` for a raw str/bytes).
        body: The encoded message.
    """

    id: str
    topic: str
    kind: int
    codec: str
    body: bytes

    @property
    def frame(self) -> str | bytes:
        """The frame as published: ``str`` for text, ``bytes`` for binary."""
        if self.kind == BINARY or self.kind == ENCODED_BINARY:
            return self.body
        return self.body.decode()

    def value(self, tp: type[T] | Any = Any, *, codec: Codec | None = None) -> T:
        """Decode the message into ``tp`` (a raw ``str``/``bytes`` message is returned as is).

        Args:
            tp: The type to decode into.
            codec: The codec to decode with; by default the built-in codec named ``codec``.

        Raises:
            DecodeError: The body does not decode with that codec.
            LookupError: No codec is known by the entry's codec name.
        """
        if self.kind == TEXT or self.kind == BINARY:
            return self.frame  # type: ignore[return-value]
        if codec is None:
            try:
                codec = _CODECS[self.codec]
            except KeyError:
                raise LookupError(f"no codec named {self.codec!r}: pass codec=") from None
        value: T = codec.decode(self.body, tp)
        return value


class MemoryHistory:
    """Ring buffers of envelopes, one per topic, with increasing ids."""

    __slots__ = ("_buffers", "_next")

    def __init__(self) -> None:
        self._buffers: dict[str, deque[tuple[int, bytes]]] = {}
        self._next = 1

    def append(self, topic: str, data: bytes, maxlen: int) -> str:
        """Keep ``data`` as the newest message of ``topic`` (at most ``maxlen`` kept)."""
        buffer = self._buffers.get(topic)
        if buffer is None or (buffer.maxlen or 0) < maxlen:
            buffer = self._buffers[topic] = deque(buffer or (), maxlen=maxlen)
        ident = self._next
        self._next += 1
        buffer.append((ident, data))
        return str(ident)

    def range(self, topic: str, after: str | None, limit: int | None) -> list[HistoryItem]:
        """Messages of ``topic`` after id ``after`` (all kept ones when ``None``), oldest first.

        Raises:
            ValueError: ``after`` is not an id of this store.
        """
        buffer = self._buffers.get(topic)
        if not buffer:
            return []
        start = 0 if after is None else int(after)
        items = [(str(ident), data) for ident, data in buffer if ident > start]
        return items if limit is None else items[:limit]


class RedisStreamHistory:
    """Topic history in Redis Streams (see the module docstring).

    Args:
        key: Maps a topic to its stream key.
    """

    __slots__ = ("_key",)

    def __init__(self, key: Any) -> None:
        self._key = key

    def key(self, topic: str) -> str:
        """The stream key of ``topic``."""
        return str(self._key(topic))

    def append(self, pipeline: Any, topic: str, data: bytes, maxlen: int) -> None:
        """Queue ``XADD <key> MAXLEN ~ <maxlen> * d <data>`` on a coredis pipeline."""
        from coredis.tokens import PureToken

        pipeline.xadd(
            self.key(topic),
            {b"d": data},
            trim_strategy=PureToken.MAXLEN,
            trim_operator=PureToken.APPROXIMATELY,
            threshold=maxlen,
        )

    async def range(
        self, client: Any, topic: str, after: str | None, limit: int | None
    ) -> list[HistoryItem]:
        """``XRANGE <key> (<after> + [COUNT limit]``: entries after ``after``, oldest first."""
        start = "-" if after is None else f"({after}"
        entries = await client.xrange(self.key(topic), start, "+", count=limit)
        items: list[HistoryItem] = []
        for entry in entries:
            ident = entry.identifier
            data = entry.field_values.get(b"d")
            if data is not None:
                items.append((ident.decode() if isinstance(ident, bytes) else str(ident), data))
        return items
