"""Message codecs: JSON and MessagePack on msgspec, with encoders and decoders built once.

A :class:`Codec` turns Python values into WebSocket frames and back. JSON travels in text
frames, MessagePack in binary frames (``Codec.binary`` says which). Encoders are built when the
codec is, and each codec keeps one ``msgspec`` decoder per target type, built the first time the
type is asked for, so the per-message cost is one dictionary lookup and one C call.

Custom types go through ``enc_hook``/``dec_hook`` exactly as in msgspec. Errors come out as
wskit's :class:`~wskit.exceptions.DecodeError` (the bytes are not valid JSON/MessagePack) or
:class:`~wskit.exceptions.ValidationError` (valid, but the value does not fit the type), both
carrying msgspec's path to the bad value (``$.items[0]``).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from typing import Any, Final, TypeVar, overload

import msgspec
import msgspec.inspect

from .exceptions import DecodeError, ValidationError

__all__ = [
    "JSON",
    "MSGPACK",
    "Codec",
    "EncHook",
    "DECODE_ERRORS",
    "DecHook",
    "JSONCodec",
    "MsgPackCodec",
    "translate_decode_error",
]

T = TypeVar("T")
EncHook = Callable[[Any], Any]
DecHook = Callable[[type, Any], Any]

#: What decoding untrusted bytes may raise; :func:`translate_decode_error` takes each of them.
#: msgspec raises UnicodeDecodeError for a MessagePack string that is not valid UTF-8.
DECODE_ERRORS: Final = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)

_PATH = re.compile(r" - at `(\$[^`]*)`$")


def translate_decode_error(exc: Exception) -> DecodeError:
    """Turn a msgspec (or recursion, or UTF-8) error into wskit's error, keeping msgspec's path.

    Args:
        exc: One of :data:`DECODE_ERRORS`.

    Returns:
        A :class:`ValidationError` when the data was well-formed but did not fit the type, else
        a :class:`DecodeError`.
    """
    if isinstance(exc, RecursionError):
        return DecodeError("message is nested too deeply to decode")
    if isinstance(exc, UnicodeDecodeError):
        return DecodeError(f"malformed message: invalid UTF-8 at byte {exc.start}")
    text = str(exc)
    match = _PATH.search(text)
    path = match.group(1) if match else "$"
    message = text[: match.start()] if match else text
    if isinstance(exc, msgspec.ValidationError):
        return ValidationError(f"{message} at {path}", path)
    return DecodeError(f"malformed message: {message}", path)


def _is_custom(tp: object) -> bool:
    try:
        return isinstance(msgspec.inspect.type_info(tp), msgspec.inspect.CustomType)
    except (TypeError, ValueError):
        return False


class Codec(abc.ABC):
    """Encode values into frames and decode frames into typed values.

    Subclasses set ``name`` (also a natural subprotocol suffix), ``binary`` (the frame kind) and
    build ``_encode`` and ``_decoder_class``. A codec is immutable once built and safe to share
    between connections and tasks.
    """

    name: str = ""
    #: ``True`` when the codec's frames are binary, ``False`` for text frames.
    binary: bool = False

    __slots__ = ("_dec_hook", "_decoders", "_enc_hook", "_encode")

    def __init__(self, *, enc_hook: EncHook | None = None, dec_hook: DecHook | None = None):
        self._enc_hook = enc_hook
        self._dec_hook = dec_hook
        self._encode: Callable[[Any], bytes] = self._make_encoder(enc_hook)
        self._decoders: dict[object, Callable[[Any], Any]] = {}

    @abc.abstractmethod
    def _make_encoder(self, enc_hook: EncHook | None) -> Callable[[Any], bytes]:
        """Build the encoding function, once, when the codec is made."""

    @abc.abstractmethod
    def _make_decoder(self, tp: object, dec_hook: DecHook | None) -> Callable[[Any], Any]:
        """Build the decoding function for ``tp``, once per type."""

    @property
    def encoder(self) -> Callable[[Any], bytes]:
        """The function :meth:`encode` calls: msgspec's own, unless a subclass overrides
        :meth:`encode` (then the bound :meth:`encode`). For hot paths: one Python call less."""
        if type(self).encode is not Codec.encode:
            return self.encode
        return self._encode

    def encode(self, value: object) -> bytes:
        """Encode ``value`` to bytes.

        Raises:
            TypeError: msgspec cannot encode the value (and ``enc_hook`` did not help).
        """
        return self._encode(value)

    def encode_frame(self, value: object) -> str | bytes:
        """Encode ``value`` into a ready frame payload: ``str`` for text codecs, else ``bytes``."""
        data = self._encode(value)
        return data if self.binary else data.decode()

    @overload
    def decoder(self) -> Callable[[str | bytes], Any]: ...
    @overload
    def decoder(self, tp: type[T]) -> Callable[[str | bytes], T]: ...
    @overload
    def decoder(self, tp: Any) -> Callable[[str | bytes], Any]: ...
    def decoder(self, tp: Any = Any) -> Callable[[str | bytes], Any]:
        """Return the cached decoding function for ``tp``, building it on first use.

        Raises:
            TypeError: msgspec cannot decode into ``tp``. Nothing is consumed, since this runs
                before any message is read.
        """
        try:
            return self._decoders[tp]
        except KeyError:
            pass
        except TypeError:  # an unhashable "type" such as a list instance
            raise TypeError(f"type {tp!r} is not supported by the {self.name} codec") from None
        if self._dec_hook is None and _is_custom(tp):
            # msgspec takes any class as a "custom type" and fails only when decoding, after
            # the message was read; without a dec_hook it can never decode, so refuse now.
            raise TypeError(
                f"type {tp!r} is not supported by the {self.name} codec (give a dec_hook)"
            )
        try:
            decode = self._make_decoder(tp, self._dec_hook)
        except TypeError as exc:
            raise TypeError(f"type {tp!r} is not supported by the {self.name} codec") from exc
        self._decoders[tp] = decode
        return decode

    @overload
    def decode(self, data: str | bytes) -> Any: ...
    @overload
    def decode(self, data: str | bytes, tp: type[T]) -> T: ...
    @overload
    def decode(self, data: str | bytes, tp: Any) -> Any: ...
    def decode(self, data: str | bytes, tp: Any = Any) -> Any:
        """Decode ``data`` into a value of ``tp``.

        Raises:
            DecodeError: The data is malformed.
            ValidationError: The data is well-formed but does not fit ``tp``.
            TypeError: ``tp`` is not a type msgspec supports.
        """
        decode = self.decoder(tp)
        try:
            return decode(data)
        except DECODE_ERRORS as exc:
            raise translate_decode_error(exc) from exc

    def __repr__(self) -> str:
        hooks = {"enc_hook": self._enc_hook, "dec_hook": self._dec_hook}
        given = ", ".join(f"{name}={hook!r}" for name, hook in hooks.items() if hook is not None)
        return f"{type(self).__name__}({given})"


class _MsgspecCodec(Codec):
    """A codec on one of msgspec's formats, ``_format`` (``msgspec.json``, ``msgspec.msgpack``)."""

    _format: Any
    __slots__ = ()

    def _make_encoder(self, enc_hook: EncHook | None) -> Callable[[Any], bytes]:
        encode: Callable[[Any], bytes] = self._format.Encoder(enc_hook=enc_hook).encode
        return encode

    def _make_decoder(self, tp: object, dec_hook: DecHook | None) -> Callable[[Any], Any]:
        decode: Callable[[Any], Any] = self._format.Decoder(tp, dec_hook=dec_hook).decode
        return decode


class JSONCodec(_MsgspecCodec):
    """JSON in text frames, on ``msgspec.json``.

    The output is compact and keeps non-ASCII characters as they are, like Starlette's
    ``send_json`` (see :meth:`wskit.WebSocket.send_json` for the one exception, floats written
    with an exponent).
    """

    name = "json"
    binary = False
    _format = msgspec.json
    __slots__ = ()


class MsgPackCodec(_MsgspecCodec):
    """MessagePack in binary frames, on ``msgspec.msgpack``."""

    name = "msgpack"
    binary = True
    _format = msgspec.msgpack
    __slots__ = ()


#: The default codec: JSON in text frames.
JSON: Final = JSONCodec()
#: MessagePack in binary frames.
MSGPACK: Final = MsgPackCodec()
