"""One connection served by an operation router: the receive loop, pushes and server requests.

``serve(router, ws)`` runs the handshake policies (auth, subprotocol), accepts, and loops:
receive a frame, decode it with the router's one union decoder, look the handler up by envelope
class, call it, encode its reply once and send the frame. That loop is the hot path: everything
it touches is bound to a local before the first message.

The connection's codec decides the frame kind, both ways: a JSON connection (the default)
speaks text frames, a MessagePack one (negotiated by subprotocol) binary frames; a frame of the
other kind is bad input, ``unsupported_frame`` (RFC 6455's 1003, "a type of data it cannot
accept").

A :class:`Session` per connection (kept in ``ws.scope["wskit.operations"]``) holds the table of
server-to-client requests waiting for their reply, the bad-message count and the timers. A
client's reply to a server request never matches an operation (the router forbids the names to
overlap), so it fails the union decode and is routed to its waiter on that error path, before
the bad-input policy: requests cost nothing on the hot path.

Idle timeout and maximum lifespan run as two small tasks in the connection's task group and are
cancelled with it, so a connection leaves no task behind; without them the loop adds no cancel
scope and no clock read per message.

**The inlined fast path.** On CPython 3.11 each coroutine frame costs about 0.1 µs, a
twentieth of what the router spends on a message: going through ``ws.receive_text()`` and
``ws.send_frame()`` would add two per message. So, for a real
:class:`~wskit.connection.WebSocket` whose ``receive_text``, ``receive_bytes`` and
``send_frame`` are not overridden, the loop inlines their fast paths through the connection's
:class:`~wskit.connection.Port`, by its rules: it awaits the server's ``receive`` and ``send``
itself exactly when those methods would (the port holds them, and no other task is receiving),
with the same checks (the message type, the inbound and outbound thresholds of the frame's kind)
and the same outcomes (a disconnect, a frame of the other kind, a message over the limit, an
``OSError`` from the server as ``WebSocketDisconnect(1006)``). Everything else goes through the
public methods. :func:`_loop` and :func:`_frame_of` are the port's users here;
``tests/test_fast_paths.py`` runs every scenario through them and through the checked path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NoReturn

import anyio
import msgspec

from .._state import State
from ..codecs import DECODE_ERRORS, JSON, MSGPACK, Codec, translate_decode_error
from ..connection import Port, WebSocket
from ..exceptions import Denied, FrameTypeError, MessageTooBig, Timeout, WebSocketDisconnect
from ..status import CloseCode
from .errors import BadMessage, classify
from .injection import UNSET

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from .._types import Message
    from .router import OperationRouter
    from .spec import Compiled

__all__ = ["SESSION_KEY", "Session", "emit", "request", "serve"]

logger: Final = logging.getLogger("wskit.operations")

#: The scope key under which a served connection keeps its :class:`Session`.
SESSION_KEY: Final = "wskit.operations"
_INF: Final = float("inf")
_STOCK: Final[dict[Codec, Callable[[Any], bytes]]] = {
    JSON: msgspec.json.Encoder().encode,
    MSGPACK: msgspec.msgpack.Encoder().encode,
}

#: The WebSocket methods whose fast paths the loop inlines (see "the inlined fast path").
INLINED: Final = ("receive_text", "receive_bytes", "send_frame")


def _no_operations(data: object) -> NoReturn:
    raise msgspec.ValidationError("the router has no operations")


class _Pending:
    """A server request waiting for the client's reply."""

    __slots__ = ("error", "event", "reply_name", "struct", "value")

    def __init__(self, reply_name: str, struct: type[msgspec.Struct]) -> None:
        self.event = anyio.Event()
        self.reply_name = reply_name
        self.struct = struct
        self.value: object = None
        self.error: Exception | None = None


