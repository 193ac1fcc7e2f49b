"""``OperationRouter``: typed operations on one envelope, registered once and dispatched by type.

Registration does all the work: each ``@ops.on(...)`` resolves its handler's annotations,
compiles an injection plan (:mod:`~wskit.operations.injection`) and builds the operation's
envelope struct (:mod:`~wskit.operations.envelope`); names are checked for clashes as they are
declared. On first use the router is frozen and compiled: one tagged union of every envelope
struct, decoded by one cached msgspec decoder per codec, and a ``dict`` from envelope class to
handler. Per message the router does one C decode, one dictionary lookup and the handler call
(see :mod:`~wskit.operations.session` for the loop and what it skips).

The connection loop, server pushes (``emit``) and server-to-client requests (``request``) live
in :mod:`~wskit.operations.session`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeVar, Union, overload

import msgspec

from ..policies import Authenticate, Handshake, SubprotocolPolicy
from .envelope import DEFAULT_FORMAT, EnvelopeFormat, accepts_none, check_name
from .errors import ErrorHandling, ErrorPolicy
from .injection import UNSET, compile_plan
from .spec import Checker, Compiled, CompiledOperation, Emit, Inline, Operation, checker

if TYPE_CHECKING:
    from ..codecs import Codec
    from ..connection import WebSocket

__all__ = ["Emit", "Operation", "OperationRouter"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
R = TypeVar("R")
_UNSET: Final[Any] = UNSET


def _describe(fn: Callable[..., Any]) -> tuple[str | None, str | None]:
    doc = inspect.getdoc(fn)
    if not doc:
        return None, None
    return doc.strip().splitlines()[0], doc


class OperationRouter:
    """Typed operations over a ``{"type": ..., "payload": ..., "id": ...}`` envelope.

    The router is itself a handler: ``await router(ws)`` accepts the connection and serves it
    until the client leaves. Mount it in :class:`wskit.App`, in Starlette through
    ``wskit.contrib.starlette``, or call it from any ASGI app with a ``WebSocket``.

    Args:
        prefix: Prepended to every name declared on this router.
        tags: Tags given to every operation of this router (for the docs).
        type_field: Envelope field naming the operation.
        payload_field: Envelope field holding the payload.
        id_field: Envelope field holding the optional correlation id.
        error_type: Operation name of the error envelope.
        on_bad_input: ``"reply"`` (an error envelope; the connection stays open) or
            ``"close"`` (1003 for an unknown operation, 1007 for a malformed or invalid one).
        on_handler_error: ``"reply"`` (``internal_error``) or ``"close"`` (1011).
        max_bad_messages: Close with 1008 on the ``N + 1``-th bad message (``None``: no cap).
        authenticate: ``async def authenticate(ws) -> identity | None`` run before accept, as
            :class:`wskit.App` runs it: the identity goes to ``ws.state.user``; ``None`` denies
            the handshake with HTTP 401; raise :class:`~wskit.exceptions.Denied` for another
            status. (Under an ``App``, its own ``authenticate`` policy does the same.)
        idle_timeout: Close with 1008 ("idle timeout") when the client sends nothing for this
            many seconds while the router waits for it (time spent in a handler does not
            count). 1008 because the client broke the endpoint's heartbeat policy; 1000/1001
            would tell it all is well, 1003 is about data types, 1011 blames the server.
        max_lifespan: Close with 1001 ("connection lifespan ended") this many seconds after
            accept: the server ends the connection on its own schedule, the client did
            nothing wrong and should reconnect, which is what 1001 (going away) means to
            clients.
        subprotocols: Subprotocols spoken, or a mapping of subprotocol to codec
            (``{"wskit.msgpack": MSGPACK}``), negotiated before accept like ``App(subprotocols=)``;
            for a standalone router (an ``App`` negotiates on its own).
        hub: The pub/sub hub handlers ask for (default: ``scope["app"].hub``, else ``"hub"``
            in the lifespan state, as a Starlette or wskit lifespan yielding ``{"hub": hub}``).
        description: What the router's channel is for (the AsyncAPI channel description).
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Iterable[str] = (),
        type_field: str = "type",
        payload_field: str = "payload",
        id_field: str = "id",
        error_type: str = "error",
        on_bad_input: ErrorPolicy = "reply",
        on_handler_error: ErrorPolicy = "reply",
        max_bad_messages: int | None = None,
        authenticate: Authenticate | None = None,
        idle_timeout: float | None = None,
        max_lifespan: float | None = None,
        subprotocols: SubprotocolPolicy | Sequence[str] | Mapping[str, Codec] | None = None,
        hub: object | None = None,
        description: str | None = None,
    ) -> None:
        for name, value in (("idle_timeout", idle_timeout), ("max_lifespan", max_lifespan)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")
        if prefix:
            check_name(prefix, "prefix")
        fields = (type_field, payload_field, id_field, error_type)
        self.envelope = (
            DEFAULT_FORMAT
            if fields == ("type", "payload", "id", "error")
            else EnvelopeFormat(
                type_field=type_field,
                payload_field=payload_field,
                id_field=id_field,
                error_type=error_type,
            )
        )
        self.errors = ErrorHandling(
            self.envelope,
            on_bad_input=on_bad_input,
            on_handler_error=on_handler_error,
            max_bad_messages=max_bad_messages,
        )
        self.prefix = prefix
        self.tags = tuple(tags)
        #: The handshake checks run before accept (when the router accepts the connection).
        self.handshake = Handshake(authenticate=authenticate, subprotocols=subprotocols)
        self.idle_timeout = idle_timeout
        self.max_lifespan = max_lifespan
        self.hub = hub
        self.description = description
        self._operations: dict[str, Operation] = {}
        self._emits: dict[str, Emit] = {}
        self._vocabulary: dict[str, tuple[object, str]] = {}
        self._server_replies: dict[str, str] = {}
        self._aliases: dict[tuple[OperationRouter, str], str] = {}
        self._outbound: dict[str, tuple[type[msgspec.Struct], Checker]] = {}
        self._reply_structs: dict[object, type[msgspec.Struct]] = {}
        self._compiled: Compiled | None = None
        self._frozen: str | None = None

    # -- introspection -------------------------------------------------------------------------

    @property
    def operations(self) -> Mapping[str, Operation]:
        """The client-to-server operations, by full name."""
        return dict(self._operations)

    @property
    def emitted(self) -> Mapping[str, Emit]:
        """The declared server-to-client operations, by full name."""
        return dict(self._emits)

    def __repr__(self) -> str:
        return f"<OperationRouter prefix={self.prefix!r} operations={sorted(self._operations)}>"

    # -- registration --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._frozen is not None:
            raise RuntimeError(f"cannot change this router: {self._frozen}")
        self._compiled = None

    def _claim(self, *claims: tuple[str, object, str]) -> None:
        """Give each name one payload type across operations, replies and emits.

        Every ``(name, payload type, where declared)`` is checked before any is recorded, so a
        refused declaration leaves the router unchanged.
        """
        for name, payload, where in claims:
            if name == self.envelope.error_type:
                raise ValueError(f"{where}: {name!r} is the error envelope's type; rename it")
            known = self._vocabulary.get(name)
            if known is None or payload is Any or known[0] is Any or known[0] == payload:
                continue
            raise ValueError(
                f"{where}: {name!r} already carries {known[0]!r} ({known[1]}); "
                f"one name must carry one payload type, not also {payload!r}"
            )
        for name, payload, where in claims:
            known = self._vocabulary.get(name)
            if known is None or known[0] is Any:
                self._vocabulary[name] = (payload, where)

    def _add_operation(self, op: Operation) -> None:
        where = f"operation {op.name!r}"
        existing = self._operations.get(op.name)
        if existing is not None:
            raise ValueError(
                f"operation {op.name!r} is already handled by {existing.handler!r}; "
                f"cannot also route it to {op.handler!r}"
            )
        if op.name in self._server_replies:
            raise ValueError(
                f"{where}: the client's reply to server request "
                f"{self._server_replies[op.name]!r} already uses this name"
            )
        claims = [(op.name, op.payload, where)]
        if op.reply is not None:
            claims.append((op.reply, op.reply_payload, f"the reply of {where}"))
        self._claim(*claims)
        self._operations[op.name] = op

    def _add_emit(self, emit: Emit) -> None:
        where = f"emitted operation {emit.name!r}"
        if emit.name in self._emits:
            raise ValueError(f"{where} is already declared")
        claims = [(emit.name, emit.payload, where)]
        if emit.reply is not None:
            if emit.reply in self._operations:
                raise ValueError(
                    f"{where}: its reply name {emit.reply!r} is a client-to-server operation; "
                    "replies to server requests need a name of their own"
                )
            claims.append((emit.reply, emit.reply_payload, f"the reply to {where}"))
        self._claim(*claims)
        if emit.reply is not None:
            self._server_replies[emit.reply] = emit.name
        self._emits[emit.name] = emit
        self._outbound.pop(emit.name, None)

    def on(
        self,
        name: str,
        *,
        reply: str | None = None,
        payload: object = _UNSET,
        reply_payload: object = _UNSET,
        summary: str | None = None,
        description: str | None = None,
        tags: Iterable[str] = (),
        background: bool = False,
    ) -> Callable[[F], F]:
        """Register the decorated ``async def`` as the handler of operation ``name``.

        The payload type comes from ``payload=`` or from the annotation of the payload
        parameter (see :mod:`~wskit.operations.injection` for what else a handler may ask
        for); the reply's payload type from ``reply_payload=`` or the return annotation.

        Args:
            name: The operation name (this router's prefix is prepended).
            reply: The name of the reply operation; the handler's return value is sent as its
                payload with the request's correlation id. ``None``: no reply.
            payload: The payload type, overriding the annotation.
            reply_payload: The reply's payload type, overriding the return annotation.
            summary: One line for the docs (default: the docstring's first line).
            description: Longer docs (default: the docstring).
            tags: Tags for the docs, added to the router's.
            background: Run each call in its own task (replies may then arrive out of order);
                required for a handler that awaits :meth:`request`.

        Raises:
            ValueError: The name is taken, or a name would carry two payload types.
            TypeError: The handler is not ``async``, a parameter cannot be injected, or it
                returns a value while ``reply`` is ``None``.
            RuntimeError: The router has already served a connection or been included.
        """
        full = self.prefix + check_name(name)
        reply_name = None if reply is None else self.prefix + check_name(reply, "reply")

        def decorator(fn: F) -> F:
            self._check_open()
            label = f"operation {full!r}"
            plan = compile_plan(fn, payload=payload, label=label, router=OperationRouter)
            returns = plan.returns if reply_payload is _UNSET else reply_payload
            if reply_name is None and returns not in (None, inspect.Parameter.empty):
                raise TypeError(
                    f"the handler of {label} returns {returns!r} but declares no reply=name; "
                    "pass reply='...' to send it, or annotate '-> None'"
                )
            if reply_name is not None and returns is None:
                raise TypeError(f"the handler of {label} declares reply= but returns None")
            doc_summary, doc = _describe(fn)
            self._add_operation(
                Operation(
                    name=full,
                    handler=fn,
                    payload=plan.payload,
                    reply=reply_name,
                    reply_payload=Any if returns is inspect.Parameter.empty else returns,
                    summary=summary or doc_summary,
                    description=description or doc,
                    tags=(*self.tags, *tags),
                    background=background,
                    plan=plan,
                )
            )
            return fn

        return decorator

    def emits(
        self,
        name: str,
        *,
        payload: object = None,
        reply: str | None = None,
        reply_payload: object = None,
        summary: str | None = None,
        description: str | None = None,
        tags: Iterable[str] = (),
    ) -> Emit:
        """Declare the server-to-client operation ``name`` (for :meth:`emit` and the docs).

        Call it as a statement or use it as a decorator on the function that emits.

        Args:
            name: The operation name (this router's prefix is prepended).
            payload: The payload type; :meth:`emit` checks values against it.
            reply: For a server request, the name of the client's answer (default:
                ``name + ".reply"`` when ``reply_payload`` is given).
            reply_payload: For a server request, the type of the client's answer.
            summary: One line for the docs.
            description: Longer docs.
            tags: Tags for the docs, added to the router's.
        """
        self._check_open()
        full = self.prefix + check_name(name)
        if reply is not None:
            reply = self.prefix + check_name(reply, "reply")
        elif reply_payload is not None:
            reply = full + ".reply"
        emit = Emit(
            name=full,
            payload=payload,
            reply=reply,
            reply_payload=reply_payload,
            summary=summary,
            description=description,
            tags=(*self.tags, *tags),
        )
        self._add_emit(emit)
        return emit

    def include_router(self, router: OperationRouter, *, prefix: str = "") -> None:
        """Add every operation and emit of ``router`` to this one, under ``prefix``.

        Names get this router's own prefix too: ``OperationRouter(prefix="v1.")`` including
        a router's ``chat.send`` with ``prefix="x."`` handles ``v1.x.chat.send``.

        ``router`` is copied now and frozen: declare its operations before including it.
        Calling ``router.emit(ws, name, ...)`` on a connection this router serves sends the
        prefixed name.

        Raises:
            ValueError: A name clashes, or the routers' envelopes differ.
        """
        self._check_open()
        if router is self:
            raise ValueError("a router cannot include itself")
        if router.envelope != self.envelope:
            raise ValueError(
                f"cannot include a router with envelope {router.envelope!r} in one with "
                f"{self.envelope!r}"
            )
        if prefix:
            check_name(prefix, "prefix")
        prefix = self.prefix + prefix

        def rename(name: str | None) -> str | None:
            return None if name is None else prefix + name

        # All or nothing: on a clash, this router is left as it was.
        saved = (
            dict(self._operations),
            dict(self._emits),
            dict(self._vocabulary),
            dict(self._server_replies),
        )
        try:
            for op in router._operations.values():
                self._add_operation(replace(op, name=prefix + op.name, reply=rename(op.reply)))
            for emit in router._emits.values():
                self._add_emit(replace(emit, name=prefix + emit.name, reply=rename(emit.reply)))
        except ValueError:
            self._operations, self._emits, self._vocabulary, self._server_replies = saved
            raise
        for name in router._emits:
            self._aliases[router, name] = prefix + name
        for (owner, name), target in router._aliases.items():
            self._aliases[owner, name] = prefix + target
        router._frozen = router._frozen or "it was included in another router"

    # -- compiled state ------------------------------------------------------------------------

    def compile(self, *, freeze: bool = False) -> Compiled:
        """Build (or return) the dispatch tables; ``freeze`` forbids later registrations."""
        if freeze and self._frozen is None:
            self._frozen = "it has already served a connection"
        compiled = self._compiled
        if compiled is None:
            table: dict[type, CompiledOperation] = {}
            for op in self._operations.values():
                label = f"operation {op.name!r}"
                default = op.plan.payload_default
                if default is inspect.Parameter.empty:
                    default = None if accepts_none(op.payload) else msgspec.NODEFAULT
                struct = self.envelope.tagged(op.name, op.payload, default=default, outbound=False)
                reply = None
                if op.reply is not None:
                    reply = self.envelope.tagged(op.reply, op.reply_payload, outbound=True)
                check = checker(op.reply_payload, f"the reply of {label}")
                simple = op.plan.simple
                table[struct] = CompiledOperation(
                    op.handler if simple else op.plan.call,
                    simple,
                    reply,
                    check.cls,
                    check.coerce,
                    op.background,
                    op.name,
                )
            union: object = None
            if table:
                union = Union[tuple(table)]  # noqa: UP007 - a runtime union of many classes
            inline: dict[type, Inline] = {
                struct: (route.call, route.simple, route.reply, route.cls)
                for struct, route in table.items()
                if not route.background
            }
            compiled = self._compiled = Compiled(union, table, inline, frozenset(self._operations))
        return compiled

    def outbound(self, name: str) -> tuple[type[msgspec.Struct], Checker] | None:
        """The envelope struct and value checker of a declared emit, or ``None``."""
        found = self._outbound.get(name)
        if found is None:
            emit = self._emits.get(name)
            if emit is None:
                return None
            struct = self.envelope.tagged(name, emit.payload, outbound=True)
            found = struct, checker(emit.payload, f"emitted operation {name!r}")
            self._outbound[name] = found
        return found

    def emit_spec(self, name: str) -> Emit | None:
        """The declared emit ``name`` (full name), or ``None``."""
        return self._emits.get(name)

    def alias(self, owner: OperationRouter, name: str) -> str | None:
        """The name under which ``owner``'s emit ``name`` was included here, if it was."""
        return self._aliases.get((owner, name))

    def reply_struct(self, tp: object) -> type[msgspec.Struct]:
        """The (cached) untagged envelope struct of a client's reply of payload type ``tp``."""
        struct = self._reply_structs.get(tp)
        if struct is None:
            struct = self._reply_structs[tp] = self.envelope.untagged(tp)
        return struct

    # -- serving (implemented in session.py) ---------------------------------------------------

    async def __call__(self, ws: WebSocket) -> None:
        """Accept ``ws`` and serve it until the client leaves or a policy closes it."""
        from .session import serve

        await serve(self, ws)

    async def emit(self, ws: WebSocket, name: str, value: object = None) -> None:
        """Send the declared server-to-client operation ``name`` with payload ``value``.

        ``value`` must fit the declared payload type (an instance, or anything msgspec can
        convert to it); it is encoded once with the connection's codec.

        Raises:
            LookupError: ``name`` was not declared with :meth:`emits`.
            TypeError: ``value`` does not fit the declared payload type (nothing is sent).
            WebSocketDisconnect: The client has left.
        """
        from .session import emit

        await emit(self, ws, name, value)

    @overload
    async def request(
        self,
        ws: WebSocket,
        name: str,
        payload: object = None,
        *,
        reply: type[R],
        timeout: float = 10.0,
    ) -> R: ...
    @overload
    async def request(
        self, ws: WebSocket, name: str, payload: object = None, *, timeout: float = 10.0
    ) -> Any: ...

    async def request(
        self,
        ws: WebSocket,
        name: str,
        payload: object = None,
        *,
        reply: Any = _UNSET,
        timeout: float = 10.0,
    ) -> Any:
        """Send ``name`` to the client with a fresh id and return its reply's payload.

        The client answers with an envelope carrying the same id and the reply name
        (declared with ``emits(..., reply=...)``, default ``name + ".reply"``). The router serving
        the connection routes it to this call before normal dispatch. Call it from a
        ``background=True`` operation or another task, never from an inline handler (the
        router would not read the reply while the handler waits for it).

        Args:
            ws: A connection served by an ``OperationRouter``.
            name: The operation name (declared with :meth:`emits` or not).
            payload: The payload (checked against the declared type, if declared).
            reply: The reply's payload type (default: the declared ``reply_payload``).
            timeout: Seconds to wait for the reply.

        Raises:
            Timeout: No reply within ``timeout`` seconds.
            ValidationError: The client's reply does not fit ``reply``.
            WebSocketDisconnect: The connection ended first.
            RuntimeError: ``ws`` is not served by an operation router, or this is the task
                that reads its messages.
        """
        from .session import request

        return await request(self, ws, name, payload, reply=reply, timeout=timeout)
