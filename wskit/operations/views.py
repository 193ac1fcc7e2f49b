"""``WebSocketView[In, Out]``: a class-based endpoint with typed messages and a broadcast.

Subclass it with the inbound and outbound types, override the hooks you need, and route the
class itself: ``App(routes=[Route("/chat", Chat)])``, ``@app.websocket("/chat")`` on the class,
or ``wskit.contrib.starlette.WebSocketRoute("/chat", Chat)``. Calling ``Chat(ws)`` makes one
view per connection; awaiting it runs the connection::

    class Chat(WebSocketView[ChatIn, ChatOut]):
        async def on_message(self, msg: ChatIn) -> None:
            await self.broadcast(ChatOut(text=msg.text))

The lifecycle: ``on_connect()`` (default: accept), then ``handler()`` (default: call
``on_message`` for each message of ``self.messages``), then ``on_disconnect(code)``, which runs
even when the handler failed or was cancelled, shielded and bounded by ``cleanup_timeout``.
Bad input follows the same policies as :class:`~wskit.operations.OperationRouter`: an error
envelope (``{"type": "error", "payload": {"code": "invalid_payload", ...}, "id": null}``) and
the connection stays open, or a close with 1007, and 1008 after ``max_bad_messages``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any, ClassVar, Final, Generic, TypeVar, get_args, get_origin

import anyio

from wskit._outcome import INTERNAL_ERROR, client_fault, is_disconnect, log_client_fault
from wskit._state import State
from wskit.connection import WebSocket
from wskit.exceptions import (
    DecodeError,
    MessageTooBig,
    Timeout,
    ValidationError,
    WebSocketDisconnect,
    WebSocketDisconnected,
)
from wskit.status import CloseCode, reason_for

from .envelope import DEFAULT_FORMAT, EnvelopeFormat
from .errors import BadMessage, ErrorHandling, ErrorPolicy
from .spec import Checker, checker

__all__ = ["WebSocketView"]

In = TypeVar("In")
Out = TypeVar("Out")

logger: Final = logging.getLogger("wskit.views")


class _Messages(Generic[In]):
    """The inbound messages of a view, decoded as ``In``; ends when the client leaves.

    A message that does not decode is answered by the view's bad-input policy and skipped.
    """

    __slots__ = ("_view",)

    def __init__(self, view: WebSocketView[In, Any]) -> None:
        self._view = view

    def __aiter__(self) -> _Messages[In]:
        return self

    async def __anext__(self) -> In:
        view = self._view
        ws = view.ws
        tp = view.in_type
        while True:
            try:
                value: In = await ws.receive(tp)
            except (WebSocketDisconnect, WebSocketDisconnected, MessageTooBig):
                raise StopAsyncIteration from None
            except DecodeError as exc:
                view.bad_messages += 1
                code = "invalid_payload" if isinstance(exc, ValidationError) else "malformed"
                bad = BadMessage(code, str(exc), path=exc.path)
                if await view._errors.reject(ws, bad, view.bad_messages):
                    raise StopAsyncIteration from None
                continue
            return value


def _substitute(arg: Any, mapping: dict[Any, Any]) -> Any:
    if isinstance(arg, TypeVar):
        return mapping.get(arg, arg)
    params = getattr(arg, "__parameters__", ())
    return arg[tuple(mapping.get(p, p) for p in params)] if params else arg


def _view_args(cls: type) -> tuple[Any, Any]:
    """Resolve ``(In, Out)`` of ``cls`` from its generic bases (TypeVars when still open)."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = get_origin(base)
        if isinstance(origin, type) and issubclass(origin, WebSocketView):
            args = get_args(base)
            if origin is WebSocketView:
                return args[0], args[1]
            params: tuple[Any, ...] = getattr(origin, "__parameters__", ())
            mapping = dict(zip(params, args, strict=True))
            inner = origin._view_args
            return _substitute(inner[0], mapping), _substitute(inner[1], mapping)
    # No generic base of its own: the first view among its bases says.
    parent = next(base for base in cls.__bases__ if issubclass(base, WebSocketView))
    return parent._view_args