class Session:
    """The per-connection state of a connection served by an :class:`OperationRouter`.

    Attributes:
        router: The router serving the connection (the one handlers receive as ``router``).
        app: ``scope["app"]``, if the server or framework set it.
        bad: How many bad messages the client has sent.
    """

    __slots__ = (
        "_hub",
        "app",
        "bad",
        "codec",
        "deadline",
        "loop_task",
        "names",
        "next_id",
        "pending",
        "router",
        "tg",
    )

    def __init__(
        self, router: OperationRouter, ws: WebSocket, names: frozenset[str], tg: TaskGroup
    ) -> None:
        self.router = router
        self.tg = tg
        self.names = names
        self.app: object = ws.scope.get("app")
        hub = router.hub
        if hub is None:
            hub = getattr(self.app, "hub", None)
        if hub is None:  # a lifespan that yielded {"hub": hub} (the ASGI lifespan state)
            state = ws.scope.get("state")
            hub = state.get("hub") if isinstance(state, dict) else None
        self._hub = hub
        #: The connection's codec: its frame kind and its decoders.
        self.codec: Codec = ws.codec
        self.pending: dict[str, _Pending] = {}
        self.next_id = 0
        self.bad = 0
        self.deadline = _INF
        self.loop_task = anyio.get_current_task().id

    @property
    def hub(self) -> object:
        """The pub/sub hub: the router's ``hub``, else ``scope["app"].hub``, else ``"hub"`` in
        the lifespan state (``yield {"hub": hub}`` from the app's lifespan).

        Raises:
            LookupError: Neither has one.
        """
        if self._hub is None:
            raise LookupError(
                "a handler asks for 'hub', but neither the router nor the app has one"
            )
        return self._hub

    def route_reply(self, data: str | bytes) -> bool:
        """Hand a client's reply to the server request waiting for it. ``False``: not a reply."""
        try:
            name, rid = self.router.envelope.probe(data, self.codec.binary)
        except DECODE_ERRORS:
            return False
        pending = self.pending.pop(rid, None) if type(rid) is str else None
        if pending is None:
            return False
        if name != pending.reply_name:
            self.pending[rid] = pending  # type: ignore[index]
            return False
        try:
            reply: Any = self.codec.decoder(pending.struct)(data)
            pending.value = reply.payload
        except DECODE_ERRORS as exc:
            pending.error = translate_decode_error(exc)
        pending.event.set()
        return True

    def end(self, ws: WebSocket) -> None:
        """Wake every request still waiting: the connection is over."""
        pending, self.pending = self.pending, {}
        for waiter in pending.values():
            waiter.error = WebSocketDisconnect(ws.close_code or CloseCode.ABNORMAL_CLOSURE)
            waiter.event.set()


async def serve(router: OperationRouter, ws: WebSocket) -> None:
    """Run the handshake checks, accept ``ws`` and serve it with ``router`` until it ends."""
    compiled = router.compile(freeze=True)
    if ws.application_state is State.CONNECTING:
        handshake = router.handshake
        if handshake.enabled:
            try:
                await handshake.check(ws)
            except Denied as denied:
                try:
                    await ws.deny(denied.status, denied.headers, denied.body)
                except WebSocketDisconnect:
                    pass
                return
        await ws.accept(ws.subprotocol)
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        session = Session(router, ws, compiled.names, tg)
        ws.scope[SESSION_KEY] = session
        try:
            if router.idle_timeout is not None:
                session.deadline = anyio.current_time() + router.idle_timeout
                tg.start_soon(_watch_idle, ws, session, router.idle_timeout)
            if router.max_lifespan is not None:
                tg.start_soon(_end_lifespan, ws, session, router.max_lifespan)
            try:
                await _loop(router, compiled, ws, session)
            except Exception as exc:  # re-raised below, outside the task group (no group)
                error = exc
            tg.cancel_scope.cancel()
        finally:
            ws.scope.pop(SESSION_KEY, None)
            session.end(ws)
    if error is not None:
        raise error
    if not ws.closed:  # a handler raised WebSocketDisconnect on an open connection
        await ws.close()


