"""Envelope types: the ``{"type": ..., "payload": ..., "id": ...}`` frame around every operation.

An operation router speaks one envelope. This module turns each operation into a msgspec
``Struct`` built with :func:`msgspec.defstruct` at registration: a *tagged* struct whose tag
field is the envelope's type field and whose tag is the operation's name. Inbound, the union
of every operation's struct is decoded by one cached ``msgspec`` decoder, so a message is
parsed, routed (by its tag) and validated (its payload, to the leaf) in a single C pass, with
no intermediate ``dict``. Outbound, a reply or a server push is one struct instance encoded
once.

The field names are configurable per router through :class:`EnvelopeFormat`. The error
envelope sent for bad input is documented on :class:`ErrorPayload`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import msgspec

__all__ = [
    "CorrelationId",
    "EnvelopeFormat",
    "ErrorPayload",
    "accepts_none",
    "check_name",
]

#: The type of a correlation id: a string or an integer chosen by whoever sends the request.
CorrelationId: TypeAlias = str | int | None

_CORRELATION: Final[Any] = CorrelationId
_NAME: Final = re.compile(r"[\w.\-:/]+")


class ErrorPayload(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of the error envelope a router sends for a message it could not handle.

    On the wire (JSON, with the default field names)::

        {"type": "error",
         "payload": {"code": "invalid_payload", "message": "Expected `str`, got `int`",
                     "operation": "chat.send", "path": "$.payload.room"},
         "id": 7}

    ``id`` is the request's correlation id when one could be read, else ``null``.

    Attributes:
        code: Machine-readable: ``"malformed"`` (not JSON/MessagePack, not an object, or no
            string type field), ``"unknown_operation"``, ``"invalid_payload"``,
            ``"unsupported_frame"`` (a binary frame on a JSON connection, or the reverse),
            ``"internal_error"`` (the handler failed; no details are sent), or a code the
            handler chose by raising :class:`~wskit.operations.OperationError`.
        message: Human-readable, safe to show: never a server traceback.
        operation: The operation the message named, when it named one.
        path: msgspec's path to the bad value (``$.payload.items[0]``) for decode errors.
    """

    code: str
    message: str
    operation: str | None = None
    path: str | None = None


def accepts_none(tp: object) -> bool:
    """Tell whether ``None`` is a valid value of ``tp`` (so a missing payload may default to it)."""
    if tp is None or tp is type(None) or tp is Any:
        return True
    try:
        msgspec.convert(None, tp)
    except (msgspec.ValidationError, TypeError):
        return False
    return True


def check_name(name: object, what: str = "operation") -> str:
    """Validate an operation name: word characters, ``.``, ``-``, ``:`` and ``/``, not empty.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is empty or has other characters.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} name must be a str, got {type(name).__name__}")
    if _NAME.fullmatch(name) is None:
        raise ValueError(
            f"{what} name {name!r} must be non-empty and use only letters, digits, '_', '.', "
            "'-', ':' or '/'"
        )
    return name


class EnvelopeFormat:
    """The field names of an envelope, and the struct factories built on them.

    Args:
        type_field: The field naming the operation (the msgspec tag field).
        payload_field: The field holding the operation's typed payload.
        id_field: The optional correlation id field (a string or an integer).
        error_type: The operation name of the error envelope.

    Raises:
        ValueError: Two fields share a name, or a name is empty.
    """

    __slots__ = ("_probes", "error_type", "id_field", "payload_field", "type_field")

    def __init__(
        self,
        *,
        type_field: str = "type",
        payload_field: str = "payload",
        id_field: str = "id",
        error_type: str = "error",
    ) -> None:
        fields = (type_field, payload_field, id_field)
        if not all(isinstance(f, str) and f for f in fields) or len(set(fields)) != 3:
            raise ValueError(f"envelope field names must be distinct non-empty strings: {fields}")
        self.type_field = type_field
        self.payload_field = payload_field
        self.id_field = id_field
        self.error_type = check_name(error_type, "error type")
        self._probes: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EnvelopeFormat):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[str, str, str, str]:
        return (self.type_field, self.payload_field, self.id_field, self.error_type)

    def __repr__(self) -> str:
        return (
            f"EnvelopeFormat(type_field={self.type_field!r}, payload_field={self.payload_field!r}, "
            f"id_field={self.id_field!r}, error_type={self.error_type!r})"
        )

    def _rename(self) -> dict[str, str]:
        return {"payload": self.payload_field, "id": self.id_field}

    def tagged(
        self, name: str, payload: object, *, default: object = msgspec.NODEFAULT, outbound: bool
    ) -> type[msgspec.Struct]:
        """Build the envelope struct of operation ``name``, tagged with its name.

        Args:
            name: The operation name (the tag value).
            payload: The payload type.
            default: The payload's default when the field may be left out.
            outbound: ``True`` for structs the server encodes (a missing ``id`` is left out of
                the output), ``False`` for the inbound decode structs.
        """
        payload_field: tuple[str, object] | tuple[str, object, object]
        if default is msgspec.NODEFAULT:
            payload_field = ("payload", payload)
        else:
            payload_field = ("payload", payload, default)
        return msgspec.defstruct(
            f"Envelope[{name}]",
            [payload_field, ("id", _CORRELATION, None)],
            tag_field=self.type_field,
            tag=name,
            rename=self._rename(),
            omit_defaults=outbound,
            gc=False,
            module=__name__,
        )

    def error_struct(self) -> type[msgspec.Struct]:
        """Build the error envelope struct (its ``id`` is always written, ``null`` when unknown)."""
        return msgspec.defstruct(
            "ErrorEnvelope",
            [("payload", ErrorPayload), ("id", _CORRELATION, None)],
            tag_field=self.type_field,
            tag=self.error_type,
            rename=self._rename(),
            gc=False,
            module=__name__,
        )

    def untagged(self, payload: object) -> type[msgspec.Struct]:
        """Build an untagged envelope (``type`` is a plain string) for a client's reply."""
        return msgspec.defstruct(
            "ReplyEnvelope",
            [("type", str), ("payload", payload), ("id", _CORRELATION, None)],
            rename={"type": self.type_field, **self._rename()},
            gc=False,
            module=__name__,
        )

    def probe(self, data: str | bytes, binary: bool) -> tuple[object, object]:
        """Read only the type and id fields of a message, whatever their types (error path).

        Returns:
            ``(type, id)``, each ``None`` when absent.

        Raises:
            msgspec.DecodeError: The message is not a JSON object / MessagePack map.
        """
        if self._probes is None:
            probe = msgspec.defstruct(
                "Probe",
                [("type", Any, None), ("id", Any, None)],
                rename={"type": self.type_field, "id": self.id_field},
                module=__name__,
            )
            self._probes = (
                msgspec.json.Decoder(probe).decode,
                msgspec.msgpack.Decoder(probe).decode,
            )
        found = self._probes[binary](data)
        return found.type, found.id


#: The default envelope: ``{"type": ..., "payload": ..., "id": ...}`` and errors typed ``"error"``.
DEFAULT_FORMAT: Final = EnvelopeFormat()
