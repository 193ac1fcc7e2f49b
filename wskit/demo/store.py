"""Room state shared by every server process of the demo: who is in a room, and its history.

Two implementations of one small interface, :class:`RoomStore`:

* :class:`MemoryStore` keeps everything in this process (the default: one process).
* :class:`RedisStore` keeps it in Redis (``WSKIT_REDIS_URL``), so that with ``--workers 2``
  (or several machines) every process sees the same members and history. The keys of one
  room share a hash tag (``wskit-demo:{room}:...``) so a Redis Cluster keeps them on one slot.

Presence across processes. Each member is a sorted-set entry whose score is its expiry time;
the process that holds the connection refreshes it (:meth:`RoomStore.refresh`) well before it
expires, so the members of a process that died without cleaning up disappear after
``presence_ttl`` seconds. Every change increments the room's version in the same transaction
that reads the new member list, so clients that receive two presence updates out of order
keep the newer one.

History is the room's last ``history`` messages (a capped list in Redis, a ``deque`` in memory).
"""

from __future__ import annotations

import abc
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final

import anyio
import msgspec

from wskit.exceptions import BackendUnavailable

from .protocol import ChatMessage, Member, Presence

if TYPE_CHECKING:
    import coredis

__all__ = ["MemoryStore", "RedisStore", "RoomStore"]

#: How many rooms the memory store keeps history for (the least recently used go first).
MAX_ROOMS_WITH_HISTORY: Final = 1000

_encode: Final = msgspec.json.Encoder().encode
_decode_member: Final = msgspec.json.Decoder(Member).decode
_decode_message: Final = msgspec.json.Decoder(ChatMessage).decode


class RoomStore(abc.ABC):
    """Members and recent messages of every room.

    Args:
        history: How many recent messages to keep per room (0: none).
    """

    def __init__(self, *, history: int = 50) -> None:
        if history < 0:
            raise ValueError(f"history must be >= 0, got {history}")
        self.history_size = history

    @abc.abstractmethod
    async def join(self, room: str, member: Member) -> Presence:
        """Add ``member`` to ``room`` and return the room's presence after the change."""

    @abc.abstractmethod
    async def leave(self, room: str, member: Member) -> Presence:
        """Remove ``member`` from ``room`` and return the room's presence after the change."""

    @abc.abstractmethod
    async def presence(self, room: str) -> Presence:
        """Return who is in ``room`` now."""

    @abc.abstractmethod
    async def add_message(self, message: ChatMessage) -> None:
        """Remember ``message`` in its room's history."""

    @abc.abstractmethod
    async def history(self, room: str) -> list[ChatMessage]:
        """Return the room's recent messages, oldest first."""

    async def refresh(self, members: Iterable[tuple[str, Member]]) -> None:  # noqa: B027
        """Keep this process's members alive (stores with expiring members override it)."""


class MemoryStore(RoomStore):
    """Rooms in this process only (one server process)."""

    def __init__(self, *, history: int = 50) -> None:
        super().__init__(history=history)
        self._members: dict[str, dict[str, Member]] = {}
        self._versions: dict[str, int] = {}
        self._history: OrderedDict[str, deque[ChatMessage]] = OrderedDict()

    def _snapshot(self, room: str) -> Presence:
        members = self._members.get(room, {})
        return Presence(room=room, members=list(members.values()), version=self._versions[room])

    def _bump(self, room: str) -> None:
        self._versions[room] = self._versions.get(room, 0) + 1

    async def join(self, room: str, member: Member) -> Presence:
        """Add ``member`` to ``room`` and return the room's presence after the change."""
        self._members.setdefault(room, {})[member.sid] = member
        self._bump(room)
        return self._snapshot(room)

    async def leave(self, room: str, member: Member) -> Presence:
        """Remove ``member`` from ``room`` and return the room's presence after the change."""
        members = self._members.get(room)
        if members is not None:
            members.pop(member.sid, None)
        self._bump(room)
        presence = self._snapshot(room)
        if not members:
            # An empty room is forgotten. Its version may start again at 1: in one process
            # presence updates arrive in order, and whoever joins next starts afresh.
            self._members.pop(room, None)
            del self._versions[room]
        return presence

    async def presence(self, room: str) -> Presence:
        """Return who is in ``room`` now."""
        members = self._members.get(room, {})
        return Presence(
            room=room, members=list(members.values()), version=self._versions.get(room, 0)
        )

    async def add_message(self, message: ChatMessage) -> None:
        """Remember ``message`` in its room's history."""
        if not self.history_size:
            return
        kept = self._history.get(message.room)
        if kept is None:
            kept = self._history[message.room] = deque(maxlen=self.history_size)
            while len(self._history) > MAX_ROOMS_WITH_HISTORY:
                self._history.popitem(last=False)
        else:
            self._history.move_to_end(message.room)
        kept.append(message)

    async def history(self, room: str) -> list[ChatMessage]:
        """Return the room's recent messages, oldest first."""
        return list(self._history.get(room, ()))


