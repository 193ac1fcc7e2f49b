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
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

import anyio

from wskit.codecs import JSON, MSGPACK, Codec
from wskit.exceptions import (
    BackendError,
    BackendUnavailable,
    MessageTooBig,
    WebSocketDisconnected,
    WouldBlock,
)

from ._fanout import Dispatcher, Job
from ._wire import (
    BINARY,
    ENCODED_BINARY,
    ENCODED_TEXT,
    TEXT,
    Envelope,
    decode_envelope,
    encode_envelope,
    new_origin,
)
from .backends.memory import MemoryBackend
from .history import HistoryEntry
from .outbox import OVERFLOW_POLICIES, Outbox, OverflowPolicy, Subscriber
from .topics import HubStatistics, Topic, compile_pattern, type_check, validate_topic

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from types import TracebackType

    from anyio.abc import TaskGroup

    from wskit._types import Message

    from ._fanout import Part
    from .backends.base import Backend

__all__ = ["Hub"]

T = TypeVar("T")
logger: Final = logging.getLogger("wskit.pubsub")

_SEND: Final = "websocket.send"
# codec, direct sends, their outboxes, the other outboxes, smallest send limit of the direct ones
_Group = tuple[Codec, tuple[Any, ...], tuple[Outbox, ...], tuple[Outbox, ...], int]


class _Topic:
    __slots__ = ("gen", "groups", "name", "subs")

    def __init__(self, name: str) -> None:
        self.name = name
        self.subs: dict[Outbox, OverflowPolicy] = {}
        self.groups: list[_Group] | None = None
        self.gen = -1


class _Pattern:
    __slots__ = ("match", "pattern", "subs")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.match = compile_pattern(pattern)
        self.subs: dict[Outbox, OverflowPolicy] = {}


class _Local:
    """A value published in this process: its frames, built once per codec."""

    __slots__ = ("kind", "messages", "value")

    def __init__(self, value: object, kind: int, messages: dict[Codec | None, Message]) -> None:
        self.value = value
        self.kind = kind
        self.messages = messages


def _message(frame: str | bytes) -> Message:
    if type(frame) is str:
        return {"type": _SEND, "text": frame}
    return {"type": _SEND, "bytes": frame}


