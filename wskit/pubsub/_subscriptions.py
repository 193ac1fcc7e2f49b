"""Who gets what: the hub's connections, topics and patterns, and the messages they receive.

The :class:`Subscriptions` keeps three indexes: connections (by ``id``, each an
:class:`~wskit.pubsub.outbox.Outbox`), topics and patterns (each a dict of subscribed outboxes
with their overflow policy). For a topic it caches the *recipient groups*: one per codec,
split into connections that take direct sends (idle WebSockets) and the others. The cache of a
topic is dropped whenever a subscription changes or one of its connections becomes busy or
idle; patterns bump a generation number that invalidates every cache. Topics that nobody
subscribed to by name (reached only through patterns) are computed on each publish: that is
the slow path.

It also turns a published value into the ASGI message each codec group receives: built once
per codec, shared by every connection of the group. Messages from other processes arrive as
envelopes; their body is reused as is for connections whose codec has the envelope's codec
name, and transcoded once for each other codec (decoded into the topic's registered type).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from wskit.codecs import JSON, MSGPACK, Codec
from wskit.exceptions import WebSocketDisconnected

from ._wire import BINARY, ENCODED_BINARY, ENCODED_TEXT, TEXT, Envelope
from .outbox import Outbox, OverflowPolicy, Subscriber
from .topics import compile_pattern

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from wskit._types import Message
    from wskit.connection import Port

    from ._fanout import Job, Part

__all__ = ["Local", "Subscriptions"]

logger: Final = logging.getLogger("wskit.pubsub")

_SEND: Final = "websocket.send"
# codec, the server sends of direct sends, their outboxes, the other outboxes, and the smallest
# outbound thresholds of the direct ones (text in characters, binary in bytes; see Port)
Group = tuple[Codec, tuple[Any, ...], tuple[Outbox, ...], tuple[Outbox, ...], int, int]


class _Topic:
    __slots__ = ("gen", "groups", "subs")

    def __init__(self) -> None:
        self.subs: dict[Outbox, OverflowPolicy] = {}
        self.groups: list[Group] | None = None
        self.gen = -1


class _Pattern:
    __slots__ = ("match", "subs")

    def __init__(self, pattern: str) -> None:
        self.match = compile_pattern(pattern)
        self.subs: dict[Outbox, OverflowPolicy] = {}


class Local:
    """A value published in this process, with its ASGI message per codec (built lazily)."""

    __slots__ = ("kind", "messages", "value")

    def __init__(self, value: object, kind: int, messages: dict[Codec | None, Message]) -> None:
        self.value = value
        self.kind = kind
        self.messages = messages


def message(frame: str | bytes) -> Message:
    """The ASGI ``websocket.send`` message of a frame."""
    if type(frame) is str:
        return {"type": _SEND, "text": frame}
    return {"type": _SEND, "bytes": frame}


def build(outboxes: Iterable[Outbox]) -> list[Group]:
    """Split recipients by codec, and by path: direct sends for idle, open WebSockets."""
    split: dict[Codec, tuple[list[tuple[Outbox, Port]], list[Outbox]]] = {}
    for outbox in outboxes:
        direct, others = split.get(outbox.codec) or split.setdefault(outbox.codec, ([], []))
        port = outbox.port
        if port is not None and port.send is not None and not outbox.busy:
            direct.append((outbox, port))
        else:
            others.append(outbox)
    groups: list[Group] = []
    for codec, (direct, others) in split.items():
        sends = tuple(port.send for _, port in direct)
        text_out = min((port.text_out for _, port in direct), default=0)
        bytes_out = min((port.bytes_out for _, port in direct), default=0)
        fast = tuple(outbox for outbox, _ in direct)
        groups.append((codec, sends, fast, tuple(others), text_out, bytes_out))
    return groups


class Subscriptions:
    """Connections, topics and patterns of one hub (see the module docstring).

    Args:
        codec: The hub's codec (the envelopes' codec).
        maxlen: The outbox size of new connections.
        overflow: The default overflow policy.
    """

    def __init__(self, codec: Codec, maxlen: int, overflow: OverflowPolicy) -> None:
        self.codec = codec
        self.maxlen = maxlen
        self.overflow: OverflowPolicy = overflow
        self.outboxes: dict[int, Outbox] = {}
        self.topics: dict[str, _Topic] = {}
        self.patterns: dict[str, _Pattern] = {}
        #: Topic types registered with ``Hub.register_topic``.
        self.types: dict[str, object] = {}
        #: Topics and patterns (``(name, is_pattern)``) whose backend subscription may change.
        self.dirty: dict[tuple[str, bool], None] = {}
        self._pattern_gen = 0
        self._all: list[Group] | None = None
        # One bound method for every connection's fast-path watcher (not one per connection).
        self._fast_changed = self.fast_changed

    def clear(self) -> None:
        """Forget every connection and subscription (the hub stopped)."""
        for outbox in self.outboxes.values():
            outbox.closed = True
            outbox.clear()
        self.outboxes = {}
        self.topics.clear()
        self.patterns.clear()
        self.dirty.clear()
        self._all = None

    # -- connections ------------------------------------------------------------------------

    def lookup(self, ws: object) -> Outbox | None:
        """The outbox of ``ws``, if the hub knows it."""
        outbox = self.outboxes.get(id(ws))
        return outbox if outbox is not None and outbox.conn is ws else None

    def outbox(self, ws: Subscriber, on_close: Callable[[object], object]) -> Outbox:
        """The outbox of ``ws``, created (and its close callback added) on first use.

        Raises:
            WebSocketDisconnected: The connection has already ended.
        """
        outbox = self.lookup(ws)
        if outbox is not None:
            return outbox
        outbox = Outbox(ws, self.maxlen)
        self.outboxes[outbox.key] = outbox
        self._all = None
        ws.add_close_callback(on_close)
        if outbox.port is not None:
            outbox.port.watch(self._fast_changed)
        if outbox.closed:
            raise WebSocketDisconnected("DISCONNECTED", "subscribe", "send", "the connection ended")
        return outbox

    def forget(self, outbox: Outbox) -> None:
        """End every subscription of ``outbox`` (its connection is gone or evicted)."""
        outbox.closed = True
        outbox.clear()
        if outbox.port is not None:
            outbox.port.unwatch(self._fast_changed)
        self.outboxes.pop(outbox.key, None)
        if not self.outboxes:
            self.outboxes = {}  # a dict never shrinks: give its table back
        self._all = None
        for topic in outbox.topics:
            self._drop(topic, outbox)
        for pattern in outbox.patterns:
            self._drop_pattern(pattern, outbox)
        outbox.topics.clear()
        outbox.patterns.clear()

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(self, outbox: Outbox, name: str, policy: OverflowPolicy, pattern: bool) -> None:
        """Subscribe ``outbox`` to a topic (or a pattern) with ``policy``."""
        if pattern:
            state_p = self.patterns.get(name)
            if state_p is None:
                state_p = self.patterns[name] = _Pattern(name)
                self.dirty[name, True] = None
            state_p.subs[outbox] = policy
            outbox.patterns[name] = policy
            self._pattern_gen += 1
            return
        state = self.topics.get(name)
        if state is None:
            state = self.topics[name] = _Topic()
            self.dirty[name, False] = None
        state.subs[outbox] = policy
        state.groups = None
        outbox.topics[name] = policy

    def unsubscribe(self, outbox: Outbox, name: str) -> None:
        """End the subscription of ``outbox`` to a topic or pattern called ``name``."""
        if outbox.topics.pop(name, None) is not None:
            self._drop(name, outbox)
        if outbox.patterns.pop(name, None) is not None:
            self._drop_pattern(name, outbox)

    def _drop(self, topic: str, outbox: Outbox) -> None:
        state = self.topics[topic]
        del state.subs[outbox]
        state.groups = None
        if not state.subs:
            del self.topics[topic]
            self.dirty[topic, False] = None

    def _drop_pattern(self, pattern: str, outbox: Outbox) -> None:
        state = self.patterns[pattern]
        del state.subs[outbox]
        self._pattern_gen += 1
        if not state.subs:
            del self.patterns[pattern]
            self.dirty[pattern, True] = None

    def members(self, topic: str) -> dict[Outbox, None]:
        """The outboxes a message of ``topic`` reaches: exact subscribers, then patterns'."""
        state = self.topics.get(topic)
        members: dict[Outbox, None] = dict.fromkeys(state.subs) if state is not None else {}
        for pattern in self.patterns.values():
            if pattern.match(topic):
                members.update(dict.fromkeys(pattern.subs))
        return members

    def policy(self, outbox: Outbox, topic: str | None) -> OverflowPolicy:
        """The overflow policy of ``outbox``'s subscription that brings it ``topic``."""
        if topic is not None:
            policy = outbox.topics.get(topic)
            if policy is not None:
                return policy
            # it came through a pattern: the policy of the first that matches
            patterns = self.patterns
            matching = (p for name, p in outbox.patterns.items() if patterns[name].match(topic))
            return next(matching, self.overflow)
        return self.overflow

    # -- recipient groups -------------------------------------------------------------------

    def fast_changed(self, ws: object) -> None:
        """A connection's port opened or shut (it started closing, say), or its thresholds
        changed: regroup it."""
        outbox = self.lookup(ws)
        if outbox is not None:
            self.changed(outbox)

    def changed(self, outbox: Outbox) -> None:
        """``outbox`` became busy or idle: recipient groups that include it are stale."""
        topics = self.topics
        for topic in outbox.topics:
            topics[topic].groups = None
        if outbox.patterns:
            self._pattern_gen += 1
        self._all = None

    def groups(self, topic: str | None) -> list[Group]:
        """The recipient groups of ``topic`` (``None``: every connection, for broadcasts)."""
        if topic is None:
            if self._all is None:
                self._all = build(self.outboxes.values())
            return self._all
        state = self.topics.get(topic)
        if state is not None and state.groups is not None and state.gen == self._pattern_gen:
            return state.groups
        if self.patterns:
            groups = build(self.members(topic))
        elif state is not None:
            groups = build(state.subs)
        else:
            return []
        if state is not None:
            state.groups, state.gen = groups, self._pattern_gen
        return groups

    def resolve(self, job: Job) -> list[Part]:
        """A job's parts: one message per codec, the recipients split by path."""
        parts: list[Part] = []
        for codec, sends, fast, slow, text_out, bytes_out in self.groups(job.topic):
            built = self._message_for(job, codec)
            if built is None:
                continue
            text = built.get("text")
            if fast and (
                len(text) > text_out if text is not None else len(built["bytes"]) > bytes_out
            ):
                # Over a recipient's threshold: every send_frame checks its own limit.
                sends, fast, slow = (), (), fast + slow
            parts.append((sends, fast, slow, built))
        return parts

    # -- messages -----------------------------------------------------------------------------

    def source(self, value: object) -> tuple[Local, str, bytes]:
        """Encode ``value`` once: its local messages, and the envelope's codec name and body.

        Raises:
            TypeError: The hub's codec cannot encode ``value``.
        """
        tv = type(value)
        if tv is str:
            text: str = value  # type: ignore[assignment]
            return Local(value, TEXT, {None: {"type": _SEND, "text": text}}), "", text.encode()
        if tv is bytes or tv is bytearray or tv is memoryview:
            data = bytes(value)  # type: ignore[call-overload]
            return Local(value, BINARY, {None: {"type": _SEND, "bytes": data}}), "", data
        codec = self.codec
        body = codec.encode(value)
        if codec.binary:
            return Local(value, ENCODED_BINARY, {codec: message(body)}), codec.name, body
        return Local(value, ENCODED_TEXT, {codec: message(body.decode())}), codec.name, body

    def _message_for(self, job: Job, codec: Codec) -> Message | None:
        source = job.source
        try:
            if isinstance(source, Local):
                built = source.messages.get(None) or source.messages.get(codec)
                if built is None:
                    built = source.messages[codec] = message(codec.encode_frame(source.value))
                return built
            assert isinstance(source, Envelope)
            return self._remote_message(source, codec, job.topic)
        except Exception:
            logger.exception(
                "cannot encode a message of topic %r for codec %r; its subscribers with that "
                "codec miss it",
                job.topic,
                codec.name,
            )
            return None

    def _remote_message(self, envelope: Envelope, codec: Codec, topic: str | None) -> Message:
        kind, body = envelope.kind, envelope.body
        if kind == TEXT:
            return message(body.decode())
        if kind == BINARY:
            return message(body)
        if codec.name == envelope.codec:
            return message(body if kind == ENCODED_BINARY else body.decode())
        decoder = self.codec_named(envelope.codec)
        tp = self.types.get(topic, Any) if topic is not None else Any
        return message(codec.encode_frame(decoder.decode(body, tp)))

    def codec_named(self, name: str) -> Codec:
        """A codec of this process called ``name``.

        Raises:
            LookupError: No codec of that name is in use here.
        """
        if name == self.codec.name:
            return self.codec
        for codec in (JSON, MSGPACK):
            if codec.name == name:
                return codec
        for outbox in self.outboxes.values():
            if outbox.codec.name == name:
                return outbox.codec
        raise LookupError(f"no codec named {name!r} in this process")