class RedisStore(RoomStore):
    """Rooms in Redis, shared by every process that uses the same server and ``prefix``.

    Args:
        client: An entered ``coredis.Redis`` client with ``decode_responses=True``.
        history: How many recent messages to keep per room.
        prefix: The first part of every key.
        presence_ttl: Seconds a member stays listed without a :meth:`refresh`.
        history_ttl: Seconds a quiet room's history and version are kept.
        timeout: Seconds any one Redis round trip may take.

    Every method raises :class:`~wskit.exceptions.BackendUnavailable` when Redis fails or does
    not answer within ``timeout``.
    """

    def __init__(
        self,
        client: coredis.Redis[str],
        *,
        history: int = 50,
        prefix: str = "wskit-demo",
        presence_ttl: float = 30.0,
        history_ttl: int = 7 * 24 * 3600,
        timeout: float = 5.0,
    ) -> None:
        from coredis.exceptions import RedisError

        super().__init__(history=history)
        if presence_ttl <= 0:
            raise ValueError(f"presence_ttl must be positive, got {presence_ttl}")
        self.client = client
        self.prefix = prefix
        self.presence_ttl = presence_ttl
        self.history_ttl = history_ttl
        self.timeout = timeout
        self._errors: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError)

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Bound a Redis round trip by ``timeout`` and turn its failures into one error type."""
        try:
            with anyio.fail_after(self.timeout):
                yield
        except self._errors as exc:
            raise BackendUnavailable(f"the demo's room store (Redis) failed: {exc!r}") from exc

    def _key(self, room: str, kind: str) -> str:
        return f"{self.prefix}:{{{room}}}:{kind}"

    async def _change(self, room: str, member: Member, *, add: bool) -> Presence:
        from coredis.tokens import PureToken

        members_key, version_key = self._key(room, "members"), self._key(room, "version")
        now = time.time()
        entry = _encode(member).decode()
        async with self._guard():
            async with self.client.pipeline(transaction=True) as pipe:
                if add:
                    _ = pipe.zadd(members_key, {entry: now + self.presence_ttl})
                else:
                    _ = pipe.zrem(members_key, [entry])
                _ = pipe.zremrangebyscore(members_key, float("-inf"), now)
                _ = pipe.expire(members_key, max(1, int(self.presence_ttl * 2)))
                version = pipe.incr(version_key)
                _ = pipe.expire(version_key, self.history_ttl)
                listed = pipe.zrange(members_key, now, "+inf", sortby=PureToken.BYSCORE)
            return _presence(room, await listed, await version)

    async def join(self, room: str, member: Member) -> Presence:
        """Add ``member`` to ``room`` and return the room's presence after the change."""
        return await self._change(room, member, add=True)

    async def leave(self, room: str, member: Member) -> Presence:
        """Remove ``member`` from ``room`` and return the room's presence after the change."""
        return await self._change(room, member, add=False)

    async def presence(self, room: str) -> Presence:
        """Return who is in ``room`` now."""
        from coredis.tokens import PureToken

        async with self._guard():
            async with self.client.pipeline(transaction=True) as pipe:
                version = pipe.get(self._key(room, "version"))
                listed = pipe.zrange(
                    self._key(room, "members"), time.time(), "+inf", sortby=PureToken.BYSCORE
                )
            return _presence(room, await listed, int(await version or 0))

    async def add_message(self, message: ChatMessage) -> None:
        """Remember ``message`` in its room's history."""
        if not self.history_size:
            return
        key = self._key(message.room, "history")
        async with self._guard(), self.client.pipeline(transaction=True) as pipe:
            _ = pipe.lpush(key, [_encode(message).decode()])
            _ = pipe.ltrim(key, 0, self.history_size - 1)
            _ = pipe.expire(key, self.history_ttl)

    async def history(self, room: str) -> list[ChatMessage]:
        """Return the room's recent messages, oldest first."""
        if not self.history_size:
            return []
        async with self._guard():
            items = await self.client.lrange(self._key(room, "history"), 0, self.history_size - 1)
        return [_decode_message(item) for item in reversed(items)]

    async def refresh(self, members: Iterable[tuple[str, Member]]) -> None:
        """Push back the expiry of this process's members (call it every ``presence_ttl / 3``)."""
        expires = time.time() + self.presence_ttl
        entries = list(members)
        if not entries:
            return
        async with self._guard(), self.client.pipeline(transaction=False) as pipe:
            for room, member in entries:
                key = self._key(room, "members")
                _ = pipe.zadd(key, {_encode(member).decode(): expires})
                _ = pipe.expire(key, max(1, int(self.presence_ttl * 2)))


def _presence(room: str, listed: Iterable[str], version: int) -> Presence:
    members = [_decode_member(item) for item in listed]
    return Presence(room=room, members=members, version=version)
