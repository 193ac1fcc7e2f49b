"""The demo chat as an ASGI app: :func:`create_app` builds it from a :class:`DemoConfig`.

What it wires together, layer by layer:

* ``wskit.App`` routes ``/ws`` (the chat) and hands plain HTTP to a small Starlette app
  (:mod:`wskit.demo.web`) that serves the page (``/``), its files (``/static/...``) and the
  protocol's AsyncAPI document (``/asyncapi`` and ``/asyncapi.json``). Handshake policies:
  the ``Origin`` allow-list (on by default: the demo's own origins) and an ``authenticate``
  hook that takes the user's name from the query string (``/ws?name=alice``; an invalid name
  is refused with 401).
* An :class:`~wskit.operations.OperationRouter` with the operations of
  :mod:`wskit.demo.protocol`: ``room.join``, ``room.leave``, ``message.send`` and ``typing``.
* A :class:`~wskit.pubsub.Hub` with one topic per room (``room:<name>``) and a bounded outbox
  per connection, on the in-memory backend, or on Redis when ``redis_url`` is set so that
  several server processes share the rooms.
* A :class:`~wskit.demo.store.RoomStore` for presence and history (memory or Redis).

The module attribute ``app`` (built on first access from ``WSKIT_DEMO_CONFIG``, a JSON
:class:`DemoConfig`) is what each worker process imports with ``wskit demo --workers N``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import anyio
import msgspec

from wskit.app import App
from wskit.connection import WebSocket  # at run time: the router reads handler annotations
from wskit.exceptions import BackendUnavailable
from wskit.operations import OperationError, OperationRouter

from . import protocol as p
from .store import MemoryStore, RedisStore, RoomStore
from .web import STATIC_DIR, http_app

if TYPE_CHECKING:
    from wskit.pubsub import Hub

__all__ = [
    "CONFIG_ENV",
    "STATIC_DIR",
    "ChatServer",
    "DemoApp",
    "DemoConfig",
    "config_from_env",
    "create_app",
]

#: The environment variable through which ``wskit demo`` passes its config to worker processes.
CONFIG_ENV: Final = "WSKIT_DEMO_CONFIG"

#: Room changes and typing notices a connection may send per second, and at once.
CONTROL_RATE: Final = 5.0
CONTROL_BURST: Final = 20


class DemoConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the demo app can be configured with.

    Attributes:
        origins: The ``Origin`` values allowed to open the WebSocket (the page's own origin);
            ``None`` turns the check off.
        redis_url: Share rooms through Redis (``redis://...`` or ``unix://...``); ``None``
            keeps everything in this process.
        history: How many recent messages a joining client receives.
        outbox: Messages buffered per connection before the oldest are dropped.
        rate: Chat messages a connection may send per second (sustained).
        burst: Chat messages a connection may send at once.
        presence_ttl: Seconds a member of a dead process stays listed (Redis only).
    """

    origins: tuple[str, ...] | None = ("http://127.0.0.1:8000", "http://localhost:8000")
    redis_url: str | None = None
    history: int = 50
    outbox: int = 256
    rate: float = 5.0
    burst: int = 10
    presence_ttl: float = 30.0

    @classmethod
    def for_address(cls, host: str, port: int, **options: Any) -> DemoConfig:
        """The config of a demo served on ``host:port``: its own origins are allowed."""
        hosts = {"127.0.0.1", "localhost", host}
        if host in ("0.0.0.0", "::", ""):
            hosts.discard(host)
        names = sorted(f"[{h}]" if ":" in h else h for h in hosts)
        return cls(origins=tuple(f"http://{h}:{port}" for h in names), **options)


class _Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class _Client:
    """What the server knows about one connection (kept on ``ws.state.chat``)."""

    __slots__ = ("bucket", "control", "member", "rooms", "seq", "typing")

    def __init__(self, member: p.Member, bucket: _Bucket) -> None:
        self.member = member
        self.bucket = bucket
        # Joins, leaves and typing notices each fan out to a whole room: bounded as well.
        self.control = _Bucket(CONTROL_RATE, CONTROL_BURST)
        self.rooms: set[str] = set()
        self.seq = itertools.count(1)
        self.typing: dict[str, tuple[bool, float]] = {}


class Stats:
    """Counters for the terminal status line (this process only)."""

    __slots__ = ("connections", "messages")

    def __init__(self) -> None:
        self.connections = 0
        self.messages = 0


def _topic(room: str) -> str:
    return f"room:{room}"


async def authenticate(ws: WebSocket) -> str | None:
    """The handshake's auth hook: the display name from ``?name=``, or ``None`` (401)."""
    return p.valid_name(ws.query_params.get("name", ""))


