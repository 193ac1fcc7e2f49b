"""The bytes a hub hands to its backend: one small MessagePack header around the encoded body.

Every message that leaves a process is an *envelope*, a MessagePack array written by msgspec
(never pickle: a backend such as Redis is shared, and unpickling what others wrote runs their
code)::

    [version, origin, seq, kind, codec, body]

``version``
    The format version, ``1``. A reader drops envelopes with an unknown version (counted as
    ``malformed``). Elements a newer writer appends after ``body`` are ignored by msgspec, so
    fields can be added without a version bump.
``origin``
    16 random bytes naming the hub that published the message. A hub delivers its own
    messages to its local subscribers at publish time and drops its own echo coming back
    from the backend, so nothing is delivered twice.
``seq``
    The hub's message counter: with ``origin`` it makes every envelope unique, so a backend can
    drop the copies one publish produces when several patterns match its channel.
``kind``
    What ``body`` holds: ``0`` a text frame (UTF-8 of a ``str`` published as is), ``1`` a
    binary frame (``bytes`` published as is), ``2`` a value encoded by a text codec, ``3`` a
    value encoded by a binary codec.
``codec``
    The codec's name (``"json"``, ``"msgpack"``) for kinds 2 and 3, else ``""``. A receiving
    hub sends ``body`` unchanged to subscribers whose codec has that name and transcodes once
    per other codec.
``body``
    The payload. The header costs about 25 bytes plus the codec name.
"""

from __future__ import annotations

import os
from typing import Final

import msgspec

from ..codecs import DECODE_ERRORS

__all__ = [
    "BINARY",
    "ENCODED_BINARY",
    "ENCODED_TEXT",
    "TEXT",
    "VERSION",
    "Envelope",
    "decode_envelope",
    "encode_envelope",
    "new_origin",
]

VERSION: Final = 1
TEXT: Final = 0
BINARY: Final = 1
ENCODED_TEXT: Final = 2
ENCODED_BINARY: Final = 3


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    """One message on the wire (see the module docstring for the fields)."""

    version: int
    origin: bytes
    seq: int
    kind: int
    codec: str
    body: bytes


_encode: Final = msgspec.msgpack.Encoder().encode
_decode: Final = msgspec.msgpack.Decoder(Envelope).decode


def new_origin() -> bytes:
    """Return 16 random bytes that name one hub among all the processes sharing a backend."""
    return os.urandom(16)


def encode_envelope(origin: bytes, seq: int, kind: int, codec: str, body: bytes) -> bytes:
    """Write an envelope."""
    return _encode(Envelope(VERSION, origin, seq, kind, codec, body))


def decode_envelope(data: bytes) -> Envelope | None:
    """Read an envelope, or return ``None`` for bytes that are not a version-1 envelope."""
    try:
        envelope = _decode(data)
    except DECODE_ERRORS:
        return None
    if envelope.version != VERSION or envelope.kind not in (0, 1, 2, 3):
        return None
    return envelope
