"""How ``WebSocket.receive(tp)`` turns a message into a ``tp``: one plan per type, built once.

A plan holds the msgspec decoders of the fast path (text frames through the connection's text
codec, binary frames through its binary codec) or, for the scalars of :mod:`wskit._casting`'s
table (and their ``Literal``/``Optional`` forms), the cast; its ``slow`` function takes a whole
message and covers every case (casts, frames without data, frames that must be measured against
the size limit first).
The connection keeps the plan of the last type it was asked for, so a loop over one type looks
its decoders up once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._casting import cast_for
from .codecs import DECODE_ERRORS, JSON, MSGPACK, Codec, translate_decode_error

if TYPE_CHECKING:
    from ._types import Message

__all__ = ["NO_TYPE", "Typed", "plan"]


class Typed(NamedTuple):
    """How ``receive(tp)`` turns a message into a ``tp``.

    ``text``/``binary`` are the msgspec decoders of the fast path (``None`` for the casts of
    :mod:`wskit._casting`); ``slow`` takes the whole message and covers every case.
    """

    tp: object
    text: Callable[[str | bytes], Any] | None
    binary: Callable[[str | bytes], Any] | None
    slow: Callable[[Message], Any]


def decode_message(
    text: Callable[[str | bytes], Any], binary: Callable[[str | bytes], Any], message: Message
) -> Any:
    """Decode a data message with the decoder of its frame kind (an absent payload is empty)."""
    data = message.get("text")
    try:
        if data is not None:
            return text(data)
        return binary(message.get("bytes") or b"")
    except DECODE_ERRORS as exc:
        raise translate_decode_error(exc) from None


def plan(codec: Codec, tp: object) -> Typed:
    """The plan for ``tp`` on a connection whose codec is ``codec``.

    Raises:
        TypeError: No codec can decode ``tp`` (before anything is received).
    """
    cast = cast_for(tp)
    if cast is not None:
        return Typed(tp, None, None, cast)
    text = (JSON if codec.binary else codec).decoder(tp)
    binary = (codec if codec.binary else MSGPACK).decoder(tp)
    return Typed(tp, text, binary, partial(decode_message, text, binary))


#: Matches no type: a connection's first ``receive(tp)`` builds its plan.
NO_TYPE: Final = Typed(object(), None, None, partial(decode_message, JSON.decode, JSON.decode))
