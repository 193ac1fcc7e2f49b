"""Typed receive: turn one inbound ASGI message into a value of the requested type.

The five plain types follow view.py's casting rules, so code written for view.py's
``receive(tp=...)`` behaves the same:

* ``str``: the text of a text frame, or a binary frame decoded as UTF-8;
* ``bytes``: a binary frame, or a text frame encoded as UTF-8;
* ``int``: the frame's text parsed as a base-10 integer;
* ``bool``: ``true``/``True``/``false``/``False``, or a string of digits (``"0"`` is false);
* ``dict``: a JSON object (through the codecs, like every other type).

Every other type goes to msgspec: text frames through the connection's text codec (JSON),
binary frames through its binary codec (MessagePack unless the connection negotiated another).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from .exceptions import DecodeError, ValidationError

__all__ = ["CASTS", "frame_text", "utf8_size"]

_CHUNK: Final = 2**16


def frame_text(message: Mapping[str, Any]) -> str:
    """Return a frame's content as text: the text of a text frame, or UTF-8 decoded bytes.

    Raises:
        DecodeError: a binary frame that is not valid UTF-8.
    """
    text = message.get("text")
    if text is not None:
        return text  # type: ignore[no-any-return]
    data = message.get("bytes") or b""
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"binary frame is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None


def _cast_str(message: Mapping[str, Any]) -> str:
    return frame_text(message)


def _cast_bytes(message: Mapping[str, Any]) -> bytes:
    data = message.get("bytes")
    if data is not None:
        return data  # type: ignore[no-any-return]
    return (message.get("text") or "").encode()


def _cast_int(message: Mapping[str, Any]) -> int:
    text = frame_text(message)
    # int() also accepts "1_000" and surrounding whitespace; a message is a number or it is not.
    stripped = text[1:] if text[:1] in ("-", "+") else text
    if not (stripped.isascii() and stripped.isdigit()) or len(text) > 4300:
        raise ValidationError(f"expected an integer, got {_preview(text)}")
    return int(text)


_TRUE: Final = frozenset(("true", "True"))
_FALSE: Final = frozenset(("false", "False"))


def _cast_bool(message: Mapping[str, Any]) -> bool:
    text = frame_text(message)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text.isascii() and text.isdigit() and len(text) <= 4300:
        return int(text) != 0
    raise ValidationError(f"expected a boolean, got {_preview(text)}")


def _preview(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


#: The view.py-style casts, by target type. Other types go through the codecs.
CASTS: Final[Mapping[object, Callable[[Mapping[str, Any]], Any]]] = {
    str: _cast_str,
    bytes: _cast_bytes,
    int: _cast_int,
    bool: _cast_bool,
}


def utf8_size(text: str) -> int:
    """The UTF-8 size of ``text`` in bytes, without ever holding a copy over 64 KiB."""
    if text.isascii():  # O(1) in CPython: the common case costs no encode
        return len(text)
    if len(text) <= _CHUNK:
        return len(text.encode("utf-8", "surrogatepass"))
    return sum(
        len(text[start : start + _CHUNK].encode("utf-8", "surrogatepass"))
        for start in range(0, len(text), _CHUNK)
    )