class ChatServer:
    """The chat: its operation router, hub, room store and counters.

    Args:
        config: The demo's settings.
        store: Where presence and history live (default: memory, or Redis when
            ``config.redis_url`` is set).
    """

    def __init__(self, config: DemoConfig | None = None, *, store: RoomStore | None = None) -> None:
        self.config = config or DemoConfig()
        self.stats = Stats()
        self.router = self._build_router()
        self._hub: Hub | None = None
        self._given_store = store
        self._store: RoomStore | None = None
        self._clients: dict[int, _Client] = {}
        self._node = secrets.token_hex(3)
        self._sids = itertools.count(1)
        # A refresh must not put back a member whose leave ran while it was in flight.
        self._presence_lock = anyio.Lock()

    # -- lifetime --------------------------------------------------------------------------

    @property
    def hub(self) -> Hub:
        """The pub/sub hub (set up by :meth:`lifespan`)."""
        if self._hub is None:
            raise RuntimeError("the chat is not running: enter ChatServer.lifespan() first")
        return self._hub

    @property
    def store(self) -> RoomStore:
        """The room store (set up by :meth:`lifespan`)."""
        if self._store is None:
            raise RuntimeError("the chat is not running: enter ChatServer.lifespan() first")
        return self._store

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Set up the hub and the store (and the presence refresher for Redis), then clean up."""
        from wskit.pubsub import Backend, Hub, MemoryBackend

        config = self.config
        async with AsyncExitStack() as stack:
            backend: Backend
            store = self._given_store
            if config.redis_url is None:
                backend = MemoryBackend()
                store = store or MemoryStore(history=config.history)
            else:
                import coredis

                from wskit.pubsub import RedisBackend

                backend = RedisBackend(config.redis_url)
                if store is None:
                    client = coredis.Redis.from_url(config.redis_url, decode_responses=True)
                    await stack.enter_async_context(client)
                    store = RedisStore(
                        client, history=config.history, presence_ttl=config.presence_ttl
                    )
            hub = Hub(backend, max_queue=config.outbox, overflow="drop_oldest")
            self._hub = await stack.enter_async_context(hub)
            self._store = store
            try:
                async with anyio.create_task_group() as tg:
                    if isinstance(store, RedisStore):
                        tg.start_soon(self._refresh_presence, store.presence_ttl / 3)
                    try:
                        yield
                    finally:
                        tg.cancel_scope.cancel()
            finally:
                self._hub = self._store = None

    async def _refresh_presence(self, every: float) -> None:
        while True:
            await anyio.sleep(every)
            async with self._presence_lock:
                entries = [
                    (room, client.member)
                    for client in self._clients.values()
                    for room in client.rooms
                ]
                try:
                    await self.store.refresh(entries)
                except BackendUnavailable:
                    pass  # the next round tries again; members expire only after presence_ttl

    def local_rooms(self) -> int:
        """How many rooms the connections of this process are in."""
        return len({room for client in self._clients.values() for room in client.rooms})

    # -- the WebSocket endpoint ------------------------------------------------------------

    async def endpoint(self, ws: WebSocket) -> None:
        """Serve one chat connection: accept, say who it is, run the router, clean up."""
        name: str = ws.state.user
        member = p.Member(sid=f"{self._node}-{next(self._sids)}", name=name)
        client = _Client(member, _Bucket(self.config.rate, self.config.burst))
        ws.state.chat = client
        await ws.accept()
        self._clients[id(ws)] = client
        self.stats.connections += 1
        try:
            await self.router.emit(ws, "session", p.SessionInfo(sid=member.sid, name=name))
            await self.router(ws)
        finally:
            self.stats.connections -= 1
            del self._clients[id(ws)]
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                for room in sorted(client.rooms):
                    await self._left(ws, client, room)

    async def _publish(self, room: str, name: str, value: object) -> None:
        found = self.router.outbound(name)
        if found is None:  # pragma: no cover - every name used here is declared
            raise LookupError(name)
        struct, _ = found
        try:
            await self.hub.publish(_topic(room), struct(value))
        except BackendUnavailable as exc:
            raise OperationError("unavailable", "The chat cannot reach its storage.") from exc

    async def _left(self, ws: WebSocket, client: _Client, room: str) -> None:
        client.rooms.discard(room)
        client.typing.pop(room, None)
        if not ws.closed:
            await self.hub.unsubscribe(ws, _topic(room))
        # Never raises: a leave always succeeds for the client; with the store or the backend
        # down, the others see it late (the member expires from the store after presence_ttl).
        with contextlib.suppress(BackendUnavailable, OperationError):
            async with self._presence_lock:
                presence = await self.store.leave(room, client.member)
            await self._publish(room, "presence", presence)

    # -- operations ------------------------------------------------------------------------

    def _build_router(self) -> OperationRouter:
        ops = OperationRouter(max_bad_messages=20)
        ops.emits("session", payload=p.SessionInfo, summary="Who the server thinks you are.")
        ops.emits("message.new", payload=p.ChatMessage, summary="A message posted in a room.")
        ops.emits("presence", payload=p.Presence, summary="Everyone in a room now.")
        ops.emits("history", payload=p.History, summary="A room's last messages, on join.")
        ops.emits("typing", payload=p.Typing, summary="Someone started or stopped typing.")

        @ops.on("room.join", reply="room.joined")
        async def join(payload: p.JoinRoom, ws: WebSocket) -> p.RoomJoined:
            """Join a room: get its history, and everyone gets the new presence."""
            client: _Client = ws.state.chat
            room = payload.room
            if room in client.rooms:
                return p.RoomJoined(room=room)
            if not client.control.take():
                raise OperationError("rate_limited", "Slow down: too many room changes.")
            if len(client.rooms) >= p.MAX_ROOMS:
                raise OperationError(
                    "too_many_rooms", f"You can be in {p.MAX_ROOMS} rooms at most."
                )
            # Subscribe before reading the history, so no message falls between the two
            # (one may come twice; clients drop duplicates by id).
            await self.hub.subscribe(ws, _topic(room))
            client.rooms.add(room)
            try:
                history = await self.store.history(room)
                presence = await self.store.join(room, client.member)
            except BackendUnavailable as exc:
                await self._left(ws, client, room)
                raise OperationError("unavailable", "The chat cannot reach its storage.") from exc
            await self.router.emit(ws, "history", p.History(room=room, messages=history))
            await self._publish(room, "presence", presence)
            return p.RoomJoined(room=room)

        @ops.on("room.leave", reply="room.left")
        async def leave(payload: p.LeaveRoom, ws: WebSocket) -> p.RoomLeft:
            """Leave a room; everyone left gets the new presence."""
            client: _Client = ws.state.chat
            if payload.room in client.rooms:
                if not client.control.take():
                    raise OperationError("rate_limited", "Slow down: too many room changes.")
                await self._left(ws, client, payload.room)
            return p.RoomLeft(room=payload.room)

        @ops.on("message.send", reply="message.sent")
        async def send(payload: p.SendMessage, ws: WebSocket) -> p.MessageSent:
            """Post a message to a room you are in; everyone in it gets ``message.new``."""
            client: _Client = ws.state.chat
            if payload.room not in client.rooms:
                raise OperationError("not_in_room", f"Join #{payload.room} before writing there.")
            if not payload.text.strip():
                raise OperationError("empty_message", "The message is empty.")
            if not client.bucket.take():
                raise OperationError("rate_limited", "Slow down: too many messages.")
            member = client.member
            message = p.ChatMessage(
                room=payload.room,
                id=f"{member.sid}-{next(client.seq)}",
                sid=member.sid,
                name=member.name,
                text=payload.text,
                ts=time.time_ns() // 1_000_000,
            )
            try:
                await self.store.add_message(message)
            except BackendUnavailable as exc:
                raise OperationError("unavailable", "The chat cannot reach its storage.") from exc
            await self._publish(payload.room, "message.new", message)
            client.typing.pop(payload.room, None)
            self.stats.messages += 1
            return p.MessageSent(room=message.room, id=message.id, ts=message.ts)

        @ops.on("typing")
        async def typing(payload: p.Typing, ws: WebSocket) -> None:
            """Say you started or stopped typing; everyone in the room gets ``typing``."""
            client: _Client = ws.state.chat
            room = payload.room
            if room not in client.rooms:
                return
            now = time.monotonic()
            last = client.typing.get(room)
            if last is not None and last[0] == payload.active and now - last[1] < 1.0:
                return  # the same news again within a second: not worth a fan-out
            if not client.control.take():
                return  # a typing indicator is a hint: drop it rather than complain
            client.typing[room] = (payload.active, now)
            member = client.member
            notice = p.Typing(room=room, active=payload.active, sid=member.sid, name=member.name)
            await self._publish(room, "typing", notice)

        return ops


class DemoApp(App):
    """The demo's ``wskit.App``, with the :class:`ChatServer` it serves as ``chat``."""

    def __init__(self, chat: ChatServer) -> None:
        super().__init__(
            http_app=http_app(chat),
            origins=chat.config.origins,
            lifespan=lambda app: chat.lifespan(app),
        )
        self.chat = chat
        self.add_route("/ws", chat.endpoint, name="chat", authenticate=authenticate)


def create_app(config: DemoConfig | None = None, *, store: RoomStore | None = None) -> DemoApp:
    """Build the demo chat app.

    Args:
        config: The settings (default: :class:`DemoConfig` for ``http://127.0.0.1:8000``).
        store: Where presence and history live (default: chosen from ``config``).
    """
    return DemoApp(ChatServer(config, store=store))


def config_from_env(environ: Mapping[str, str] | None = None) -> DemoConfig:
    """Read the :class:`DemoConfig` that ``wskit demo`` put in ``WSKIT_DEMO_CONFIG``."""
    environ = os.environ if environ is None else environ
    raw = environ.get(CONFIG_ENV)
    return DemoConfig() if not raw else msgspec.json.decode(raw, type=DemoConfig)


_app: DemoApp | None = None


def __getattr__(name: str) -> object:
    # ``wskit.demo.app:app`` for worker processes: built once, from the environment.
    global _app
    if name == "app":
        if _app is None:
            _app = create_app(config_from_env())
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