class Hub:
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
        self._outboxes: dict[int, Outbox] = {}
        self._topics: dict[str, _Topic] = {}
        self._patterns: dict[str, _Pattern] = {}
        self._pattern_gen = 0
        self._all: list[_Group] | None = None
        self._checks: dict[str, Callable[[object], None]] = {}
        self._types: dict[str, object] = {}
        self._dirty: dict[tuple[str, bool], None] = {}
        self._remote: set[tuple[str, bool]] = set()
        self._dirty_event: anyio.Event | None = None
        self._sync_lock: anyio.Lock | None = None
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self._published = 0
        self._received = 0
        self._malformed = 0
        # One bound method for every connection's close callback (not one per connection).
        self._on_close_callback = self._on_close
        self._dispatcher = Dispatcher(
            send_timeout=send_timeout,
            resolve=self._resolve,
            policy=self._policy,
            forget=self._forget,
            changed=self._changed,
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
        if self._tg is not None:
            raise RuntimeError("the hub is already running")
        stack = AsyncExitStack()
        try:
            if not self._backend.running:
                await stack.enter_async_context(self._backend)
            messages = self._backend.messages()
            tg = await stack.enter_async_context(anyio.create_task_group())
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._tg = stack, tg
        self._sync_lock = anyio.Lock()
        self._dispatcher.start(tg)
        tg.start_soon(self._pump, messages, name="wskit.pubsub pump")
        tg.start_soon(self._reconciler, name="wskit.pubsub reconciler")
        if self._dirty:  # subscriptions kept from an earlier run
            self._wake_reconciler()

    async def aclose(self) -> None:
        """Stop the hub: its tasks end, queued messages are dropped, connections forgotten."""
        tg, stack = self._tg, self._stack
        if tg is None or stack is None:
            return
        self._tg = self._stack = None
        tg.cancel_scope.cancel()
        self._dispatcher.stop()
        try:
            await stack.aclose()
        finally:
            for outbox in list(self._outboxes.values()):
                outbox.closed = True
                outbox.clear()
            self._outboxes.clear()
            self._topics.clear()
            self._patterns.clear()
            self._all = None
            self._dirty.clear()
            self._remote.clear()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

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
        self._outbox(ws)

    def remove(self, ws: Subscriber) -> None:
        """Forget ``ws``: end its subscriptions and drop what is queued for it."""
        outbox = self._outboxes.get(id(ws))
        if outbox is not None and outbox.conn is ws:
            self._forget(outbox)

    def _outbox(self, ws: Subscriber) -> Outbox:
        outbox = self._outboxes.get(id(ws))
        if outbox is not None and outbox.conn is ws:
            return outbox
        outbox = Outbox(ws, self.max_queue)
        self._outboxes[outbox.key] = outbox
        self._all = None
        ws.add_close_callback(self._on_close_callback)
        if outbox.closed:
            raise WebSocketDisconnected("DISCONNECTED", "subscribe", "send", "the connection ended")
        return outbox

    def _on_close(self, ws: object) -> None:
        outbox = self._outboxes.get(id(ws))
        if outbox is not None and outbox.conn is ws:
            self._forget(outbox)

    def _forget(self, outbox: Outbox) -> None:
        """End every subscription of ``outbox`` (its connection is gone or evicted)."""
        outbox.closed = True
        outbox.clear()
        if self._outboxes.get(outbox.key) is outbox:
            del self._outboxes[outbox.key]
            if not self._outboxes:
                self._outboxes = {}  # a dict never shrinks: give its table back
        self._all = None
        for topic in outbox.topics:
            self._drop_sub(topic, outbox)
        for pattern in outbox.patterns:
            self._drop_pattern_sub(pattern, outbox)
        outbox.topics.clear()
        outbox.patterns.clear()
        if self._dirty:
            self._wake_reconciler()

    def _drop_sub(self, topic: str, outbox: Outbox) -> None:
        state = self._topics.get(topic)
        if state is None:  # pragma: no cover - kept consistent by construction
            return
        state.subs.pop(outbox, None)
        state.groups = None
        if not state.subs:
            del self._topics[topic]
            self._dirty[topic, False] = None

    def _drop_pattern_sub(self, pattern: str, outbox: Outbox) -> None:
        state = self._patterns.get(pattern)
        if state is None:  # pragma: no cover - kept consistent by construction
            return
        state.subs.pop(outbox, None)
        self._pattern_gen += 1
        if not state.subs:
            del self._patterns[pattern]
            self._dirty[pattern, True] = None

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
        from other processes once the backend subscription is in place (when this returns).
        Subscribing again changes the subscription's overflow policy.

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
        outbox = self._outbox(ws)
        if pattern:
            state_p = self._patterns.get(topic)
            if state_p is None:
                state_p = self._patterns[topic] = _Pattern(topic)
                self._dirty[topic, True] = None
            state_p.subs[outbox] = policy
            outbox.patterns[topic] = policy
            self._pattern_gen += 1
        else:
            state = self._topics.get(topic)
            if state is None:
                state = self._topics[topic] = _Topic(topic)
                self._dirty[topic, False] = None
            state.subs[outbox] = policy
            state.groups = None
            outbox.topics[topic] = policy
        if self._dirty:
            await self._reconcile()

    async def unsubscribe(self, ws: Subscriber, topic: str) -> None:
        """Stop delivering ``topic`` (a topic or a pattern) to ``ws``; nothing if not subscribed."""
        outbox = self._outboxes.get(id(ws))
        if outbox is None or outbox.conn is not ws:
            return
        if outbox.topics.pop(topic, None) is not None:
            self._drop_sub(topic, outbox)
        if outbox.patterns.pop(topic, None) is not None:
            self._drop_pattern_sub(topic, outbox)
        if self._dirty and self._tg is not None:
            await self._reconcile()

    def topics(self, ws: Subscriber) -> list[str]:
        """The topics and patterns ``ws`` is subscribed to."""
        outbox = self._outboxes.get(id(ws))
        if outbox is None or outbox.conn is not ws:
            return []
        return [*outbox.topics, *outbox.patterns]

    def subscribers(self, topic: str) -> list[Subscriber]:
        """The connections a message published to ``topic`` now would reach."""
        return [outbox.conn for outbox in self._members(topic)]

    def _members(self, topic: str) -> dict[Outbox, None]:
        state = self._topics.get(topic)
        members: dict[Outbox, None] = dict.fromkeys(state.subs) if state is not None else {}
        for pattern in self._patterns.values():
            if pattern.match(topic):
                members.update(dict.fromkeys(pattern.subs))
        return members

    def _policy(self, outbox: Outbox, topic: str | None) -> OverflowPolicy:
        if topic is not None:
            policy = outbox.topics.get(topic)
            if policy is not None:
                return policy
            for pattern, policy in outbox.patterns.items():
                if self._patterns[pattern].match(topic):
                    return policy
        return self.overflow

    # -- recipient lists ----------------------------------------------------------------------

    def _changed(self, outbox: Outbox) -> None:
        """``outbox`` became busy or idle: recipient lists that include it are stale."""
        topics = self._topics
        for topic in outbox.topics:
            topics[topic].groups = None
        if outbox.patterns:
            self._pattern_gen += 1
        self._all = None

    def _groups(self, topic: str | None) -> list[_Group]:
        if topic is None:
            if self._all is None:
                self._all = _build(self._outboxes.values())
            return self._all
        state = self._topics.get(topic)
        if state is not None and state.groups is not None and state.gen == self._pattern_gen:
            return state.groups
        if self._patterns:
            groups = _build(self._members(topic))
        elif state is not None:
            groups = _build(state.subs)
        else:
            return []
        if state is not None:
            state.groups, state.gen = groups, self._pattern_gen
        return groups

    def _resolve(self, job: Job) -> list[Part]:
        """Build a job's parts: one message per codec, the recipients split by path."""
        parts: list[Part] = []
        for codec, sends, fast, slow, min_chars in self._groups(job.topic):
            message = self._message_for(job, codec)
            if message is None:
                continue
            if fast and len(message.get("text") or message.get("bytes") or b"") > min_chars:
                sends, fast, slow = (), (), fast + slow
            parts.append((sends, fast, slow, message))
        return parts

    def _message_for(self, job: Job, codec: Codec) -> Message | None:
        source = job.source
        try:
            if isinstance(source, _Local):
                message = source.messages.get(None) or source.messages.get(codec)
                if message is None:
                    message = source.messages[codec] = _message(codec.encode_frame(source.value))
                return message
            assert isinstance(source, Envelope)
            return self._remote_message(source, codec, job.topic)
        except Exception:
            logger.exception(
                "cannot encode a message of topic %r for codec %r; its %s subscribers miss it",
                job.topic,
                codec.name,
                codec.name,
            )
            return None

    def _remote_message(self, envelope: Envelope, codec: Codec, topic: str | None) -> Message:
        kind, body = envelope.kind, envelope.body
        if kind == TEXT:
            return _message(body.decode())
        if kind == BINARY:
            return _message(body)
        if codec.name == envelope.codec:
            return _message(body if kind == ENCODED_BINARY else body.decode())
        source = self._codec_named(envelope.codec)
        tp = self._types.get(topic, Any) if topic is not None else Any
        return _message(codec.encode_frame(source.decode(body, tp)))

    def _codec_named(self, name: str) -> Codec:
        if name == self.codec.name:
            return self.codec
        for codec in (JSON, MSGPACK):
            if codec.name == name:
                return codec
        for outbox in self._outboxes.values():
            if outbox.codec.name == name:
                return outbox.codec
        raise LookupError(f"no codec named {name!r} in this process")

    # -- publishing ------------------------------------------------------------------------------

    def _source(self, value: object) -> tuple[_Local, str, bytes]:
        """Encode ``value`` once: its local message and the envelope's codec name and body."""
        tv = type(value)
        if tv is str:
            text: str = value  # type: ignore[assignment]
            return _Local(value, TEXT, {None: {"type": _SEND, "text": text}}), "", text.encode()
        if tv is bytes or tv is bytearray or tv is memoryview:
            data = bytes(value)  # type: ignore[call-overload]
            return _Local(value, BINARY, {None: {"type": _SEND, "bytes": data}}), "", data
        codec = self.codec
        body = codec.encode(value)
        if codec.binary:
            return _Local(value, ENCODED_BINARY, {codec: _message(body)}), codec.name, body
        return _Local(value, ENCODED_TEXT, {codec: _message(body.decode())}), codec.name, body

    def _prepare(self, topic: str, value: object) -> tuple[_Local, bytes]:
        check = self._checks.get(topic)
        if check is not None:
            check(value)
        source, name, body = self._source(value)
        self._seq += 1
        payload = encode_envelope(self._origin, self._seq, source.kind, name, body)
        limit = self._backend.max_payload
        if limit is not None and len(payload) > limit:
            raise MessageTooBig(len(payload), limit, "publish")
        return source, payload

    def _local(self, topic: str) -> bool:
        return topic in self._topics or bool(self._patterns)

    async def publish(self, topic: str, value: object) -> None:
        """Encode ``value`` once and deliver it to every subscriber of ``topic``.

        A ``str`` is sent as a text frame and ``bytes`` as a binary frame, as they are; any
        other value is encoded once per codec in use (the hub's ``codec`` for the backend).
        Returns once the message is queued for the local fan-out (which runs on the hub's
        leader task as soon as this task yields; :meth:`flush` waits for it) and the backend
        has taken it for the other processes. Waits first when ``max_pending`` messages are
        already waiting for the fan-out.

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
        self._publish_local(topic, source)
        await self._backend.publish(topic, payload, history=self.history_size)

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

    def _publish_local(self, topic: str, source: _Local) -> None:
        self._published += 1
        if self._local(topic):
            self._dispatcher.submit(Job(topic, source))

    async def broadcast(self, value: object) -> None:
        """Deliver ``value`` to every connection this hub knows (in this process only)."""
        self._check_running()
        job = Job(None, self._source(value)[0], anyio.Event())
        self._dispatcher.submit(job)
        await job.done.wait()  # type: ignore[union-attr]

    async def flush(self) -> None:
        """Wait until everything published so far is sent or queued in outboxes."""
        self._check_running()
        job = Job(None, None, anyio.Event())
        job.parts = []
        self._dispatcher.submit(job)
        await job.done.wait()  # type: ignore[union-attr]

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
            return Topic(self, validate_topic(name), self._types.get(name, object))
        return self.register_topic(name, type)

    def register_topic(self, name: str, type: object) -> Topic[Any]:
        """Check every value published to ``name`` against ``type`` from now on.

        Raises:
            ValueError: ``name`` is already registered with another type.
        """
        name = validate_topic(name)
        known = self._types.get(name)
        if known is not None and known != type:
            raise ValueError(f"topic {name!r} is already registered with type {known!r}")
        self._types[name] = type
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
        async for topic, data in messages:
            envelope = decode_envelope(data)
            if envelope is None:
                self._malformed += 1
                continue
            if envelope.origin == origin:
                continue
            self._received += 1
            self._dispatcher.submit(Job(topic, envelope))

    def _wake_reconciler(self) -> None:
        event = self._dirty_event
        if event is not None:
            self._dirty_event = None
            event.set()

    async def _reconciler(self) -> None:
        while True:
            if not self._dirty:
                self._dirty_event = event = anyio.Event()
                await event.wait()
            await self._reconcile()

    async def _reconcile(self) -> None:
        """Bring the backend's subscriptions in line with the local ones."""
        lock = self._sync_lock
        if lock is None:
            return
        async with lock:
            while self._dirty:
                dirty = list(self._dirty)
                self._dirty.clear()
                changes: dict[tuple[bool, bool], list[str]] = {}
                for key in dirty:
                    name, is_pattern = key
                    wanted = name in (self._patterns if is_pattern else self._topics)
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
        dispatcher = self._dispatcher
        return HubStatistics(
            connections=len(self._outboxes),
            topics=len(self._topics),
            patterns=len(self._patterns),
            queued=sum(outbox.queued for outbox in self._outboxes.values()),
            writers=dispatcher.writers,
            pending=dispatcher.pending,
            published=self._published,
            received=self._received,
            delivered=dispatcher.delivered,
            dropped=dispatcher.dropped,
            evicted=dispatcher.evicted,
            failed=dispatcher.failed,
            malformed=self._malformed,
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<Hub {state} backend={type(self._backend).__name__} "
            f"connections={len(self._outboxes)} topics={len(self._topics)}>"
        )


def _check_policy(policy: str) -> OverflowPolicy:
    if policy not in OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}; got {policy!r}")
    return policy


def _build(outboxes: Any) -> list[_Group]:
    """Split recipients by codec, and by path: the direct port for idle open WebSockets."""
    split: dict[Codec, tuple[list[Outbox], list[Outbox]]] = {}
    for outbox in outboxes:
        if outbox.closed:
            continue
        fast, slow = split.get(outbox.codec) or split.setdefault(outbox.codec, ([], []))
        if outbox.send is not None and not outbox.busy and outbox.fast:
            fast.append(outbox)
        else:
            slow.append(outbox)
    groups: list[_Group] = []
    for codec, (fast, slow) in split.items():
        limit = min((outbox.ws._send_chars for outbox in fast if outbox.ws), default=0)
        sends = tuple((outbox.send, outbox.ws) for outbox in fast)
        groups.append((codec, sends, tuple(fast), tuple(slow), limit))
    return groups
