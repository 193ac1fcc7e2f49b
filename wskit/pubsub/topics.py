"""Topic names, glob patterns, typed topics, and the hub's statistics record.

A topic is any non-empty string. A *pattern* is a topic name with ``*`` (any run of
characters, dots included) and ``?`` (one character); it is compiled once, when the first
connection subscribes with ``pattern=True``, and only evaluated on the slow path (publishes to
topics that nobody subscribed to by exact name, and when the recipient list of a topic is
rebuilt after a change). ``[``, ``]`` and ``\\`` are refused so that the same pattern means
the same thing to ``fnmatch`` here and to Redis ``PSUBSCRIBE`` in other processes.

A *typed topic* checks every published value against its type before anything is encoded:
``hub.topic("chat", type=ChatMessage)`` returns a :class:`Topic` handle whose ``publish``
takes a ``ChatMessage``, and remote messages of that topic are decoded into ``ChatMessage``
when they must be re-encoded for a connection with another codec.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

    from .history import HistoryEntry
    from .hub import Hub
    from .outbox import OverflowPolicy, Subscriber

__all__ = ["HubStatistics", "Topic", "compile_pattern", "type_check", "validate_topic"]

T = TypeVar("T")

_REFUSED = re.compile(r"[\[\]\\]")


def validate_topic(topic: str) -> str:
    """Check that ``topic`` is a non-empty ``str``.

    Raises:
        TypeError: ``topic`` is not a ``str``.
        ValueError: ``topic`` is empty.
    """
    if type(topic) is not str:
        if not isinstance(topic, str):
            raise TypeError(f"a topic is a str, got {type(topic).__name__}")
        topic = str(topic)
    if not topic:
        raise ValueError("a topic cannot be empty")
    return topic


def compile_pattern(pattern: str) -> Callable[[str], object]:
    """Compile a glob ``pattern`` (``*`` and ``?``) into a full-match predicate.

    Raises:
        ValueError: The pattern is empty or uses ``[``, ``]`` or ``\\``.
    """
    validate_topic(pattern)
    if _REFUSED.search(pattern):
        raise ValueError(f"pattern {pattern!r}: only '*' and '?' are supported")
    return re.compile(fnmatch.translate(pattern)).fullmatch


def type_check(topic: str, tp: object) -> Callable[[object], None]:
    """Return a function that raises ``TypeError`` for a value that is not a ``tp``.

    Classes are checked with ``isinstance``; other types (``list[int]``, unions, ``Literal``)
    with ``msgspec.convert``.
    """
    if isinstance(tp, type):
        cls = tp

        def check_instance(value: object) -> None:
            if not isinstance(value, cls):
                raise TypeError(
                    f"topic {topic!r} takes {cls.__name__} values, got {type(value).__name__}"
                )

        return check_instance

    def check_convert(value: object) -> None:
        try:
            msgspec.convert(value, tp)
        except msgspec.ValidationError as exc:
            raise TypeError(f"topic {topic!r} takes {tp!r} values: {exc}") from None

    return check_convert


class HubStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of a hub's counters (``hub.statistics()``).

    Attributes:
        connections: Connections the hub knows (subscribed at least once, not closed).
        topics: Topics with at least one local subscriber.
        patterns: Patterns with at least one local subscriber.
        queued: Messages waiting in outboxes, over all connections.
        writers: Connections with a writer task (their sends did not complete at once).
        pending: Published messages not yet fanned out.
        published: Messages published through this hub.
        received: Messages received from other processes through the backend.
        delivered: Messages handed to a connection's send.
        dropped: Messages dropped by an overflow policy or a too-big frame.
        evicted: Connections closed with 1013 (overflow policy ``"close"`` or send deadline).
        failed: Sends that raised something unexpected (the connection was forgotten).
        malformed: Messages from the backend that were not wskit envelopes.
        duplicates: Messages from the backend dropped because one as new or newer from the
            same hub on the same topic had arrived (a broker's retry, a late copy).
    """

    connections: int
    topics: int
    patterns: int
    queued: int
    writers: int
    pending: int
    published: int
    received: int
    delivered: int
    dropped: int
    evicted: int
    failed: int
    malformed: int
    duplicates: int = 0


class Topic(Generic[T]):
    """A typed handle on one topic of a hub: ``hub.topic("chat", type=ChatMessage)``."""

    __slots__ = ("_hub", "name", "type")

    def __init__(self, hub: Hub, name: str, tp: object) -> None:
        self._hub = hub
        #: The topic name.
        self.name = name
        #: The type every published value must have (``object``: any).
        self.type = tp

    async def publish(self, value: T) -> None:
        """Publish ``value`` (see :meth:`Hub.publish`)."""
        await self._hub.publish(self.name, value)

    def publish_nowait(self, value: T) -> None:
        """Publish ``value`` without waiting (see :meth:`Hub.publish_nowait`)."""
        self._hub.publish_nowait(self.name, value)

    async def subscribe(self, ws: Subscriber, *, overflow: OverflowPolicy | None = None) -> None:
        """Subscribe ``ws`` (see :meth:`Hub.subscribe`)."""
        await self._hub.subscribe(ws, self.name, overflow=overflow)

    async def unsubscribe(self, ws: Subscriber) -> None:
        """Unsubscribe ``ws``."""
        await self._hub.unsubscribe(ws, self.name)

    def subscribers(self) -> list[Subscriber]:
        """The local subscribers."""
        return self._hub.subscribers(self.name)

    async def history(
        self, *, after: str | None = None, limit: int | None = None
    ) -> list[tuple[str, T]]:
        """The kept messages after id ``after``, decoded: ``(id, value)`` pairs."""
        entries: list[HistoryEntry] = await self._hub.history(self.name, after=after, limit=limit)
        tp: Any = Any if self.type is object else self.type
        return [(entry.id, entry.value(tp)) for entry in entries]

    def __repr__(self) -> str:
        tp = getattr(self.type, "__name__", repr(self.type))
        return f"<Topic {self.name!r} type={tp}>"