async def _loop(
    router: OperationRouter, compiled: Compiled, ws: WebSocket, session: Session
) -> None:
    # The hot path (see "the inlined fast path" in the module docstring). Everything is bound
    # to a local first: a local load is the cheapest there is, and calling a callable held in
    # an attribute (``port.receive()``) is a LOAD_METHOD that never specialises.
    codec = session.codec
    decode: Any = _no_operations if compiled.union is None else codec.decoder(compiled.union)
    text = not codec.binary
    key = "text" if text else "bytes"
    # A subclass that overrides them gets a port that never opens, so the loop calls them.
    port = Port.of(ws, *INLINED) or Port()
    receive_frame = ws.receive_text if text else ws.receive_bytes
    send_frame = ws.send_frame
    inline = compiled.inline
    table = compiled.table
    # The stock codecs have no hooks: call msgspec's encoder directly (a C call, no wrapper).
    encode = _STOCK.get(codec) or codec.encode
    failed = router.errors.failed
    idle = router.idle_timeout
    clock = anyio.current_time
    tg = session.tg
    while True:
        if idle is not None:
            session.deadline = clock() + idle
        try:
            if (receive := port.receive) is not None and not port.receiving:
                # ws.receive_text() / receive_bytes(), inlined. The flag is held only while
                # waiting, as they hold it: another task's receive meanwhile raises
                # ConcurrentReceive, and a handler may receive a frame of its own.
                port.receiving = True
                try:
                    message = await receive()
                finally:
                    port.receiving = False
                if message["type"] != "websocket.receive":
                    Port.unusual(ws, message)  # raises: the client left, or a broken server
                try:
                    data = message[key]  # a subscript is cheaper than .get() when it is there
                except KeyError:
                    data = None
                # Within the threshold of the frame's kind (characters for text, bytes for
                # binary) it is within the limit for sure; anything else, a frame of the other
                # kind included, is measured exactly.
                if data is None or len(data) > (port.text_in if text else port.bytes_in):
                    data = await _frame_of(ws, message, key)
            else:
                data = await receive_frame()
        except (WebSocketDisconnect, MessageTooBig):
            return  # the client left, or the connection closed itself with 1009
        except FrameTypeError as exc:
            if await _reject(router, ws, session, _unsupported(exc)):
                return
            continue
        except Timeout:  # Limits.receive_timeout: the same as an idle timeout
            await ws.close(CloseCode.POLICY_VIOLATION, "idle timeout")
            return
        if idle is not None:
            session.deadline = _INF
        try:
            env = decode(data)
        except DECODE_ERRORS as exc:
            if session.pending and session.route_reply(data):
                continue
            bad = classify(data, codec.binary, exc, router.envelope, compiled.names)
            if await _reject(router, ws, session, bad):
                return
            continue
        try:
            # Only what the hot path needs, from a plain tuple (see spec.Inline); the whole
            # CompiledOperation is looked up again on the rare paths (a reply to convert, an
            # error).
            call, simple, reply, cls = inline[env.__class__]
        except KeyError:  # not inline: a background operation (zero cost when not raised)
            tg.start_soon(_background, router, table[env.__class__], env, ws, session)
            continue
        try:
            result = await (call(env.payload) if simple else call(env, ws, session))
            if reply is not None:
                if result.__class__ is not cls:
                    result = table[env.__class__].coerce(result)
                frame = encode(reply(result, env.id))
                if (send := port.send) is not None and len(frame) <= port.bytes_out:
                    # ws.send_frame(), inlined. The port is read again: the handler may have
                    # closed the connection. ``frame`` is the encoded bytes, so its length is
                    # exactly the size the limit is about.
                    try:
                        await send(
                            {"type": "websocket.send", key: frame.decode() if text else frame}
                        )
                    except OSError:
                        raise Port.transport_lost(ws) from None
                else:
                    await send_frame(frame.decode() if text else frame)
        except Exception as exc:
            if await failed(ws, exc, table[env.__class__].name, env.id):
                return


async def _frame_of(ws: WebSocket, message: Message, key: str) -> str | bytes:
    """The rest of ``receive_text``/``receive_bytes`` for a large frame or one of the other kind.

    Raises:
        MessageTooBig: The frame is over ``Limits.max_message_size`` (closed with 1009).
        FrameTypeError: The frame is of the other kind (consumed; the connection stays open).
    """
    await Port.check_size(ws, message)
    data: str | bytes | None = message.get(key)
    if data is None:
        raise FrameTypeError(key, "bytes" if key == "text" else "text")
    return data


def _unsupported(exc: FrameTypeError) -> BadMessage:
    return BadMessage(
        "unsupported_frame",
        f"this connection speaks {exc.expected} frames, not {exc.received} frames",
    )


async def _reject(
    router: OperationRouter, ws: WebSocket, session: Session, bad: BadMessage
) -> bool:
    session.bad += 1
    return await router.errors.reject(ws, bad, session.bad)


async def _background(
    router: OperationRouter, route: Any, env: Any, ws: WebSocket, session: Session
) -> None:
    try:
        result = await (route.call(env.payload) if route.simple else route.call(env, ws, session))
        if route.reply is not None:
            if result.__class__ is not route.cls:
                result = route.coerce(result)
            await ws.send_frame(ws.codec.encode_frame(route.reply(result, env.id)))
    except Exception as exc:
        # Shielded (and bounded): the loop may end meanwhile, and the answer or close must go.
        ended = True  # also when the answer could not be sent in time
        with anyio.CancelScope(shield=True), anyio.move_on_after(ws.limits.close_timeout):
            ended = await router.errors.failed(ws, exc, route.name, env.id)
        if ended:
            session.tg.cancel_scope.cancel()


