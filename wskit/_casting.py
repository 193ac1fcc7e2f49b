"""Typed receive of scalars: one rule for ``str``, ``bytes``, ``int``, ``float``, ``bool``.

**The frame's content is the value, written as it is, never quoted.** A text frame holding
``a`` is the string ``"a"``, ``42`` the integer 42, ``true`` the boolean; a binary frame is read
as its UTF-8 text, except for ``bytes``, which takes it as it is. The same rule covers the
``Literal`` and ``Optional`` forms of these types, so ``receive(Literal["a", "b"])`` takes the
text ``a`` (as ``receive(str)`` does) and ``receive(int | None)`` takes ``42`` or ``null``:

=====================  ====================================================  ==================
``tp``                 accepts                                                refuses
=====================  ====================================================  ==================
``str``                any text (a binary frame: valid UTF-8)                invalid UTF-8
``bytes``              a binary frame; a text frame's UTF-8 bytes            nothing
``int``                ASCII digits, an optional sign: ``42``, ``-7``,       ``1.0``, ``1_000``,
                       ``+3``, ``007``                                        `` 1``, ``"1"``
``float``              a decimal number: ``1.5``, ``-2``, ``1e3``, ``.5``     ``nan``, ``inf``,
                                                                              ``1,5``, ``"1"``
``bool``               ``true``/``True``/``false``/``False``; digits          ``yes``, ``-1``,
                       (``0`` is false, other digits true)                    ``TRUE``
``Literal[...]``       one of its values, read by its value's type:           other values,
                       ``a`` for ``"a"``, ``1`` for ``1``, ``true``           ``"a"`` (quoted)
``X | None``           ``null`` (the JSON spelling), else ``X``'s rule        what ``X`` refuses
=====================  ====================================================  ==================

``str``, ``bytes``, ``int`` and ``bool`` are view.py's casting rules (view.py's ``int()`` also
takes surrounding spaces and ``1_000``; a message is a number or it is not). ``null`` is
``None`` even for ``str | None``: a client that means the four letters sends them to
``receive(str)``. Every other type, ``dict`` and unions of two scalar types (``int | str``)
included, is decoded by msgspec: text frames as JSON, binary frames as MessagePack.

A refused value raises :class:`~wskit.exceptions.ValidationError` (close 1007 when uncaught),
whose message previews the client's text and ends with `` at $``, like msgspec's.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

from .exceptions import DecodeError, ValidationError

T = TypeVar("T")

__all__ = ["CASTS", "cast_for", "frame_text", "utf8_size"]

_CHUNK: Final = 2**16
_MAX_DIGITS: Final = 4300  # CPython's int() limit for decimal strings
_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE: Final = frozenset(("true", "True"))
_FALSE: Final = frozenset(("false", "False"))

Cast = Callable[[Mapping[str, Any]], Any]


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


def _preview(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


def _refuse(expected: str, text: str) -> ValidationError:
    return ValidationError(f"expected {expected}, got {_preview(text)} at $", "$")


# -- the five scalars: text -> value, or None when the text does not fit ----------------------


def _parse_int(text: str) -> int | None:
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_DIGITS:
        return None
    return int(text)


def _parse_float(text: str) -> float | None:
    if len(text) > _MAX_DIGITS or _FLOAT.fullmatch(text) is None:
        return None
    value = float(text)
    return value if value - value == 0 else None  # 1e999 overflows to inf: not a number sent


def _parse_bool(text: str) -> bool | None:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
        return int(text) != 0
    return None


def _cast_str(message: Mapping[str, Any]) -> str:
    return frame_text(message)


def _cast_bytes(message: Mapping[str, Any]) -> bytes:
    data = message.get("bytes")
    if data is not None:
        return data  # type: ignore[no-any-return]
    return (message.get("text") or "").encode()


def _parsed(parse: Callable[[str], T | None], what: str) -> Callable[[Mapping[str, Any]], T]:
    """The cast that reads a frame's text with ``parse`` (``None``: not ``what``)."""

    def cast(message: Mapping[str, Any]) -> T:
        text = frame_text(message)
        value = parse(text)
        if value is None:
            raise _refuse(what, text)
        return value

    return cast


_cast_int: Final = _parsed(_parse_int, "an integer")
_cast_float: Final = _parsed(_parse_float, "a number")
_cast_bool: Final = _parsed(_parse_bool, "a boolean")


#: The plain scalars' casts, by type. Their ``Literal``/``Optional`` forms: :func:`cast_for`.
CASTS: Final[Mapping[object, Cast]] = {
    str: _cast_str,
    bytes: _cast_bytes,
    int: _cast_int,
    float: _cast_float,
    bool: _cast_bool,
}

_PARSERS: Final[Mapping[type, Callable[[str], Any]]] = {
    int: _parse_int,
    float: _parse_float,
    bool: _parse_bool,
}


# -- Literal and Optional forms ---------------------------------------------------------------


def _members(tp: object) -> tuple[object, ...] | None:
    """The members of a union (``X | None``, ``Optional[X]``), or ``None`` if ``tp`` is not one."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return get_args(tp)
    return None


def _literal_values(tp: object) -> tuple[object, ...] | None:
    """The values of a ``Literal`` of ``str``/``int``/``bool``/``None``, else ``None``."""
    if get_origin(tp) is not Literal:
        return None
    values = get_args(tp)
    if not all(v is None or type(v) in (str, int, bool) for v in values):
        return None
    return values


def _literal_cast(values: tuple[object, ...]) -> Cast:
    """Match the frame's text against each value, read by that value's type."""
    strings = {v for v in values if type(v) is str}
    others = [(type(v), v) for v in values if v is not None and type(v) is not str]
    spelled = ", ".join(
        "null" if v is None else str(v).lower() if type(v) is bool else str(v) for v in values
    )

    def cast(message: Mapping[str, Any]) -> object:
        text = frame_text(message)
        if text in strings:
            return text
        for kind, value in others:
            parsed = _PARSERS[kind](text)
            if parsed is not None and type(parsed) is kind and parsed == value:
                return value
        raise _refuse(f"one of {spelled}", text)

    return cast


def _optional_cast(inner: Cast) -> Cast:
    def cast(message: Mapping[str, Any]) -> object:
        if frame_text(message) == "null":
            return None
        return inner(message)

    return cast


@functools.lru_cache(maxsize=256)
def _cached(tp: object) -> Cast | None:
    return _build(tp)


def _build(tp: object) -> Cast | None:
    cast = CASTS.get(tp)
    if cast is not None:
        return cast
    values = _literal_values(tp)
    members: tuple[object, ...] | None = (tp,) if values is not None else _members(tp)
    if members is None:
        return None
    # A union: X | None, Literal[...] | None, or Literals only (Literal["a"] | Literal[1]).
    optional = type(None) in members
    rest = [m for m in members if m is not type(None)]
    groups = [_literal_values(m) for m in rest]
    if all(group is not None for group in groups):
        merged = [v for group in groups for v in group or ()]
        optional = optional or None in merged
        inner: Cast | None = _literal_cast(tuple(v for v in merged if v is not None))
    elif len(rest) == 1:
        inner = _build(rest[0])
    else:  # int | str: a union of scalar types is msgspec's
        return None
    if inner is None:
        return None
    return _optional_cast(inner) if optional else inner


def cast_for(tp: object) -> Cast | None:
    """The cast of ``tp`` if it is a scalar of the table (or its Literal/Optional form)."""
    try:
        return _cached(tp)
    except TypeError:  # an unhashable type argument: not a scalar form
        return None


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
