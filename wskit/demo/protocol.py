"""The demo chat's protocol: the msgspec types of every operation, in both directions.

Every frame is a JSON text frame in the operation router's envelope
``{"type": ..., "payload": ..., "id": ...}``. The client chooses its name when it connects
(``/ws?name=alice``); the server answers with ``session`` and then:

================  =========  ==========================  ======================================
type              direction  payload                     effect
================  =========  ==========================  ======================================
``room.join``     in         :class:`JoinRoom`           reply ``room.joined``; then ``history``
                                                         to the joiner, ``presence`` to the room
``room.leave``    in         :class:`LeaveRoom`          reply ``room.left``; ``presence`` to
                                                         the room
``message.send``  in         :class:`SendMessage`        reply ``message.sent``; ``message.new``
                                                         to the room
``typing``        in         :class:`Typing`             ``typing`` to the room (no reply)
``session``       out        :class:`SessionInfo`        sent once, right after accept
``message.new``   out        :class:`ChatMessage`        a message posted in a joined room
``presence``      out        :class:`Presence`           who is in a room (the whole list)
``typing``        out        :class:`Typing`             someone started/stopped typing
``history``       out        :class:`History`            the room's last messages, on join
================  =========  ==========================  ======================================

Validation lives in the types (``msgspec.Meta`` constraints), so a bad payload is refused by
the router's single decoding pass with an ``invalid_payload`` error that names the field, and
the AsyncAPI document shows the same constraints.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import msgspec

__all__ = [
    "MAX_NAME",
    "MAX_ROOMS",
    "MAX_TEXT",
    "ChatMessage",
    "History",
    "JoinRoom",
    "LeaveRoom",
    "Member",
    "MessageSent",
    "Presence",
    "RoomJoined",
    "RoomLeft",
    "SendMessage",
    "SessionInfo",
    "Typing",
    "valid_name",
]

#: Longest display name, in characters.
MAX_NAME: Final = 32
#: Longest chat message, in characters.
MAX_TEXT: Final = 2000
#: How many rooms one connection may be in at once.
MAX_ROOMS: Final = 10

_ROOM_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# Printable text: no C0/C1 control characters, no line or paragraph separators.
_NAME_RE: Final = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]+")

RoomName = Annotated[
    str,
    msgspec.Meta(
        pattern=_ROOM_PATTERN,
        description="1-32 characters: lower-case letters, digits, '-' or '_'",
        examples=["lobby"],
    ),
]
DisplayName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_NAME, description="the author's display name")
]
MessageText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_TEXT, description="the message, plain text")
]
SessionId = Annotated[str, msgspec.Meta(description="identifies one connection")]


def valid_name(name: str) -> str | None:
    """Return the display name with surrounding spaces removed, or ``None`` if it is not valid.

    A name has 1 to :data:`MAX_NAME` printable characters (no control characters).
    """
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME or _NAME_RE.fullmatch(name) is None:
        return None
    return name


# --- client to server -----------------------------------------------------------------


class JoinRoom(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Join a room (at most ``MAX_ROOMS`` at once); joining a room twice is harmless."""

    room: RoomName


class LeaveRoom(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Leave a room; leaving a room one is not in is harmless."""

    room: RoomName


class SendMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Post a message to a room the connection has joined."""

    room: RoomName
    text: MessageText


class Typing(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Someone started (``active``) or stopped typing in a room; the same type both ways.

    A client sends ``room`` and ``active``; the server forwards it to the room with ``sid`` and
    ``name`` set (whatever a client put there is replaced). Clients expire an ``active`` notice
    after a few seconds, in case the ``active: false`` never comes.
    """

    room: RoomName
    active: bool
    sid: SessionId | None = None
    name: DisplayName | None = None


# --- server to client -----------------------------------------------------------------


class Member(msgspec.Struct, frozen=True):
    """One connection in a room."""

    sid: SessionId
    name: DisplayName


class SessionInfo(msgspec.Struct, frozen=True):
    """Sent once after the handshake: who the server thinks this connection is."""

    sid: SessionId
    name: DisplayName
    max_rooms: int = MAX_ROOMS
    max_text: int = MAX_TEXT


class RoomJoined(msgspec.Struct, frozen=True):
    """The reply to ``room.join``."""

    room: RoomName


class RoomLeft(msgspec.Struct, frozen=True):
    """The reply to ``room.leave``."""

    room: RoomName


class ChatMessage(msgspec.Struct, frozen=True):
    """A message posted in a room.

    Attributes:
        id: Unique per message (``<sid>-<n>``).
        ts: When the server received it, in milliseconds since the Unix epoch.
    """

    room: RoomName
    id: str
    sid: SessionId
    name: DisplayName
    text: MessageText
    ts: int


class MessageSent(msgspec.Struct, frozen=True):
    """The reply to ``message.send``: the id and time the message got."""

    room: RoomName
    id: str
    ts: int


class Presence(msgspec.Struct, frozen=True):
    """Everyone in a room now.

    Attributes:
        version: Grows with every change of the room's membership; with several server
            processes, presence updates may arrive out of order, and a client keeps the one
            with the highest version.
    """

    room: RoomName
    members: list[Member]
    version: int


class History(msgspec.Struct, frozen=True):
    """The last messages of a room, oldest first, sent to a connection that joins it."""

    room: RoomName
    messages: list[ChatMessage]
