"""The Redis backend: many processes and machines, on coredis (anyio-native: asyncio and trio).

One ``RedisBackend`` per process holds:

* **one subscriber connection** (coredis ``PubSub``, or ``ShardedPubSub`` with
  ``sharded=True``) subscribed to the union of the topics its hub's connections want. A
  supervisor task opens it, renews every subscription on it, and when it drops (Redis
  restarted, network cut) reopens it with exponential backoff and jitter, bounded by
  ``backoff_max``. ``on_disconnect(exc)`` and ``on_reconnect()`` are called as the link goes
  down and comes back; ``statistics()`` counts both.
* **one sender task** that drains a bounded queue of outgoing messages in pipelines
  (``PUBLISH``, or ``SPUBLISH`` when sharded, plus ``XADD`` for topics with history), so
  ``publish_nowait`` works from synchronous code and a burst costs one round trip.

Topics map to channels as ``{prefix}{{{topic}}}``: the braces make the topic a *hash tag*, so
in a Redis Cluster a topic's channel and its history stream (``...:history``) live in the same
slot, and sharded pub/sub (Redis 7 ``SSUBSCRIBE``/``SPUBLISH``, ``sharded=True``) spreads
topics over the shards instead of broadcasting every message to every node. Sharded pub/sub
has no patterns.

**In a cluster** the link is one subscriber connection per master, and it follows the
cluster: each (re)connection starts from a fresh view of who owns which slot (asked of any
node that answers, the URL's node or one learnt from the cluster since), so after a failover
the link resubscribes on the promoted replica. When Redis tells the link a channel's slot has
moved (``SUNSUBSCRIBE`` from the old owner, at the end of a migration or when a master is
demoted), or a subscription cannot be placed, the link is renewed the same way. Publishes
follow ``MOVED``/``ASK`` redirections (coredis).

**Delivery is at most once across processes.** While the link is down, ``publish`` raises
:class:`~wskit.exceptions.BackendUnavailable` at once (and within ``publish_timeout`` when
Redis hangs), the hub still delivers to its local subscribers, and messages other processes
publish meanwhile are lost for this one. Redis itself drops messages for a subscriber whose
output buffer passes ``client-output-buffer-limit pubsub``. Per topic, messages arrive in the
order Redis received them. Payloads are wskit envelopes (MessagePack, never pickle).
"""

from __future__ import annotations

import logging
import random
from collections import deque
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

import anyio
import coredis
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from coredis.exceptions import RedisError
from coredis.retry import NoRetryPolicy

from wskit.exceptions import BackendError, BackendUnavailable, MessageTooBig, WouldBlock

from .._service import Service
from ..history import RedisStreamHistory
from ._coredis import Leases, close_cluster_layout, give_back, quiet_connection_failures, tidy
from .base import DEFAULT_MAX_PAYLOAD, Backend, Counters, HistoryItem, offer, one_reader

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Collection

    from anyio.abc import TaskGroup

    from .base import BackendStatistics

__all__ = ["RedisBackend"]

logger: Final = logging.getLogger("wskit.pubsub.redis")

_MESSAGE_TYPES: Final = frozenset({"message", "smessage"})
_BATCH: Final = 512


class _SlotMoved(BackendUnavailable):
    """A cluster node unsubscribed the link from a topic whose slot it no longer owns."""


class _Outgoing:
    __slots__ = ("data", "done", "error", "history", "topic")

    def __init__(self, topic: str, data: bytes, history: int, done: anyio.Event | None) -> None:
        self.topic = topic
        self.data = data
        self.history = history
        self.done = done
        self.error: BaseException | None = None


def _one_line(exc: BaseException) -> str:
    """``Type: message`` of what went wrong, on one line, for a log record or an error message.

    coredis and anyio report a dropped link as (nested) exception groups; their repr is a
    screenful. The first exception at the bottom of the groups says what happened.
    """
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _shown(url: str) -> str:
    """``url`` without its password, for the log (a Redis URL may carry one)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _unavailable(exc: BaseException, what: str) -> BackendError:
    """Translate a coredis/transport error into wskit's typed error."""
    unreachable = (coredis.exceptions.ConnectionError, coredis.exceptions.RedisClusterError)
    if isinstance(exc, RedisError) and not isinstance(exc, unreachable):
        return BackendError(f"redis refused to {what}: {exc}")
    return BackendUnavailable(f"redis is unavailable: could not {what} ({_one_line(exc)})")