async def _watch_idle(ws: WebSocket, session: Session, idle: float) -> None:
    # The loop sets ``deadline`` before each receive and clears it (``inf``) while a handler
    # runs, so only time spent waiting for the client counts.
    now = anyio.current_time()
    while now < session.deadline:
        await anyio.sleep(min(session.deadline - now, idle))
        now = anyio.current_time()
    logger.info("closing %r: idle for %s seconds", ws.scope.get("path"), idle)
    await _close(ws, session, CloseCode.POLICY_VIOLATION, "idle timeout")


async def _end_lifespan(ws: WebSocket, session: Session, lifespan: float) -> None:
    await anyio.sleep(lifespan)
    logger.info("closing %r: lifespan of %s seconds reached", ws.scope.get("path"), lifespan)
    await _close(ws, session, CloseCode.GOING_AWAY, "connection lifespan ended")


async def _close(ws: WebSocket, session: Session, code: int, reason: str) -> None:
    with anyio.CancelScope(shield=True), anyio.move_on_after(ws.limits.close_timeout):
        await ws.close(code, reason)
    session.tg.cancel_scope.cancel()


def _resolve(router: OperationRouter, ws: WebSocket, name: str) -> tuple[OperationRouter, str]:
    """Find the router and name an emit goes out as (an included router's emits are prefixed)."""
    session = ws.scope.get(SESSION_KEY)
    if isinstance(session, Session) and session.router is not router:
        alias = session.router.alias(router, name)
        if alias is not None:
            return session.router, alias
    return router, name


async def emit(router: OperationRouter, ws: WebSocket, name: str, value: object) -> None:
    """Implement :meth:`OperationRouter.emit`."""
    target, full = _resolve(router, ws, name)
    found = target.outbound(full)
    if found is None:
        raise LookupError(f"{name!r} is not declared with emits() on this router")
    struct, check = found
    if value.__class__ is not check.cls:
        value = check.coerce(value)
    await ws.send_frame(ws.codec.encode_frame(struct(value)))


async def request(
    router: OperationRouter,
    ws: WebSocket,
    name: str,
    payload: object,
    *,
    reply: Any,
    timeout: float,
) -> Any:
    """Implement :meth:`OperationRouter.request`."""
    session = ws.scope.get(SESSION_KEY)
    if not isinstance(session, Session):
        raise RuntimeError(
            "request() needs a connection served by an OperationRouter: its loop reads the reply"
        )
    if anyio.get_current_task().id == session.loop_task:
        raise RuntimeError(
            "request() was called from the task that reads this connection (an inline "
            "handler): nobody would read the reply. Register the operation with "
            "background=True, or call request() from another task"
        )
    target, full = _resolve(router, ws, name)
    spec = target.emit_spec(full)
    if spec is not None and spec.reply is not None:
        reply_name = spec.reply
        reply_type = spec.reply_payload if reply is UNSET else reply
    elif reply is UNSET:
        raise TypeError(
            f"request({full!r}): declare it with emits(..., reply_payload=...) or pass reply=<type>"
        )
    else:
        reply_name, reply_type = full + ".reply", reply
    if reply_name in session.names:
        raise ValueError(
            f"request({full!r}): the reply name {reply_name!r} is a client-to-server operation "
            "of this router, so its reply could not be told apart"
        )
    found = target.outbound(full)
    if found is None:
        struct = target.envelope.tagged(full, Any, outbound=True)
    else:
        struct, check = found
        if payload.__class__ is not check.cls:
            payload = check.coerce(payload)
    session.next_id += 1
    rid = f"srv-{session.next_id}"
    waiter = session.pending[rid] = _Pending(reply_name, session.router.reply_struct(reply_type))
    try:
        await ws.send_frame(ws.codec.encode_frame(struct(payload, rid)))
        try:
            with anyio.fail_after(timeout):
                await waiter.event.wait()
        except TimeoutError:
            raise Timeout(f"no reply to {full!r} within {timeout} seconds") from None
    finally:
        session.pending.pop(rid, None)
    if waiter.error is not None:
        raise waiter.error
    return waiter.value
