"""The Hub: topics, local fan-out through bounded outboxes, and a backend for other processes.

::

    hub = Hub()                                 # in-memory backend: one process
    hub = Hub(RedisBackend("redis://..."))      # many processes and machines

    async with hub:                             # or: await hub.start() in the app's lifespan
        await hub.subscribe(ws, "room:1")       # ends by itself when ws closes
        await hub.publish("room:1", {"text": "hi"})

A published value is encoded once per codec in use (text or binary frames) and the same
message goes to every subscriber; the fan-out runs on one leader task with no task switch per
delivery (see :mod:`wskit.pubsub._fanout`). Each connection has a bounded outbox, a send
deadline and an overflow policy (:mod:`wskit.pubsub.outbox`), so a slow client never slows
the others. Every subscriber receives a topic's messages in publish order.

Across processes the hub publishes an envelope (:mod:`wskit.pubsub._wire`) through its
backend, which holds one subscription for the whole process. A message is delivered locally
at once when it is published, and the hub drops its own echo coming back from the backend.
Delivery to other processes is at most once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

import anyio

from wskit.codecs import JSON, Codec
from wskit.exceptions import BackendError, BackendUnavailable, MessageTooBig, WouldBlock

from ._fanout import Dispatcher, Job
from ._service import Service
from ._subscriptions import Local, Subscriptions
from ._wire import decode_envelope, encode_envelope, new_origin
from .backends.memory import MemoryBackend
from .history import HistoryEntry
from .outbox import OVERFLOW_POLICIES, OverflowPolicy, Subscriber
from .topics import HubStatistics, Topic, compile_pattern, type_check, validate_topic

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AsyncExitStack

    from anyio.abc import TaskGroup

    from .backends.base import Backend
    from .outbox import Outbox

__all__ = ["Hub"]

T = TypeVar("T")

#: How many (publishing hub, topic) pairs the duplicate filter remembers.
_MAX_NEWEST: Final = 100_000
logger: Final = logging.getLogger("wskit.pubsub")


class Hub(Service):
    """Topics and fan-out for WebSocket connections (see the module docstring).

    Args:
        backend: Carries messages between processes; a private :class:`MemoryBackend` by
            default (one process). Started and closed with the hub unless already running.
        max_queue: Messages each connection's outbox holds while a send is in flight.
        overflow: What happens to one more message when an outbox is full:
            ``"drop_oldest"``, ``"drop_newest"`` or ``"close"`` (evict with 1013). Each
            subscription may override it.
        send_timeout: Seconds a connection may take to accept a message before it is evicted
            with 1013 (``None``: no deadline).
        history: Keep about the last ``history`` messages of every topic in the backend
            (``0``: no history).
        codec: How values are encoded for the backend (and for connections using it).
        max_pending: Published messages waiting for the fan-out before ``publish_nowait``
            raises ``WouldBlock``.
    """

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        max_queue: int = 16,
        overflow: OverflowPolicy = "drop_oldest",
        send_timeout: float | None = 5.0,
        history: int = 0,
        codec: Codec = JSON,
        max_pending: int = 1024,
    ) -> None:
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
        if send_timeout is not None and send_timeout <= 0:
            raise ValueError(f"send_timeout must be positive or None, got {send_timeout}")
        if history < 0:
            raise ValueError(f"history must be >= 0, got {history}")
        self._backend: Backend = backend if backend is not None else MemoryBackend()
        self.max_queue = max_queue
        self.overflow: OverflowPolicy = _check_policy(overflow)
        self.history_size = history
        self.codec = codec
        self.max_pending = max_pending
        self._origin = new_origin()
        self._seq = 0
        self._subscriptions = subscriptions = Subscriptions(codec, max_queue, self.overflow)
        self._checks: dict[str, Callable[[object], None]] = {}
        self._remote: set[tuple[str, bool]] = set()
        self._dirty_event: anyio.Event | None = None
        self._sync_lock: anyio.Lock | None = None
        #: The backend's message stream, while the hub runs.
        self._incoming: AsyncIterator[tuple[str, bytes]] | None = None
        self._published = 0
        self._received = 0
        self._malformed = 0
        self._duplicates = 0
        # The newest seq received per (publishing hub, topic): what is not newer is a copy.
        self._newest: dict[tuple[bytes, str], int] = {}
        # One bound method for every connection's close callback (not one per connection).
        self._on_close_callback = self._on_close
        self._dispatcher = Dispatcher(
            send_timeout=send_timeout,
            resolve=subscriptions.resolve,
            policy=subscriptions.policy,
            forget=self._forget,
            changed=subscriptions.changed,
        )

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend that carries messages between processes."""
        return self._backend

    @property
    def is_process_local(self) -> bool:
        """``True`` when the backend keeps messages inside this process."""
        return self._backend.is_process_local

    @property
    def running(self) -> bool:
        """Whether the hub has started and not been closed."""
        return self._tg is not None

    @property
    def send_timeout(self) -> float | None:
        """Seconds a connection may take to accept one message."""
        return self._dispatcher.send_timeout

    async def start(self) -> None:
        """Start the hub's tasks (and its backend unless it is running).

        Call :meth:`aclose` later from the same task, as for a context manager.

        Raises:
            RuntimeError: The hub is already running.
        """
        await self._start("the hub")

    async def aclose(self) -> None:
        """Stop the hub: its tasks end, queued messages are dropped, connections forgotten."""
        await self._stop()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _open(self, stack: AsyncExitStack) -> None:
        if not self._backend.running:
            await stack.enter_async_context(self._backend)
        self._incoming = self._backend.messages()

    def _run(self, tg: TaskGroup) -> None:
        assert self._incoming is not None
        self._sync_lock = anyio.Lock()
        self._dispatcher.start(tg)
        tg.start_soon(self._pump, self._incoming, name="wskit.pubsub pump")
        tg.start_soon(self._reconciler, name="wskit.pubsub reconciler")

    def _stopping(self) -> None:
        self._dispatcher.stop()

    def _closed(self) -> None:
        self._incoming = None
        self._subscriptions.clear()
        self._remote.clear()

    def _check_running(self) -> None:
        if self._tg is None:
            raise RuntimeError(
                "the hub is not running: use 'async with hub:' or 'await hub.start()' "
                "(for example in the app's lifespan)"
            )

    # -- connections and subscriptions -------------------------------------------------------

    def add(self, ws: Subscriber) -> None:
        """Make ``ws`` known to the hub (it receives ``broadcast``) without a topic.

        Raises:
            WebSocketDisconnected: The connection has already ended.
        """
        self._check_running()
        self._subscriptions.outbox(ws, self._on_close_callback)

    def remove(self, ws: Subscriber) -> None:
        """Forget ``ws``: end its subscriptions and drop what is queued for it."""
        self._on_close(ws)

    def _on_close(self, ws: object) -> None:
        outbox = self._subscriptions.lookup(ws)
        if outbox is not None:
            self._forget(outbox)

    def _forget(self, outbox: Outbox) -> None:
        self._subscriptions.forget(outbox)
        if self._subscriptions.dirty:
            self._wake_reconciler()

    async def subscribe(
        self,
        ws: Subscriber,
        topic: str,
        *,
        overflow: OverflowPolicy | None = None,
        pattern: bool = False,
    ) -> None:
        """Deliver the messages of ``topic`` to ``ws`` until it closes or unsubscribes.

        Messages published in this process reach ``ws`` as soon as this is called; messages
        from other processes once the backend subscription is in place (when this returns,
        if the backend is connected). Subscribing again changes the overflow policy.

        Args:
            ws: The connection.
            topic: The topic, or with ``pattern=True`` a glob (``"room.*"``).
            overflow: The overflow policy of this subscription (default: the hub's).
            pattern: Whether ``topic`` is a pattern.

        Raises:
            WebSocketDisconnected: The connection has already ended.
            ValueError: A bad topic, pattern or policy, or patterns on a backend without them.
        """
        self._check_running()
        topic = validate_topic(topic)
        policy = self.overflow if overflow is None else _check_policy(overflow)
        if pattern:
            if not self._backend.supports_patterns:
                raise ValueError(f"{type(self._backend).__name__} does not support patterns")
            compile_pattern(topic)
        outbox = self._subscriptions.outbox(ws, self._on_close_callback)
        self._subscriptions.subscribe(outbox, topic, policy, pattern)
        if self._subscriptions.dirty:
            await self._reconcile()

    async def unsubscribe(self, ws: Subscriber, topic: str) -> None:
        """Stop delivering ``topic`` (a topic or a pattern) to ``ws``; nothing if not subscribed."""
        outbox = self._subscriptions.lookup(ws)
        if outbox is None:
            return
        self._subscriptions.unsubscribe(outbox, topic)
        if self._subscriptions.dirty and self._tg is not None:
            await self._reconcile()

    def topics(self, ws: Subscriber) -> list[str]:
        """The topics and patterns ``ws`` is subscribed to."""
        outbox = self._subscriptions.lookup(ws)
        return [] if outbox is None else [*outbox.topics, *outbox.patterns]

    def subscribers(self, topic: str) -> list[Subscriber]:
        """The connections a message published to ``topic`` now would reach."""
        return [outbox.conn for outbox in self._subscriptions.members(topic)]

    # -- publishing ------------------------------------------------------------------------------

    def _prepare(self, topic: str, value: object) -> tuple[Local, bytes]:
        check = self._checks.get(topic)
        if check is not None:
            check(value)
        source, name, body = self._subscriptions.source(value)
        self._seq += 1
        payload = encode_envelope(self._origin, self._seq, source.kind, name, body)
        limit = self._backend.max_payload
        if limit is not None and len(payload) > limit:
            raise MessageTooBig(len(payload), limit, "publish")
        return source, payload

    def _local(self, topic: str) -> bool:
        return topic in self._subscriptions.topics or bool(self._subscriptions.patterns)

    async def publish(self, topic: str, value: object) -> None:
        """Encode ``value`` once and deliver it to every subscriber of ``topic``.

        A ``str`` is sent as a text frame and ``bytes`` as a binary frame, as they are; any
        other value is encoded once per codec in use (the hub's ``codec`` for the backend).
        Returns when every local subscriber has the message, sent or queued in its outbox
        (slow clients do not hold it up: their outboxes absorb the difference), and the backend
        has taken it for the other processes.

        Raises:
            TypeError: ``value`` cannot be encoded, or does not fit the topic's type.
            MessageTooBig: The encoded message is over the backend's ``max_payload``.
            BackendUnavailable: The backend could not take the message: other processes miss
                it (local subscribers still get it).
        """
        self._check_running()
        topic = validate_topic(topic)
        source, payload = self._prepare(topic, value)
        if self._dispatcher.pending >= self.max_pending:
            await self._dispatcher.wait_room(self.max_pending)
        self._published += 1
        job = None
        if self._local(topic):
            job = Job(topic, source)
            self._dispatcher.submit(job)
        try:
            await self._backend.publish(topic, payload, history=self.history_size)
        finally:
            if job is not None:
                await self._dispatcher.wait(job)

    def publish_nowait(self, topic: str, value: object) -> None:
        """Publish ``value`` without waiting (see :meth:`publish`).

        Raises:
            WouldBlock: Too many messages are waiting (the hub's or the backend's buffer is
                full); nothing was published.
            BackendUnavailable: The backend is known to be unreachable: other processes miss
                the message (local subscribers still get it).
        """
        self._check_running()
        topic = validate_topic(topic)
        if self._dispatcher.pending >= self.max_pending:
            raise WouldBlock(f"{self._dispatcher.pending} messages are waiting for the fan-out")
        source, payload = self._prepare(topic, value)
        try:
            self._backend.publish_nowait(topic, payload, history=self.history_size)
        except BackendUnavailable:
            self._publish_local(topic, source)
            raise
        self._publish_local(topic, source)

    def _publish_local(self, topic: str, source: Local) -> None:
        self._published += 1
        if self._local(topic):
            self._dispatcher.submit(Job(topic, source))

    async def broadcast(self, value: object) -> None:
        """Deliver ``value`` to every connection this hub knows (in this process only)."""
        self._check_running()
        job = Job(None, self._subscriptions.source(value)[0])
        self._dispatcher.submit(job)
        await self._dispatcher.wait(job)

    async def flush(self) -> None:
        """Wait until everything published so far is sent or queued in outboxes."""
        self._check_running()
        await self._dispatcher.flush()

    # -- typed topics -------------------------------------------------------------------------

    @overload
    def topic(self, name: str, type: type[T]) -> Topic[T]: ...
    @overload
    def topic(self, name: str, type: object = ...) -> Topic[object]: ...

    def topic(self, name: str, type: object = object) -> Topic[Any]:
        """A handle on topic ``name``; with ``type``, published values are checked against it.

        Raises:
            ValueError: ``name`` is already registered with another type.
        """
        if type is object:
            return Topic(self, validate_topic(name), self._subscriptions.types.get(name, object))
        return self.register_topic(name, type)

    def register_topic(self, name: str, type: object) -> Topic[Any]:
        """Check every value published to ``name`` against ``type`` from now on.

        Raises:
            ValueError: ``name`` is already registered with another type.
        """
        name = validate_topic(name)
        known = self._subscriptions.types.get(name)
        if known is not None and known != type:
            raise ValueError(f"topic {name!r} is already registered with type {known!r}")
        self._subscriptions.types[name] = type
        self._checks[name] = type_check(name, type)
        return Topic(self, name, type)

    # -- history ------------------------------------------------------------------------------

    async def history(
        self, topic: str, *, after: str | None = None, limit: int | None = None
    ) -> list[HistoryEntry]:
        """The kept messages of ``topic`` published after the one with id ``after``.

        Raises:
            RuntimeError: The hub keeps no history (``Hub(history=N)``).
            BackendUnavailable: The backend cannot be reached.
        """
        if self.history_size <= 0:
            raise RuntimeError("this hub keeps no history: create it with Hub(history=N)")
        topic = validate_topic(topic)
        entries = []
        for ident, data in await self._backend.history(topic, after=after, limit=limit):
            envelope = decode_envelope(data)
            if envelope is not None:
                entries.append(
                    HistoryEntry(ident, topic, envelope.kind, envelope.codec, envelope.body)
                )
        return entries

    # -- the backend ---------------------------------------------------------------------------

    async def _pump(self, messages: AsyncIterator[tuple[str, bytes]]) -> None:
        """Turn messages from other processes into jobs, in arrival order."""
        origin = self._origin
        newest = self._newest
        async for topic, data in messages:
            envelope = decode_envelope(data)
            if envelope is None:
                self._malformed += 1
                continue
            if envelope.origin == origin:
                continue
            # A broker may hand over a message twice (a Redis Cluster client retries a
            # pipeline the cluster refused in part) or late: per publishing hub and topic,
            # seqs only grow, so anything not newer than the newest seen is dropped.
            key = (envelope.origin, topic)
            if newest.get(key, -1) >= envelope.seq:
                self._duplicates += 1
                continue
            newest[key] = envelope.seq
            if len(newest) > _MAX_NEWEST:  # forget the pair seen first
                del newest[next(iter(newest))]
            self._received += 1
            self._dispatcher.submit(Job(topic, envelope))

    def _wake_reconciler(self) -> None:
        event = self._dirty_event
        if event is not None:
            self._dirty_event = None
            event.set()

    async def _reconciler(self) -> None:
        while True:
            if not self._subscriptions.dirty:
                self._dirty_event = event = anyio.Event()
                await event.wait()
            await self._reconcile()

    async def _reconcile(self) -> None:
        """Bring the backend's subscriptions in line with the local ones."""
        lock = self._sync_lock
        assert lock is not None  # set by start(); callers check that the hub runs
        subscriptions = self._subscriptions
        async with lock:
            while subscriptions.dirty:
                dirty = list(subscriptions.dirty)
                subscriptions.dirty.clear()
                changes: dict[tuple[bool, bool], list[str]] = {}
                for key in dirty:
                    name, is_pattern = key
                    wanted = name in (
                        subscriptions.patterns if is_pattern else subscriptions.topics
                    )
                    if wanted != (key in self._remote):
                        changes.setdefault((wanted, is_pattern), []).append(name)
                        if wanted:
                            self._remote.add(key)
                        else:
                            self._remote.discard(key)
                for (wanted, is_pattern), names in changes.items():
                    try:
                        if wanted:
                            await self._backend.subscribe(names, patterns=is_pattern)
                        else:
                            await self._backend.unsubscribe(names, patterns=is_pattern)
                    except BackendError:
                        logger.warning(
                            "the backend refused %s %s; it renews its subscriptions when it "
                            "reconnects",
                            "subscribing to" if wanted else "unsubscribing from",
                            names,
                            exc_info=True,
                        )

    # -- statistics -----------------------------------------------------------------------------

    def statistics(self) -> HubStatistics:
        """A snapshot of the hub's counters."""
        dispatcher, subscriptions = self._dispatcher, self._subscriptions
        return HubStatistics(
            connections=len(subscriptions.outboxes),
            topics=len(subscriptions.topics),
            patterns=len(subscriptions.patterns),
            queued=sum(outbox.queued for outbox in subscriptions.outboxes.values()),
            writers=dispatcher.writers,
            pending=dispatcher.pending,
            published=self._published,
            received=self._received,
            delivered=dispatcher.delivered,
            dropped=dispatcher.dropped,
            evicted=dispatcher.evicted,
            failed=dispatcher.failed,
            malformed=self._malformed,
            duplicates=self._duplicates,
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        subscriptions = self._subscriptions
        return (
            f"<Hub {state} backend={type(self._backend).__name__} "
            f"connections={len(subscriptions.outboxes)} topics={len(subscriptions.topics)}>"
        )


def _check_policy(policy: str) -> OverflowPolicy:
    if policy not in OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}; got {policy!r}")
    return policy
