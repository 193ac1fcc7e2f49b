"""The declarations an operation router keeps, and the compiled form its loop runs.

:class:`Operation` and :class:`Emit` are what ``@router.on(...)`` and ``router.emits(...)``
record (the docs generator reads them); :class:`CompiledOperation`, :data:`Inline` and
:class:`Compiled` are the frozen dispatch tables; :class:`Checker` validates outbound values
(replies, emits, a view's ``send``) with an identity check on the fast path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, TypeAlias, TypeVar, is_typeddict

import msgspec

from .injection import UNSET, Plan

__all__ = ["Checker", "Compiled", "Emit", "Inline", "CompiledOperation", "Operation", "checker"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
_UNSET: Final[Any] = UNSET


def _same(value: object) -> object:
    return value


@dataclass(frozen=True, slots=True)
class Checker:
    """Validates an outbound value against its declared type: a class check, else a convert."""

    cls: object
    coerce: Callable[[Any], Any]


def checker(tp: object, label: str) -> Checker:
    """Build the :class:`Checker` of type ``tp`` (``Any`` accepts everything)."""
    if tp is Any:
        return Checker(_UNSET, _same)
    cls = tp if isinstance(tp, type) and not is_typeddict(tp) else _UNSET
    if tp is None:
        cls = type(None)

    def coerce(value: object) -> object:
        try:
            return msgspec.convert(value, tp, from_attributes=True)
        except msgspec.ValidationError as exc:
            raise TypeError(f"{label}: {exc}") from None

    return Checker(cls, coerce)


@dataclass(frozen=True, slots=True)
class Operation:
    """A client-to-server operation, as declared with :meth:`OperationRouter.on`.

    Attributes:
        name: The full operation name (prefixes applied).
        handler: The handler.
        payload: The payload type (``None``: no payload).
        reply: The reply's operation name, or ``None`` for no reply.
        reply_payload: The reply's payload type (``Any`` when unannotated).
        summary: One line for the docs (default: the docstring's first line).
        description: Longer docs (default: the docstring).
        tags: Tags for the docs.
        background: Run the handler in its own task, so it may await ``request()``.
        plan: The compiled injection plan.
    """

    name: str
    handler: Callable[..., Awaitable[Any]]
    payload: object
    reply: str | None
    reply_payload: object
    summary: str | None
    description: str | None
    tags: tuple[str, ...]
    background: bool
    plan: Plan = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Emit:
    """A server-to-client operation, declared with :meth:`OperationRouter.emits`.

    Usable as a decorator (it returns the function unchanged), to keep the declaration next to
    the code that emits.

    Attributes:
        name: The full operation name.
        payload: The payload type.
        reply: When the server awaits an answer (:meth:`OperationRouter.request`), the name the
            client's reply carries (default: ``name + ".reply"``), else ``None``.
        reply_payload: The reply's payload type, or ``None`` when no answer is expected.
        summary: One line for the docs.
        description: Longer docs.
        tags: Tags for the docs.
    """

    name: str
    payload: object
    reply: str | None = None
    reply_payload: object = None
    summary: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()

    def __call__(self, fn: F) -> F:
        """Return ``fn`` unchanged (declaration as a decorator)."""
        return fn


class CompiledOperation(NamedTuple):
    """A compiled operation: what the connection loop needs, unpacked in one step.

    Attributes:
        call: The handler itself when it takes only the payload (``simple``), else the
            compiled ``call(env, ws, session)`` of its injection plan.
        simple: Whether ``call`` is the handler, to be called with the payload alone.
        reply: The reply's envelope struct, or ``None``.
        cls: The reply payload's class, for the fast instance check.
        coerce: Converts (and validates) a reply value of another class.
        background: Whether each call runs in its own task.
        name: The operation name.
    """

    call: Callable[..., Awaitable[Any]]
    simple: bool
    reply: Callable[[Any, Any], msgspec.Struct] | None
    cls: object
    coerce: Callable[[Any], Any]
    background: bool
    name: str


#: What the connection loop unpacks per message for an inline (not ``background``) operation:
#: ``(call, simple, reply, cls)`` as in :class:`CompiledOperation`. A plain tuple on purpose:
#: CPython 3.11 specialises unpacking only for an exact ``tuple``; a ``NamedTuple`` (a
#: subclass) unpacks through the generic iterator protocol, about 50 ns a message slower.
Inline: TypeAlias = tuple[
    Callable[..., Awaitable[Any]], bool, Callable[[Any, Any], msgspec.Struct] | None, object
]


@dataclass(frozen=True, slots=True)
class Compiled:
    """The frozen dispatch tables of a router.

    Attributes:
        union: The union of every operation's envelope struct (``None``: no operations).
        table: Every operation's :class:`CompiledOperation`, by envelope struct.
        inline: The hot-path fields of the operations that run inline, by envelope struct; a
            struct missing here is a ``background`` operation.
        names: The operation names.
    """

    union: object
    table: Mapping[type, CompiledOperation]
    inline: Mapping[type, Inline]
    names: frozenset[str]
