"""What the hub keeps per connection: a bounded outbox, the overflow policy, the writer flag.

The hub knows a connection only through :class:`Subscriber`: something with a ``codec``, a
pre-encoded ``send_frame``, a ``close`` and an ``add_close_callback``.
:class:`wskit.connection.WebSocket` is one; tests use small fakes.

An :class:`Outbox` is created the first time a connection subscribes and forgotten when it
closes. While nothing is queued, messages go straight to the connection from the hub's
fan-out loop. When a send does not complete at once, the task that started it finishes it and
becomes the connection's *writer*: later messages wait in ``queue``, at most ``maxlen`` of
them, and the overflow policy decides what happens to one more:

``"drop_oldest"``
    The oldest queued message is dropped to make room (the default: a live feed wants the
    latest state).
``"drop_newest"``
    The new message is dropped (the queue keeps a consistent prefix).
``"close"``
    The connection is evicted: closed with 1013 (try again later), its subscriptions ended.

Memory is bounded by ``maxlen`` queue slots per connection, each a reference to an ASGI
message shared by every connection it goes to.

**The direct port.** For a real :class:`~wskit.connection.WebSocket` whose ``send_frame`` is
not overridden, the hub skips ``send_frame`` and awaits the server's ``send`` with one ASGI
message shared by all recipients, after checking the connection's own fast-path flag (both
sides open, not closing, no default send deadline: exactly when ``send_frame`` itself would
do the same). This coupling is deliberate and kept inside ``wskit.pubsub``: it reads
``WebSocket._fast``, ``_closing``, ``_send``, ``_send_chars`` and calls ``_transport_lost()``
(here, in ``_fanout`` and in ``_registry``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypeAlias

from wskit.connection import direct_port

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio import CancelScope

    from wskit._types import Message, Send
    from wskit.codecs import Codec

__all__ = ["OVERFLOW_POLICIES", "Outbox", "OverflowPolicy", "Subscriber"]

OverflowPolicy: TypeAlias = Literal["drop_oldest", "drop_newest", "close"]
OVERFLOW_POLICIES: Final[tuple[OverflowPolicy, ...]] = ("drop_oldest", "drop_newest", "close")


class Subscriber(Protocol):
    """What the hub needs from a connection.

    :class:`wskit.connection.WebSocket` satisfies it; so can any object with these members.
    """

    @property
    def codec(self) -> Codec:
        """The codec values are encoded with for this connection."""

    async def send_frame(self, frame: str | bytes, /) -> None:
        """Send a pre-encoded frame: ``str`` as a text frame, ``bytes`` as a binary one."""

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (idempotent)."""

    def add_close_callback(self, callback: Callable[[object], object], /) -> None:
        """Call ``callback(self)`` once when the connection ends, on any path."""


def frame_of(message: Message) -> str | bytes:
    """The payload of a ``websocket.send`` message."""
    text: str | None = message.get("text")
    return message["bytes"] if text is None else text


class Outbox:
    """The hub's state for one connection (see the module docstring)."""

    __slots__ = (
        "busy",
        "closed",
        "codec",
        "conn",
        "dropped",
        "key",
        "maxlen",
        "patterns",
        "queue",
        "scope",
        "send",
        "since",
        "topics",
        "ws",
    )

    def __init__(self, conn: Subscriber, maxlen: int) -> None:
        self.conn = conn
        self.key = id(conn)
        self.codec: Codec = conn.codec
        #: The WebSocket and its server ``send`` for the direct port (else ``None``).
        self.ws = ws = direct_port(conn, "send_frame")
        self.send: Send | None = None if ws is None else ws._send
        #: Messages waiting for the writer (created on first use: idle connections have none).
        self.queue: deque[Message] | None = None
        self.maxlen = maxlen
        #: A writer task owns the connection: new messages go to ``queue``.
        self.busy = False
        #: The writer's cancel scope, so an eviction can stop a send stuck in flight.
        self.scope: CancelScope | None = None
        #: When the send in flight started (``anyio.current_time()``), while busy.
        self.since = 0.0
        self.topics: dict[str, OverflowPolicy] = {}
        self.patterns: dict[str, OverflowPolicy] = {}
        self.dropped = 0
        self.closed = False

    @property
    def fast(self) -> bool:
        """Whether a send may go straight to the server right now (the direct port is open)."""
        ws = self.ws
        return ws is not None and ws._fast

    def fits(self, size: int) -> bool:
        """Whether a frame of ``size`` characters passes the connection's own send limit."""
        ws = self.ws
        return ws is None or size <= ws._send_chars

    def transport_lost(self) -> None:
        """Tell the connection its transport broke (the server's ``send`` raised ``OSError``)."""
        if self.ws is not None:
            self.ws._transport_lost()

    def push(self, message: Message, policy: OverflowPolicy) -> int:
        """Queue ``message`` for the writer, applying ``policy`` when the queue is full.

        Returns:
            ``0`` when queued, ``1`` when a message was dropped, ``-1`` when the policy says
            to evict the connection (nothing is queued).
        """
        queue = self.queue
        if queue is None:
            queue = self.queue = deque()
        if len(queue) < self.maxlen:
            queue.append(message)
            return 0
        if policy == "drop_oldest":
            if queue:
                queue.popleft()
                queue.append(message)
            self.dropped += 1
            return 1
        if policy == "drop_newest":
            self.dropped += 1
            return 1
        return -1

    def append(self, message: Message) -> None:
        """Queue ``message`` whatever the bound (the first message of a new writer)."""
        self.queue = deque((message,))

    @property
    def queued(self) -> int:
        """How many messages wait in the queue."""
        return 0 if self.queue is None else len(self.queue)

    def clear(self) -> None:
        """Drop what is queued."""
        self.queue = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "busy" if self.busy else "idle"
        return f"<Outbox {self.conn!r} {state} queued={self.queued} dropped={self.dropped}>"