class WebSocketView(Generic[In, Out]):
    """A class-based WebSocket endpoint receiving ``In`` and sending ``Out``.

    ``In`` and ``Out`` are read from the class's generic parameters when it is created, and
    may be any type ``ws.receive(tp)`` accepts (a Struct, dataclass, TypedDict, ``str``,
    ``bytes``, ``dict``, a union...). Class attributes configure the policies.

    Attributes:
        in_type: The inbound type (``Any`` when not parametrized).
        out_type: The outbound type (``Any`` when not parametrized).
        on_bad_input: ``"reply"`` with an error envelope, or ``"close"`` (1007).
        on_handler_error: When ``on_message`` raises: ``"reply"`` with ``internal_error``
            and go on, or ``"close"`` (1011). The error is logged once either way.
        max_bad_messages: Close with 1008 on the ``N + 1``-th bad message (``None``: no cap).
        validate_send: Check values given to :meth:`send`/:meth:`broadcast` against ``Out``.
        cleanup_timeout: Seconds ``on_disconnect`` may take before it is cancelled.
        broadcast_timeout: Seconds one connection may take to take a broadcast frame.
        envelope: The field names of the error envelope.
        ws: The connection.
        bad_messages: How many bad messages this connection has sent.
    """

    in_type: ClassVar[Any] = Any
    out_type: ClassVar[Any] = Any
    on_bad_input: ClassVar[ErrorPolicy] = "reply"
    on_handler_error: ClassVar[ErrorPolicy] = "reply"
    max_bad_messages: ClassVar[int | None] = None
    validate_send: ClassVar[bool] = True
    cleanup_timeout: ClassVar[float] = 5.0
    broadcast_timeout: ClassVar[float | None] = 5.0
    envelope: ClassVar[EnvelopeFormat] = DEFAULT_FORMAT

    _view_args: ClassVar[tuple[Any, Any]] = (Any, Any)
    _errors: ClassVar[ErrorHandling] = ErrorHandling(DEFAULT_FORMAT)
    _out: ClassVar[Checker] = checker(Any, "send")
    _connections: ClassVar[set[WebSocketView[Any, Any]]] = set()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._view_args = _view_args(cls)
        if not any(
            getattr(arg, "__parameters__", ()) or isinstance(arg, TypeVar) for arg in cls._view_args
        ):
            cls.in_type, cls.out_type = cls._view_args
        cls._errors = ErrorHandling(
            cls.envelope,
            on_bad_input=cls.on_bad_input,
            on_handler_error=cls.on_handler_error,
            max_bad_messages=cls.max_bad_messages,
        )
        cls._out = checker(cls.out_type, f"{cls.__name__}.send")
        cls._connections = set()

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.bad_messages = 0

    def __await__(self) -> Generator[Any, None, None]:
        """Awaiting the view runs the connection: ``await Chat(ws)``."""
        return self.dispatch().__await__()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ws!r}>"

    # -- hooks ---------------------------------------------------------------------------------

    async def on_connect(self) -> None:
        """Called first. The default accepts (with ``ws.subprotocol``, if one was chosen).

        Override to check the handshake; return without accepting (or call
        ``self.ws.deny(...)``) to refuse it.
        """
        await self.ws.accept(self.ws.subprotocol)

    async def on_message(self, message: In) -> None:
        """Called for each message by the default :meth:`handler`. The default does nothing."""

    async def on_disconnect(self, code: int) -> None:
        """Called last, with the close code, whatever ended the connection. Default: nothing."""

    async def handler(self) -> None:
        """Serve the open connection. The default calls :meth:`on_message` for each message.

        An exception from ``on_message`` follows ``on_handler_error``.
        """
        ws = self.ws
        errors = self._errors
        async for message in self.messages:
            try:
                await self.on_message(message)
            except Exception as exc:
                if await errors.failed(ws, exc, None, None):
                    return

    @property
    def messages(self) -> _Messages[In]:
        """The inbound messages as ``In``, until the client leaves (an async iterator)."""
        return _Messages(self)

    # -- sending -------------------------------------------------------------------------------

    @classmethod
    def _check(cls, value: Out) -> Out:
        out = cls._out
        if cls.validate_send and value.__class__ is not out.cls:
            return out.coerce(value)  # type: ignore[no-any-return]
        return value

    async def send(self, value: Out) -> None:
        """Send ``value`` (checked against ``Out`` when ``validate_send``) with the codec.

        Raises:
            TypeError: ``value`` does not fit ``Out`` (nothing is sent).
        """
        await self.ws.send_data(self._check(value))

    @classmethod
    def connections(cls) -> tuple[WebSocketView[In, Out], ...]:
        """The open connections of this view class (not of its subclasses)."""
        return tuple(v for v in cls._connections if v.ws.application_state is State.CONNECTED)

    @classmethod
    async def broadcast(cls, value: Out) -> None:
        """Send ``value`` to every open connection of this view class.

        Works on the class (``await Chat.broadcast(v)`` from a background task) and on an
        instance (``await self.broadcast(v)``, the sender included). The value is encoded
        once per codec and the same frame goes to every connection, concurrently, each within
        ``broadcast_timeout``. A connection that fails does not stop the others; clients that
        left meanwhile are skipped.

        Raises:
            TypeError: ``value`` does not fit ``Out`` (nothing is sent).
            ExceptionGroup: Some connections failed; every other one got the frame.
        """
        value = cls._check(value)
        targets = cls.connections()
        frames: dict[object, str | bytes] = {}
        failures: list[Exception] = []
        timeout = cls.broadcast_timeout

        async def deliver(ws: WebSocket, frame: str | bytes) -> None:
            try:
                with anyio.fail_after(timeout):
                    await ws.send_frame(frame)
            except (WebSocketDisconnect, WebSocketDisconnected):
                pass  # left while the broadcast was on its way
            except TimeoutError:
                failures.append(Timeout(f"{ws!r} did not take the broadcast within {timeout} s"))
            except Exception as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            for view in targets:
                codec = view.ws.codec
                found = frames.get(codec)
                if found is None:
                    found = frames[codec] = (
                        value if isinstance(value, str | bytes) else codec.encode_frame(value)
                    )
                tg.start_soon(deliver, view.ws, found)
        if failures:
            raise ExceptionGroup(
                f"broadcast failed for {len(failures)} of {len(targets)} connections", failures
            )

    # -- lifecycle -----------------------------------------------------------------------------

    async def dispatch(self) -> None:
        """Run the whole lifecycle: connect, handle, close, disconnect hook."""
        ws = self.ws
        cls = type(self)
        code: int = CloseCode.NORMAL_CLOSURE
        connected = False
        # Registered before accept (broadcasts skip it until then), so a client that has seen
        # its handshake complete is already reached by the next broadcast.
        cls._connections.add(self)
        try:
            await self.on_connect()
            if ws.application_state is not State.CONNECTED:
                return  # refused (or the client left) in on_connect
            connected = True
            await self.handler()
        except anyio.get_cancelled_exc_class():
            code = CloseCode.GOING_AWAY
            if connected:
                await self._close(code, reason_for(code))
            raise
        except Exception as exc:
            # As ``async with ws:``: the client leaving ends the view quietly; a client fault
            # is closed with its code and logged once here; anything else closes 1011 and goes
            # on, unlogged, to whoever stops it (the App, the route, or the ASGI server).
            if not connected:
                raise
            if is_disconnect(exc):
                return
            fault = client_fault(exc)
            if fault is None:
                code = CloseCode.INTERNAL_ERROR
                await self._close(*INTERNAL_ERROR)
                raise
            log_client_fault(exc, fault, ws.scope, logger)
            code = fault[0]
            await self._close(*fault)
        else:
            await self._close(code, "")
        finally:
            cls._connections.discard(self)
            if connected:
                await self._cleanup(ws.close_code if ws.close_code is not None else code)

    async def _close(self, code: int, reason: str) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.ws.limits.close_timeout):
            await self.ws.close(code, reason)

    async def _cleanup(self, code: int) -> None:
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self.cleanup_timeout) as scope:
                try:
                    await self.on_disconnect(code)
                except Exception:
                    logger.exception("%s.on_disconnect raised", type(self).__name__)
            if scope.cancelled_caught:
                logger.warning(
                    "%s.on_disconnect did not finish within %s seconds: cancelled",
                    type(self).__name__,
                    self.cleanup_timeout,
                )
