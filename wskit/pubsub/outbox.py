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

**Direct sends.** For a real :class:`~wskit.connection.WebSocket` whose ``send_frame`` is
not overridden, the hub skips ``send_frame`` and awaits the server's ``send`` with one ASGI
message shared by all recipients, through the connection's :class:`~wskit.connection.Port`
and by its rules: only while the port's ``send`` is there (exactly when ``send_frame`` itself
would do the same), within the port's outbound threshold of the frame's kind, and an
``OSError`` through :meth:`~wskit.connection.Port.transport_lost`. The port is all the hub
reads of a connection (here, in ``_fanout`` and in ``_subscriptions``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypeAlias

from wskit._state import State
from wskit.connection import Port, WebSocket

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio import CancelScope

    from wskit._types import Message
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
        "port",
        "queue",
        "scope",
        "since",
        "topics",
        "ws",
    )

    def __init__(self, conn: Subscriber, maxlen: int) -> None:
        self.conn = conn
        self.key = id(conn)
        self.codec: Codec = conn.codec
        #: The connection's port, when the hub may send to it directly (else ``None``).
        self.port = port = Port.of(conn, "send_frame")
        #: The connection, when it has a port.
        self.ws = conn if port is not None and isinstance(conn, WebSocket) else None
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
        """Whether a send may go straight to the server right now (the port's ``send`` is there)."""
        port = self.port
        return port is not None and port.send is not None

    @property
    def ending(self) -> bool:
        """Whether the connection has ended, or its close is under way."""
        ws = self.ws
        return ws is not None and (ws.closed or ws.application_state is State.DISCONNECTED)

    def fits(self, frame: str | bytes) -> bool:
        """Whether ``frame`` is within the port's outbound threshold of its kind."""
        port = self.port
        if port is None:
            return True
        return len(frame) <= (port.text_out if type(frame) is str else port.bytes_out)

    def transport_lost(self) -> None:
        """Tell the connection its transport broke (the server's ``send`` raised ``OSError``)."""
        if self.ws is not None:
            Port.transport_lost(self.ws)

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
