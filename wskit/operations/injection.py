"""Handler injection: decide once, at registration, what each handler parameter receives.

A handler asks for what it needs by annotation or by name:

==================  ==============================================  ==========================
receives            by annotation                                   by name
==================  ==============================================  ==========================
the payload         (the first parameter nothing else claims)       ``payload``
the connection      ``WebSocket`` (wskit's or Starlette's)          ``ws``, ``websocket``
the router          ``OperationRouter``                             ``router``
the correlation id                                                  ``id``, ``correlation_id``
the hub             a class named ``Hub`` (duck-typed)              ``hub``
``ws.state``        ``starlette.datastructures.State``              ``state``
the ASGI app        (``scope["app"]``)                              ``app``
==================  ==============================================  ==========================

The plan is compiled into a small function (``call(env, ws, session)``) whose body is the
handler call with each argument written out, so the per-message cost is one extra Python call
and an attribute read per argument; nothing is looked up per message.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, get_args, get_origin, get_type_hints

from starlette.datastructures import State
from starlette.requests import HTTPConnection

__all__ = ["UNSET", "Injected", "Plan", "compile_plan"]


class Injected(enum.Enum):
    """What a handler parameter receives."""

    PAYLOAD = "env.payload"
    WS = "ws"
    ROUTER = "s.router"
    ID = "env.id"
    HUB = "s.hub"
    STATE = "ws.state"
    APP = "s.app"


_BY_NAME: Final[dict[str, Injected]] = {
    "payload": Injected.PAYLOAD,
    "ws": Injected.WS,
    "websocket": Injected.WS,
    "router": Injected.ROUTER,
    "id": Injected.ID,
    "correlation_id": Injected.ID,
    "hub": Injected.HUB,
    "state": Injected.STATE,
    "app": Injected.APP,
}
#: "Not given": the marker for optional type arguments, where ``None`` is a valid type.
UNSET: Final[Any] = object()
_NO_HINT: Final[Any] = UNSET


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled injection plan.

    Attributes:
        call: ``call(env, ws, session) -> Awaitable``: calls the handler with its arguments.
        params: ``(parameter name, what it receives)`` in call order.
        payload: The payload type (``None`` when the handler takes no payload).
        payload_default: The payload parameter's default, or ``inspect.Parameter.empty``.
        returns: The return annotation, ``None`` for ``-> None``, or ``inspect.Parameter.empty``.
        simple: The handler takes the payload alone, positionally: the loop calls it directly.
    """

    call: Callable[[Any, Any, Any], Awaitable[Any]]
    params: tuple[tuple[str, Injected], ...]
    payload: object
    payload_default: object
    returns: object
    simple: bool = False


def _strip(hint: object) -> object:
    while get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    return hint


def _by_annotation(hint: object, router: type) -> Injected | None:
    hint = _strip(hint)
    if not isinstance(hint, type):
        return None
    if issubclass(hint, HTTPConnection):
        return Injected.WS
    if issubclass(hint, router):
        return Injected.ROUTER
    if issubclass(hint, State):
        return Injected.STATE
    if hint.__name__ == "Hub":
        return Injected.HUB
    return None


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        return get_type_hints(target, include_extras=True)
    except Exception as exc:
        raise TypeError(
            f"cannot resolve the annotations of handler {fn!r}: {exc} "
            "(types used in annotations must be importable at module level)"
        ) from exc


def compile_plan(
    fn: Callable[..., Any], *, payload: object = _NO_HINT, label: str, router: type
) -> Plan:
    """Compile what ``fn``'s parameters receive into a :class:`Plan`.

    Args:
        fn: An ``async def`` function (or an object with an ``async def __call__``).
        payload: The payload type, overriding the annotation of the payload parameter.
        label: How to name the handler in errors (``"operation 'chat.send'"``).
        router: The router class: a parameter annotated with it (or a subclass) gets the
            router (passed in, since the router's module imports this one).

    Raises:
        TypeError: ``fn`` is not a coroutine function, or a parameter cannot be injected.
    """
    if not (
        inspect.iscoroutinefunction(fn)
        or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004
    ):
        raise TypeError(f"the handler of {label} must be an 'async def' function, got {fn!r}")
    hints = _hints(fn)
    signature = inspect.signature(fn)
    params: list[tuple[str, Injected]] = []
    keyword: set[str] = set()
    payload_type: object = None if payload is _NO_HINT else payload
    payload_default: object = inspect.Parameter.empty
    has_payload = False
    skipped = False
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(param.name, _NO_HINT)
        kind = _by_annotation(hint, router) or _BY_NAME.get(param.name)
        if kind is None and not has_payload and (hint is not _NO_HINT or payload is not _NO_HINT):
            kind = Injected.PAYLOAD
        if kind is Injected.PAYLOAD:
            if has_payload:
                raise TypeError(f"the handler of {label} has two payload parameters")
            has_payload = True
            if payload is _NO_HINT:
                payload_type = Any if hint is _NO_HINT else hint
            payload_default = param.default
        elif kind is None:
            if param.default is param.empty or param.kind is param.POSITIONAL_ONLY:
                raise TypeError(
                    f"cannot inject parameter {param.name!r} of the handler of {label}: annotate "
                    f"it or name it one of {', '.join(sorted(_BY_NAME))}"
                )
            skipped = True  # left to its default: the parameters after it go by keyword
            continue
        if param.kind is param.KEYWORD_ONLY or skipped:
            keyword.add(param.name)
        params.append((param.name, kind))
    args = ", ".join(
        f"{name}={kind.value}" if name in keyword else kind.value for name, kind in params
    )
    namespace: dict[str, Any] = {"fn": fn}
    exec(f"def call(env, ws, s):\n    return fn({args})\n", namespace)
    returns = hints.get("return", inspect.Parameter.empty)
    if returns is type(None):
        returns = None
    simple = len(params) == 1 and params[0][1] is Injected.PAYLOAD and not keyword
    return Plan(namespace["call"], tuple(params), payload_type, payload_default, returns, simple)
