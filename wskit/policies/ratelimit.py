"""Per-connection rate limits: token buckets on inbound messages and inbound bytes.

A :class:`RateLimit` is configuration, shared by every connection of an endpoint; each
connection gets its own :class:`TokenBucket` when it opens. The bucket refills continuously at
the configured rate up to its burst size, and every inbound message takes one message token
and its size in byte tokens. Over the limit, the connection's policy decides
(:data:`RateLimitPolicy`):

* ``"close"`` (the default): close with 1008 (policy violation), reason
  ``"rate limit exceeded"``; the handler's receive raises ``WebSocketDisconnect(1008)``.
* ``"reply"``: the message is dropped (the handler never sees it) and the client gets an error
  envelope with the code ``"rate_limited"``, in the format of the operation router's error
  replies (the router's own field names when the route's handler is an ``OperationRouter``)::

      {"type": "error", "payload": {"code": "rate_limited",
                                    "message": "rate limit exceeded"}, "id": null}

A message larger than the byte burst is let through when the byte bucket is full and leaves
it in debt, which the rate then pays back: a burst smaller than ``max_message_size`` never
blocks a legal message for good, it only spaces large ones out.

The limit is applied where the application reads messages (wskit wraps the connection's ASGI
``receive`` only on endpoints that have a limit, so endpoints without one pay nothing). The
server still reads and queues what the client sends; the limit bounds what the application
spends on a flooding client, and closes it, while the server's own queue bound
(``max_app_queue_size`` in hypercorn) bounds the memory (see docs/topics/limits.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from wskit._casting import utf8_size

if TYPE_CHECKING:
    from wskit._types import Message

__all__ = ["RateLimit", "RateLimitPolicy", "TokenBucket", "message_size", "utf8_size"]

#: What happens to a message over the limit: close with 1008, or drop it with an error reply.
RateLimitPolicy: TypeAlias = Literal["close", "reply"]

_INF: Final = math.inf


def _rate(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"RateLimit: {name} must be a positive number or None, got {value!r}")
    if value == _INF:
        raise ValueError(f"RateLimit: {name} must be finite (use None for no limit)")
    return float(value)


class RateLimit:
    """Token-bucket limits on what one client may send.

    Args:
        messages_per_second: Sustained inbound messages per second (``None``: no limit).
        bytes_per_second: Sustained inbound bytes per second, UTF-8 bytes for text frames
            (``None``: no limit).
        burst_messages: Messages a client may send at once after a quiet period (the bucket's
            size; default: one second's worth, at least 1).
        burst_bytes: Bytes a client may send at once (default: one second's worth).
        on_exceed: ``"close"`` (1008) or ``"reply"`` (drop the message, send an error envelope).

    Raises:
        ValueError: No rate is given, a rate or burst is not positive, or ``on_exceed`` is
            unknown.
    """

    __slots__ = (
        "burst_bytes",
        "burst_messages",
        "bytes_per_second",
        "messages_per_second",
        "on_exceed",
    )

    def __init__(
        self,
        messages_per_second: float | None = None,
        bytes_per_second: float | None = None,
        *,
        burst_messages: float | None = None,
        burst_bytes: float | None = None,
        on_exceed: RateLimitPolicy = "close",
    ) -> None:
        self.messages_per_second = _rate("messages_per_second", messages_per_second)
        self.bytes_per_second = _rate("bytes_per_second", bytes_per_second)
        if self.messages_per_second is None and self.bytes_per_second is None:
            raise ValueError("RateLimit needs messages_per_second, bytes_per_second or both")
        if on_exceed not in ("close", "reply"):
            raise ValueError(f"RateLimit: on_exceed must be 'close' or 'reply', got {on_exceed!r}")
        burst_messages = _rate("burst_messages", burst_messages)
        burst_bytes = _rate("burst_bytes", burst_bytes)
        if burst_messages is not None and burst_messages < 1:
            raise ValueError(f"RateLimit: burst_messages must be at least 1, got {burst_messages}")
        if burst_messages is not None and self.messages_per_second is None:
            raise ValueError("RateLimit: burst_messages needs messages_per_second")
        if burst_bytes is not None and self.bytes_per_second is None:
            raise ValueError("RateLimit: burst_bytes needs bytes_per_second")
        #: The message bucket's size (``inf`` when messages are not limited).
        self.burst_messages: float = (
            _INF
            if self.messages_per_second is None
            else burst_messages or max(1.0, self.messages_per_second)
        )
        #: The byte bucket's size (``inf`` when bytes are not limited).
        self.burst_bytes: float = (
            _INF if self.bytes_per_second is None else burst_bytes or self.bytes_per_second
        )
        self.on_exceed: RateLimitPolicy = on_exceed

    @property
    def counts_bytes(self) -> bool:
        """Whether message sizes matter (a byte rate is set)."""
        return self.bytes_per_second is not None

    def bucket(self, now: float) -> TokenBucket:
        """A full bucket for one new connection, its clock starting at ``now``."""
        return TokenBucket(self, now)

    def describe(self) -> str:
        """A short human-readable form, for error replies and logs."""
        rates = {"messages": self.messages_per_second, "bytes": self.bytes_per_second}
        return " and ".join(
            f"{rate:g} {unit}/s" for unit, rate in rates.items() if rate is not None
        )

    def __repr__(self) -> str:
        return (
            f"RateLimit(messages_per_second={self.messages_per_second}, "
            f"bytes_per_second={self.bytes_per_second}, burst_messages={self.burst_messages}, "
            f"burst_bytes={self.burst_bytes}, on_exceed={self.on_exceed!r})"
        )


class TokenBucket:
    """One connection's two buckets (messages and bytes), refilled lazily on each take.

    A disabled bucket holds ``inf`` tokens with a zero rate, so the arithmetic needs no branch.
    """

    __slots__ = (
        "_byte_burst",
        "_byte_rate",
        "_bytes",
        "_message_burst",
        "_message_rate",
        "_messages",
        "_stamp",
    )

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._message_rate = limit.messages_per_second or 0.0
        self._byte_rate = limit.bytes_per_second or 0.0
        self._message_burst = limit.burst_messages
        self._byte_burst = limit.burst_bytes
        self._messages = self._message_burst
        self._bytes = self._byte_burst
        self._stamp = now

    def take(self, size: int, now: float) -> bool:
        """Take one message of ``size`` bytes at time ``now``; ``False`` if over the limit.

        A refused message takes nothing. ``now`` comes from a monotonic clock; a clock that
        goes backwards refills nothing.
        """
        elapsed = now - self._stamp
        if elapsed > 0:
            self._stamp = now
            self._messages = min(self._message_burst, self._messages + elapsed * self._message_rate)
            self._bytes = min(self._byte_burst, self._bytes + elapsed * self._byte_rate)
        if self._messages >= 1 and self._bytes >= min(size, self._byte_burst):
            self._messages -= 1
            self._bytes -= size
            return True
        return False

    @property
    def tokens(self) -> tuple[float, float]:
        """The tokens left as of the last take: ``(messages, bytes)``."""
        return self._messages, self._bytes


def message_size(message: Message) -> int:
    """The size of an ASGI ``websocket.receive`` message's payload, in bytes (UTF-8 for text)."""
    text = message.get("text")
    if isinstance(text, str):
        return utf8_size(text)
    data = message.get("bytes")
    return len(data) if isinstance(data, bytes | bytearray | memoryview) else 0