class RedisBackend(Service, Backend):
    """Carry a hub's messages between processes through Redis pub/sub (see the module docs).

    Args:
        url: ``redis://[:password@]host:port/db``, ``rediss://...`` or ``unix:///path.sock``.
            With ``sharded=True``, any node of the cluster.
        sharded: Use sharded pub/sub on a Redis Cluster (``SSUBSCRIBE``/``SPUBLISH``).
        prefix: Prepended to every channel and key.
        max_payload: Largest envelope accepted, in bytes (``None``: no limit).
        publish_timeout: Deadline of one ``publish`` (and of ``history``), in seconds.
        connect_timeout: Deadline of one connection attempt, in seconds.
        backoff_base: First reconnection delay, in seconds; doubles at each failed attempt.
        backoff_max: Longest reconnection delay, in seconds (the bound on recovery time once
            Redis is back). Each delay is drawn uniformly from its upper half (jitter).
        keepalive: Seconds of silence on the subscriber link before a ``PING`` checks it (a
            hung server is noticed after this plus ``publish_timeout``).
        max_outgoing: Messages queued for the sender before ``publish_nowait`` raises
            ``WouldBlock``.
        max_buffer: Messages received and not yet read by the hub before new ones are dropped.
        on_disconnect: Called with the error when the subscriber link goes down.
        on_reconnect: Called when the link is back and every subscription renewed.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        sharded: bool = False,
        prefix: str = "wskit:",
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
        publish_timeout: float = 2.0,
        connect_timeout: float = 2.0,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        keepalive: float = 10.0,
        max_outgoing: int = 10_000,
        max_buffer: int = 10_000,
        on_disconnect: Callable[[BaseException], object] | None = None,
        on_reconnect: Callable[[], object] | None = None,
    ) -> None:
        if any(char in prefix for char in "*?[]{}\\"):
            raise ValueError(f"prefix {prefix!r} may not contain glob characters or braces")
        if not 0 < backoff_base <= backoff_max:
            raise ValueError("need 0 < backoff_base <= backoff_max")
        parts = urlsplit(url)
        if sharded and (parts.scheme not in ("redis", "rediss") or not parts.hostname):
            raise ValueError(f"a cluster URL is redis://host:port, got {url!r}")
        self.url = url
        self.sharded = sharded
        #: Patterns work with plain pub/sub, not with sharded pub/sub.
        self.supports_patterns = not sharded
        self.prefix = prefix
        self.max_payload = max_payload
        self.publish_timeout = publish_timeout
        self.connect_timeout = connect_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.keepalive = keepalive
        self.max_outgoing = max_outgoing
        self.max_buffer = max_buffer
        self.on_disconnect = on_disconnect
        self.on_reconnect = on_reconnect
        self.history_store = RedisStreamHistory(lambda topic: f"{self.channel(topic)}:history")
        self._client: Any = None
        self._nodes: list[tuple[str, int]] = _entry_nodes(url) if sharded else []
        self._link_scope: anyio.CancelScope | None = None
        self._link_reset: BaseException | None = None
        self._unsubscribing: dict[str, int] = {}
        self._pubsub: Any = None
        self._topics: set[str] = set()
        self._patterns: set[str] = set()
        self._outgoing: deque[_Outgoing] = deque()
        self._wake_sender: anyio.Event | None = None
        self._inbox: MemoryObjectSendStream[tuple[str, bytes]] | None = None
        self._messages: MemoryObjectReceiveStream[tuple[str, bytes]] | None = None
        self._reading = False
        self._connected = False
        self._connected_event: anyio.Event | None = None
        self._ever_connected = False
        self._said_unreachable = False
        self._last_pattern_message: tuple[bytes, bytes] | None = None
        self._counts = Counters()
        quiet_connection_failures()  # this backend logs each failure once, in its own words

    # -- naming ---------------------------------------------------------------------------------

    def channel(self, topic: str) -> str:
        """The Redis channel of ``topic``: ``{prefix}{{{topic}}}`` (a hash tag per topic)."""
        return f"{self.prefix}{{{topic}}}"

    def topic(self, channel: bytes | str) -> str:
        """The topic of a channel name."""
        name = channel.decode() if isinstance(channel, bytes) else channel
        return name[len(self.prefix) + 1 : -1]

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether ``start()`` has run and ``close()`` has not."""
        return self._tg is not None

    @property
    def connected(self) -> bool:
        """Whether the subscriber link is up."""
        return self._connected

    async def wait_connected(self) -> None:
        """Wait until the subscriber link is up (use a deadline: Redis may stay down)."""
        while not self._connected:
            if self._connected_event is None:
                raise RuntimeError("the redis backend is not running")
            await self._connected_event.wait()

    def _make_client(self, nodes: Collection[tuple[str, int]] = ()) -> Any:
        client = self._new_client(nodes)
        pool = client.connection_pool
        pool.connection_class = tidy(pool.connection_class)
        return client

    def _new_client(self, nodes: Collection[tuple[str, int]]) -> Any:
        options: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            "stream_timeout": self.publish_timeout,
        }
        if self.sharded:
            # Not RedisCluster.from_url: coredis 6.9 warns (DeprecationWarning) from inside it.
            parts = urlsplit(self.url)
            return coredis.RedisCluster(
                startup_nodes=[{"host": host, "port": port} for host, port in nodes or self._nodes],
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                ssl=parts.scheme == "rediss",
                **options,
            )
        return coredis.Redis.from_url(self.url, **options)

    async def start(self) -> None:
        """Start the subscriber and sender tasks; call :meth:`close` from the same task.

        Raises:
            RuntimeError: The backend is already running.
            BackendUnavailable: ``sharded=True`` and the cluster cannot be reached (a single
                server may be down at start: the subscriber keeps trying).
        """
        await self._start("the backend")

    async def _open(self, stack: AsyncExitStack) -> None:
        if self.sharded:
            # Each link has a client of its own, opened by the subscriber task (a client's
            # task group closes in the task that opened it): this one only checks that a
            # cluster answers, so a wrong URL fails here rather than in the background.
            nodes = await self._reachable_nodes()
            if not nodes:
                raise BackendUnavailable(f"redis is unavailable: cannot connect to {self.url}")
            async with AsyncExitStack() as probe:
                await self._enter_client(probe, nodes, "start")
        else:
            self._client = await self._enter_client(stack, (), "start")
        self._connected_event = anyio.Event()
        self._inbox, self._messages = anyio.create_memory_object_stream[tuple[str, bytes]](
            self.max_buffer
        )

    def _run(self, tg: TaskGroup) -> None:
        tg.start_soon(self._supervise, name="wskit.redis subscriber")
        tg.start_soon(self._send_loop, name="wskit.redis sender")

    async def _enter_client(
        self, stack: AsyncExitStack, nodes: Collection[tuple[str, int]], what: str
    ) -> Any:
        """Open a coredis client on ``stack`` (a cluster client discovers the slots then)."""
        client = self._make_client(nodes)
        stack.callback(close_cluster_layout, client)
        try:
            # Bounded by coredis' connect timeout (a scope of ours cannot wrap it: the
            # client's task group stays open after it).
            await stack.enter_async_context(client)
        except (RedisError, OSError, TimeoutError) as exc:
            raise _unavailable(exc, what) from exc
        return client

    async def close(self) -> None:
        """Stop both tasks and disconnect; queued messages fail with ``BackendUnavailable``."""
        await self._stop()

    def _closed(self) -> None:
        self._fail_outgoing(BackendUnavailable("the redis backend is closed"))
        assert self._inbox is not None
        assert self._messages is not None
        self._inbox.close()
        self._messages.close()
        self._inbox = self._messages = None
        self._client = self._pubsub = None
        self._connected = False
        self._connected_event = None
        self._reading = False

    # -- the subscriber link --------------------------------------------------------------

    def _open_pubsub(self, client: Any) -> Any:
        options: dict[str, Any] = {
            "retry_policy": NoRetryPolicy(),
            # a cluster link reads the SUNSUBSCRIBE a node sends when a slot leaves it
            "ignore_subscribe_messages": not self.sharded,
            "max_idle_seconds": self.keepalive,
            "subscription_timeout": self.publish_timeout,
        }
        if not self.sharded:
            return client.pubsub(**options)
        pubsub = client.sharded_pubsub(**options)
        pubsub.connection_pool = Leases(pubsub.connection_pool)  # see _coredis.Leases
        return pubsub

    def backoff(self, attempt: int) -> float:
        """The delay before reconnection attempt ``attempt`` (0-based), with jitter."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return random.uniform(ceiling / 2, ceiling)

    async def _supervise(self) -> None:
        """Keep the subscriber link open: reconnect with backoff, renew subscriptions."""
        attempt = 0
        while True:
            nodes = await self._reachable_nodes()
            if not nodes:
                self._link_down(BackendUnavailable(f"cannot connect to {self.url}"))
                await anyio.sleep(self.backoff(attempt))
                attempt += 1
                continue
            moved = False
            try:
                # The link's own client (sharded) closes when the link ends, before the next
                # link opens, in this task (a client's task group closes where it opened).
                async with AsyncExitStack() as link:
                    client = self._client
                    if self.sharded:  # a fresh view of the cluster for every link
                        client = await self._enter_client(link, nodes, "connect")
                    opened = self._open_pubsub(client)
                    link.callback(give_back, opened)  # before the client closes
                    # Opening is bounded by coredis' connect and stream timeouts; a scope of
                    # ours cannot wrap it, since the pubsub's own task group stays open after it.
                    pubsub = await link.enter_async_context(opened)
                    with anyio.fail_after(self.connect_timeout + self.publish_timeout):
                        await self._renew(pubsub)
                        if self.sharded:
                            await self._learn_nodes(client)
                    self._link_up(pubsub, client)
                    attempt = 0
                    with anyio.CancelScope() as self._link_scope:
                        await self._read(pubsub)
                    raise self._link_reset or BackendUnavailable("the link was renewed")
            except Exception as exc:  # ConnectionError, TimeoutError, or groups of them
                if self._tg is None:  # closing: coredis may fail to tidy up, nothing is down
                    return
                self._link_down(exc)
            except BaseExceptionGroup as group:  # cancelled, and coredis failed to tidy up
                _, cancelled = group.split(Exception)
                if cancelled is None:  # pragma: no cover - such a group is an ExceptionGroup
                    raise
                raise cancelled from None
            finally:
                moved = isinstance(self._link_reset, _SlotMoved)
                self._link_scope = self._link_reset = None
                if self.sharded:  # the link's client is closed
                    self._client = None
            if not moved:  # a moved slot is no failure: its new owner is up, go there now
                await anyio.sleep(self.backoff(attempt))
                attempt += 1

    def _renew_link(self, reason: BaseException) -> None:
        """Close the link (the supervisor reopens it on a fresh view of the cluster)."""
        scope = self._link_scope
        if scope is not None and self._link_reset is None:
            self._link_reset = reason
            scope.cancel()

    async def _reachable_nodes(self) -> list[tuple[str, int]]:
        """The known nodes that accept a connection at all (the URL's, or any node learnt).

        Checked before each attempt to (re)connect through coredis, whose failed attempts
        leave anyio streams unclosed (see ``_coredis.tidy``) and, in cluster mode, go through a
        discovery path this module cannot tidy.
        """
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            candidates: list[tuple[str, int]] = [(unquote(parts.path), 0)]
        else:
            candidates = self._nodes or [(parts.hostname or "localhost", parts.port or 6379)]
        reachable = []
        for host, port in candidates:
            try:
                with anyio.fail_after(self.connect_timeout):
                    if parts.scheme == "unix":
                        stream: Any = await anyio.connect_unix(host)
                    else:
                        stream = await anyio.connect_tcp(host, port)
            except (OSError, TimeoutError):
                continue
            await stream.aclose()
            reachable.append((host, port))
            if not self.sharded:
                break
        return reachable

    async def _learn_nodes(self, client: Any) -> None:
        """Remember every node of the cluster, so the next link starts from any live one."""
        learnt = dict.fromkeys(_entry_nodes(self.url))
        for group in (await client.cluster_slots()).values():
            for node in group:
                learnt[(str(node["host"]), int(node["port"]))] = None
        self._nodes = list(learnt)

    async def _renew(self, pubsub: Any) -> None:
        self._unsubscribing.clear()
        if self._topics:
            await pubsub.subscribe(*[self.channel(topic) for topic in self._topics])
        if self._patterns:
            await pubsub.psubscribe(*[self.channel(pattern) for pattern in self._patterns])

    def _link_up(self, pubsub: Any, client: Any) -> None:
        self._pubsub = pubsub
        self._client = client
        self._connected = True
        assert self._connected_event is not None  # set by start()
        self._connected_event.set()
        if self._ever_connected:
            self._counts.reconnects += 1
            logger.info("redis link is back (%s)", _shown(self.url))
            _call(self.on_reconnect)
        elif self._said_unreachable:
            logger.info("redis link is up (%s)", _shown(self.url))
        self._ever_connected = True

    def _link_down(self, exc: BaseException) -> None:
        self._pubsub = None
        if self._connected:
            self._connected = False
            self._connected_event = anyio.Event()
            self._counts.disconnects += 1
            logger.warning("redis link is down (%s): %s", _shown(self.url), _one_line(exc))
            _call(self.on_disconnect, exc)
        elif not self._ever_connected and not self._said_unreachable:
            # Down from the start: said once too (coredis's own records of it are dropped).
            self._said_unreachable = True
            logger.warning("redis is unreachable (%s): %s", _shown(self.url), _one_line(exc))
        else:
            logger.debug("redis connection attempt failed: %s", _one_line(exc))

    async def _read(self, pubsub: Any) -> None:
        inbox = self._inbox
        assert inbox is not None
        while True:
            message = await pubsub.get_message()
            if message is None:
                continue
            kind = message["type"]
            channel, data = message["channel"], message["data"]
            if kind == "pmessage":
                topic = self.topic(channel)
                # A channel also subscribed by name, or matched by several patterns, comes once
                # per subscription: keep one copy (envelopes are unique, so equal means copy).
                if topic in self._topics or self._last_pattern_message == (channel, data):
                    continue
                self._last_pattern_message = (channel, data)
            elif kind in _MESSAGE_TYPES:
                topic = self.topic(channel)
            elif kind == "sunsubscribe":
                self._unsubscribed(self.topic(channel))
                continue
            else:  # a sharded link's SSUBSCRIBE acknowledgements
                continue
            if offer(inbox, (topic, data)):
                self._counts.received += 1
            else:
                self._counts.dropped += 1

    def _unsubscribed(self, topic: str) -> None:
        """A SUNSUBSCRIBE arrived: ours, or a node's word that the topic's slot left it."""
        pending = self._unsubscribing.get(topic, 0)
        if pending > 1:
            self._unsubscribing[topic] = pending - 1
        elif pending == 1:
            del self._unsubscribing[topic]
        elif topic in self._topics:
            self._renew_link(_SlotMoved(f"the slot of topic {topic!r} moved to another node"))

    async def subscribe(self, topics: Collection[str], *, patterns: bool = False) -> None:
        """Subscribe to ``topics`` now if the link is up, and on every reconnection."""
        if patterns and self.sharded:
            raise ValueError("sharded pub/sub does not support patterns")
        wanted = self._patterns if patterns else self._topics
        new = [topic for topic in topics if topic not in wanted]
        wanted.update(new)
        pubsub = self._pubsub
        if not new or pubsub is None:
            return
        channels = [self.channel(topic) for topic in new]
        subscribe = pubsub.psubscribe if patterns else pubsub.subscribe
        try:
            with anyio.fail_after(self.publish_timeout):
                await subscribe(*channels)
        except Exception as exc:  # the supervisor renews it when the link is back
            logger.debug("subscribing to %s failed: %r", new, exc)
            if self.sharded:  # the view of the cluster may be stale: take a fresh one
                self._renew_link(exc)

    async def unsubscribe(self, topics: Collection[str], *, patterns: bool = False) -> None:
        """Unsubscribe from ``topics``."""
        wanted = self._patterns if patterns else self._topics
        gone = [topic for topic in topics if topic in wanted]
        wanted.difference_update(gone)
        pubsub = self._pubsub
        if not gone or pubsub is None:
            return
        if self.sharded:
            for topic in gone:
                self._unsubscribing[topic] = self._unsubscribing.get(topic, 0) + 1
        channels = [self.channel(topic) for topic in gone]
        unsubscribe = pubsub.punsubscribe if patterns else pubsub.unsubscribe
        try:
            with anyio.fail_after(self.publish_timeout):
                await unsubscribe(*channels)
        except Exception as exc:  # a dropped link unsubscribes everything anyway
            logger.debug("unsubscribing from %s failed: %r", gone, exc)

    def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """The stream of messages received, for the hub's single reader."""
        stream = one_reader(self._messages, self._reading, "redis")
        self._reading = True
        return stream

    # -- publishing -----------------------------------------------------------------------------

    def _enqueue(
        self, topic: str, data: bytes, history: int, done: anyio.Event | None
    ) -> _Outgoing:
        if self._tg is None:
            raise BackendUnavailable("the redis backend is not running")
        if self.max_payload is not None and len(data) > self.max_payload:
            raise MessageTooBig(len(data), self.max_payload, "publish")
        if not self._connected:
            self._counts.publish_errors += 1
            raise BackendUnavailable(f"redis is unavailable: the link to {self.url} is down")
        if len(self._outgoing) >= self.max_outgoing:
            raise WouldBlock(f"{len(self._outgoing)} messages are waiting for redis")
        item = _Outgoing(topic, data, history, done)
        self._outgoing.append(item)
        wake = self._wake_sender
        if wake is not None:
            self._wake_sender = None
            wake.set()
        return item

    async def publish(self, topic: str, data: bytes, *, history: int = 0) -> None:
        """Publish through the sender and wait for Redis to take it.

        Raises:
            BackendUnavailable: The link is down, or Redis did not answer in
                ``publish_timeout`` seconds.
            WouldBlock: ``max_outgoing`` messages are already waiting.
        """
        item = self._enqueue(topic, data, history, anyio.Event())
        assert item.done is not None
        with anyio.move_on_after(self.publish_timeout + 0.5):
            await item.done.wait()
        if not item.done.is_set():
            item.error = BackendUnavailable(
                f"redis did not take the message within {self.publish_timeout} seconds"
            )
        if item.error is not None:
            raise item.error

    def publish_nowait(self, topic: str, data: bytes, *, history: int = 0) -> None:
        """Queue a message for the sender (errors of the send itself are only counted)."""
        self._enqueue(topic, data, history, None)

    async def _send_loop(self) -> None:
        outgoing = self._outgoing
        while True:
            if not outgoing:
                self._wake_sender = wake = anyio.Event()
                await wake.wait()
            batch = [outgoing.popleft() for _ in range(min(_BATCH, len(outgoing)))]
            # Cancelled mid-batch (the backend closes), the waiters still hear about it.
            error: BaseException | None = BackendUnavailable("the redis backend is closed")
            try:
                client = self._client
                if client is None:
                    raise BackendUnavailable("redis is unavailable: the link is down")
                with anyio.fail_after(self.publish_timeout):
                    async with client.pipeline(transaction=False) as pipe:
                        for item in batch:
                            if item.history > 0:
                                self.history_store.append(pipe, item.topic, item.data, item.history)
                            if self.sharded:
                                pipe.spublish(self.channel(item.topic), item.data)
                            else:
                                pipe.publish(self.channel(item.topic), item.data)
            except Exception as exc:
                error = _unavailable(exc, "publish")
                error.__cause__ = exc
                self._counts.publish_errors += len(batch)
                logger.debug("publishing %d messages failed: %r", len(batch), exc)
            else:
                error = None
                self._counts.published += len(batch)
            finally:
                for item in batch:
                    item.error = error
                    if item.done is not None:
                        item.done.set()

    def _fail_outgoing(self, error: BackendError) -> None:
        while self._outgoing:
            item = self._outgoing.popleft()
            item.error = error
            if item.done is not None:
                item.done.set()

    # -- history and statistics ------------------------------------------------------------------

    async def history(
        self, topic: str, *, after: str | None = None, limit: int | None = None
    ) -> list[HistoryItem]:
        """``XRANGE`` on the topic's stream.

        Raises:
            BackendUnavailable: Redis cannot be reached.
        """
        if self._client is None:
            raise BackendUnavailable("the redis backend is not running")
        try:
            with anyio.fail_after(self.publish_timeout):
                return await self.history_store.range(self._client, topic, after, limit)
        except Exception as exc:
            raise _unavailable(exc, "read history") from exc

    def statistics(self) -> BackendStatistics:
        """The backend's counters."""
        subscriptions = len(self._topics) + len(self._patterns)
        return self._counts.snapshot(connected=self._connected, subscriptions=subscriptions)

    def __repr__(self) -> str:
        state = "connected" if self._connected else "disconnected"
        mode = " sharded" if self.sharded else ""
        return f"<RedisBackend {self.url!r}{mode} {state}>"


def _entry_nodes(url: str) -> list[tuple[str, int]]:
    parts = urlsplit(url)
    return [(parts.hostname or "localhost", parts.port or 6379)]


def _call(callback: Callable[..., object] | None, *args: object) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        logger.exception("redis backend callback %r failed", callback)
