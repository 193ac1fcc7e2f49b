"""``WebSocket``: one ASGI WebSocket connection, strict, typed and fast.

The class binds the sans-I/O table of :mod:`wskit._state` to an ASGI ``(scope, receive, send)``
triple. It is a drop-in replacement for ``starlette.websockets.WebSocket`` (same names, same
state enum, same exceptions, ``send_json`` output byte for byte) and adds typed receive
(``receive(tp)``), typed send (``send_data``), ``pair``/``expect``, ``async with ws:``,
timeouts, an inbound size limit and exactly-one-close.

Hot path. ``receive_text``/``receive_bytes``/``receive(tp)`` and ``send_text``/``send_bytes``/
``send_data``/``send_frame`` read the connection's :class:`Port`: while its fast path is open
(both sides open, no close under way, no default deadlines) the port holds the server's
``receive`` and ``send``, and the methods call them directly: no extra coroutine frame, no table
lookup, no enum comparison. Everything unusual (a disconnect, a timeout, a closed side, an
oversized message) leaves the fast path for code that consults the transition table. The
layers that inline these fast paths (the operation loop, the hub's fan-out) go through the same
port, whose docstring lists them and their rules. Everything that changes the connection's
state is in this module (h11's rule).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar, overload

import anyio
import msgspec
from starlette.requests import HTTPConnection

from ._casting import utf8_size
from ._conveniences import Conveniences
from ._state import RECEIVE, SEND, State, send_event, transition
from ._typed import NO_TYPE, Typed, plan
from .codecs import DECODE_ERRORS, JSON, Codec, translate_decode_error
from .exceptions import (
    ConcurrentReceive,
    ConnectionClosed,
    FrameTypeError,
    InvalidTransition,
    MessageTooBig,
    RemoteProtocolError,
    Timeout,
    WebSocketDisconnect,
    WebSocketDisconnected,
)
from .limits import DEFAULT_LIMITS, Limits
from .status import CloseCode, check_close

if TYPE_CHECKING:
    from ._types import Message, Receive, Scope, Send

__all__ = ["DEFAULT_LIMITS", "LIVE_EXTENSION", "Limits", "Port", "WebSocket"]

T = TypeVar("T")

logger: Final = logging.getLogger("wskit.connection")

_CONNECTING: Final = State.CONNECTING
_CONNECTED: Final = State.CONNECTED
_DISCONNECTED: Final = State.DISCONNECTED
_RESPONSE: Final = State.RESPONSE
_RAW: Final[Any] = object()
_UNLIMITED: Final = sys.maxsize
_JSON_ENCODE: Final = msgspec.json.Encoder().encode
_JSON_DECODE: Final = msgspec.json.Decoder().decode
# msgspec writes exponents as "1e16"/"1e-7", the stdlib as "1e+16"/"1e-07", and numbers in
# [1e-5, 1e-4) as "0.00001" where the stdlib writes "1e-05": when the output may hold such a
# number, fall back to the stdlib for Starlette's exact bytes.
_EXPONENT: Final = re.compile(rb"[0-9][eE][+-]?[0-9]|0\.0000[1-9]")

#: The ASGI scope extension through which a server that drains wskit connections on shutdown
#: (``wskit run``, :mod:`wskit.serving`) learns of them: an object with ``add(ws)``, which the
#: connection calls when it accepts. Servers that do not set it cost nothing.
LIVE_EXTENSION: Final = "wskit.connections"


class Port:
    """The fast path of one connection, for the layers that inline it.

    A layer above the connection may skip its data methods and await the server's ``receive``
    or ``send`` itself, saving the coroutine frame each call costs (about 0.1 µs on CPython
    3.11, a fifth of a whole echo), only through this object. Each connection owns one port for
    its whole life; :meth:`of` hands it out. Its users, and no others:

    * :class:`WebSocket` itself: the fast paths of ``receive_text``, ``receive_bytes``,
      ``receive(tp)``, ``send_text``, ``send_bytes``, ``send_frame`` and ``send_data``;
    * :mod:`wskit.operations.session`: the operation loop inlines ``receive_text`` /
      ``receive_bytes`` and ``send_frame``;
    * :mod:`wskit.pubsub`: the hub's direct sends inline ``send_frame``
      (:mod:`~wskit.pubsub.outbox`, :mod:`~wskit.pubsub._fanout`,
      :mod:`~wskit.pubsub._subscriptions`), and :meth:`watch` keeps its lists exact.

    The rules an inlined copy keeps (``tests/test_fast_paths.py`` runs every scenario through
    each copy and through the checked path, and requires the same outcome):

    1. ``receive`` and ``send`` are the server's callables while the fast path is open (both
       sides open, no close under way, no default deadline in ``Limits``) and ``None``
       otherwise: read them right before the call. A list of them kept for later is kept exact
       with :meth:`watch`.
    2. Receive only while ``receiving`` is false, and hold it true around the ``await`` (set
       it back in a ``finally``): it is the connection's one-receiver guard, which its checked
       path shares.
    3. Sizes are compared with the threshold of the frame's kind, in that threshold's unit:
       ``text_in``/``text_out`` count characters (a text of at most that many characters is
       within the byte limit whatever its characters: one is at most 4 UTF-8 bytes),
       ``bytes_in``/``bytes_out`` count bytes. An inbound frame over its threshold, or of the
       other kind, goes to :meth:`check_size`; an outbound one to the public method.
    4. Only a ``str`` goes out as ``"text"`` and only ``bytes`` as ``"bytes"``; anything else
       goes to the public method (which converts or refuses it).
    5. A received message other than ``websocket.receive`` goes to :meth:`unusual`.
    6. An ``OSError`` from ``send`` ends the connection: ``raise Port.transport_lost(ws) from
       None``.

    The three escape hatches (:meth:`unusual`, :meth:`check_size`, :meth:`transport_lost`)
    are the only ways an inlined copy changes the connection's state; they, and everything else
    that does, live in this module. They take the connection: a port holds no reference to it
    (the connection holds its port, and a cycle would keep every ended connection alive until
    the garbage collector's next full pass).
    """

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "receive",
        "receiving",
        "send",
        "text_in",
        "text_out",
        "watchers",
    )

    def __init__(self) -> None:
        #: The server's ``receive`` while the fast path is open, else ``None``.
        self.receive: Receive | None = None
        #: The server's ``send`` while the fast path is open, else ``None``.
        self.send: Send | None = None
        #: Whether a task is waiting in the server's ``receive`` (fast or checked path).
        self.receiving = False
        #: An inbound text frame of at most this many characters is within the size limit.
        self.text_in = _UNLIMITED
        #: An inbound binary frame of at most this many bytes is within the size limit.
        self.bytes_in = _UNLIMITED
        #: An outbound text frame of at most this many characters is within the send limit.
        self.text_out = _UNLIMITED
        #: An outbound binary frame of at most this many bytes is within the send limit.
        self.bytes_out = _UNLIMITED
        #: Called with the connection when ``receive``/``send`` open or shut, or a threshold
        #: changes (see :meth:`watch`).
        self.watchers: tuple[Callable[[WebSocket], object], ...] = ()

    @staticmethod
    def of(conn: object, *methods: str) -> Port | None:
        """The port of ``conn`` if it is a :class:`WebSocket` whose ``methods`` are its own.

        A subclass that overrides one of the methods a caller inlines must get its own code
        called instead: it has no port, for that caller.
        """
        if not isinstance(conn, WebSocket):
            return None
        cls = type(conn)
        if any(getattr(cls, name) is not getattr(WebSocket, name) for name in methods):
            return None
        return conn._port

    def watch(self, watcher: Callable[[WebSocket], object]) -> None:
        """Call ``watcher(ws)`` whenever the fast path opens or shuts, or a threshold changes.

        The hub sends to idle connections straight through the server's ``send``; this keeps
        its lists of such connections exact without a check per delivery. A watcher that
        raises is logged and does not stop the others.
        """
        self.watchers = (*self.watchers, watcher)

    def unwatch(self, watcher: Callable[[WebSocket], object]) -> None:
        """Stop calling ``watcher`` (a watcher not watching is ignored)."""
        self.watchers = tuple(w for w in self.watchers if w != watcher)

    @staticmethod
    def unusual(ws: WebSocket, message: Message) -> NoReturn:
        """Handle a message other than ``websocket.receive`` that ``ws``'s port received, as
        the checked path does.

        Raises:
            WebSocketDisconnect: The client left (the connection has ended).
            RemoteProtocolError: The server broke the ASGI sequence (the connection has ended).
        """
        ws._unusual(message)

    @staticmethod
    async def check_size(ws: WebSocket, message: Message) -> None:
        """Measure a frame ``ws`` received over its threshold exactly; over the limit, close
        with 1009.

        Raises:
            MessageTooBig: The frame is over ``Limits.max_message_size`` (closed with 1009).
        """
        await ws._check_size(message)

    @staticmethod
    def transport_lost(ws: WebSocket) -> WebSocketDisconnect:
        """End ``ws`` after its server's ``send`` raised ``OSError``.

        Returns:
            The ``WebSocketDisconnect(1006)`` to raise, as the checked path does.
        """
        return ws._transport_lost()


def _call_safely(callback: Callable[[WebSocket], object], ws: WebSocket, what: str) -> None:
    try:
        callback(ws)
    except Exception:
        logger.exception("%s %r failed", what, callback)


class WebSocket(Conveniences, HTTPConnection):
    """One ASGI WebSocket connection.

    Args:
        scope: The ASGI connection scope (``scope["type"] == "websocket"``).
        receive: The ASGI receive callable.
        send: The ASGI send callable.
        codec: How ``send_data`` encodes non-string values and how ``receive(tp)`` decodes
            frames of the codec's kind (JSON in text frames by default; text frames always
            decode as JSON and binary frames as MessagePack unless the codec is of that kind).
        limits: Size limits and default deadlines.

    The Starlette-compatible surface (``url``, ``headers``, ``query_params``, ``path_params``,
    ``cookies``, ``client``, ``state``, mapping access to the scope) comes from Starlette's
    ``HTTPConnection``.
    """

    # Set on first use only. CPython 3.11 keeps an instance's attributes in a compact array,
    # which the specialised attribute loads of the hot path rely on, only while the class has at
    # most 30 attribute names: __init__ sets 16, Starlette's lazy properties (url, base_url,
    # headers, query_params, cookies, state) add 6. Keep it that way (a test in
    # tests/test_connection_lifecycle.py counts them).
    _closed_event: anyio.Event | None = None

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        codec: Codec = JSON,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(f"WebSocket needs a 'websocket' scope, got {scope.get('type')!r}")
        self.scope = scope
        self._receive = receive
        self._send = send
        #: The fast path's port (see :class:`Port`), for the connection's whole life.
        self._port = Port()
        self._recv_state = _CONNECTING
        self._app_state = _CONNECTING
        self._closing = False
        #: Close callbacks; ``None`` once the connection has ended.
        self._callbacks: list[Callable[[WebSocket], object]] | None = []
        #: The close code that ended the connection (the client's, or the application's own).
        self.close_code: int | None = None
        #: The close reason that ended the connection.
        self.close_reason: str | None = None
        #: The subprotocol sent with the accept, once accepted.
        self.subprotocol: str | None = None
        self.limits = limits
        self.codec = codec

    # -- configuration --------------------------------------------------------------------------

    @property
    def codec(self) -> Codec:
        """The codec of ``send_data``/``receive(tp)``; settable until the connection is open."""
        return self._codec

    @codec.setter
    def codec(self, codec: Codec) -> None:
        if self._app_state is not _CONNECTING:
            raise InvalidTransition(self._app_state.name, "set codec", SEND, "set it before accept")
        self._codec = codec
        # Hot-path caches. send_data calls the codec's encoder directly (one Python call less
        # per message) unless a subclass overrides Codec.encode; receive(tp) keeps the casts
        # and decoders of the last type it was given, so a loop over one type looks them up once.
        self._encode: Callable[[Any], bytes] = codec.encoder
        self._encode_binary = codec.binary
        self._typed = NO_TYPE

    @property
    def limits(self) -> Limits:
        """The connection's :class:`Limits`."""
        return self._limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self._limits = limits
        port = self._port
        inbound, outbound = limits.max_message_size, limits.max_send_size
        thresholds = (
            _UNLIMITED if inbound is None else inbound // 4,
            _UNLIMITED if inbound is None else inbound,
            _UNLIMITED if outbound is None else outbound // 4,
            _UNLIMITED if outbound is None else outbound,
        )
        if thresholds != (port.text_in, port.bytes_in, port.text_out, port.bytes_out):
            port.text_in, port.bytes_in, port.text_out, port.bytes_out = thresholds
            if port.send is not None:
                self._tell_watchers()  # lists kept with the old thresholds are stale
        self._refresh()

    def _refresh(self) -> None:
        """Open or shut the fast path after a state, limits or closing change."""
        limits = self._limits
        self._set_fast(
            self._app_state is _CONNECTED
            and self._recv_state is _CONNECTED
            and not self._closing
            and limits.receive_timeout is None
            and limits.send_timeout is None
        )

    def _set_fast(self, fast: bool) -> None:
        port = self._port
        if fast is (port.send is not None):
            return
        if fast:
            port.receive, port.send = self._receive, self._send
        else:
            port.receive = port.send = None
        self._tell_watchers()

    def _tell_watchers(self) -> None:
        for watcher in self._port.watchers:
            _call_safely(watcher, self, "fast-path watcher")

    # -- state (Starlette names) ----------------------------------------------------------------

    @property
    def client_state(self) -> State:
        """The receive side's state (Starlette's ``WebSocketState``)."""
        return self._recv_state

    @property
    def application_state(self) -> State:
        """The send side's state (Starlette's ``WebSocketState``)."""
        return self._app_state

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (either side closed, or the transport broke)."""
        return self._callbacks is None

    def add_close_callback(self, callback: Callable[[WebSocket], object]) -> None:
        """Call ``callback(ws)`` once, when the connection ends on any path.

        Callbacks run synchronously, in the order they were added; an exception in one is logged
        and does not stop the others. Added after the end, the callback runs at once.
        """
        if self._callbacks is None:
            callback(self)
        else:
            self._callbacks.append(callback)

    async def wait_closed(self) -> None:
        """Wait until the connection has ended."""
        if self._callbacks is None:
            return
        if self._closed_event is None:
            self._closed_event = anyio.Event()
        await self._closed_event.wait()

    def _finish(self) -> None:
        """Mark the connection ended: both fast paths off, callbacks and waiters released."""
        self._set_fast(False)
        callbacks, self._callbacks = self._callbacks, None
        if callbacks is None:
            return
        for callback in callbacks:
            _call_safely(callback, self, "close callback")
        if self._closed_event is not None:
            self._closed_event.set()

    def _transport_lost(self) -> WebSocketDisconnect:
        self._recv_state = self._app_state = _DISCONNECTED
        if self.close_code is None:
            self.close_code = CloseCode.ABNORMAL_CLOSURE
        self._finish()
        return WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE)

    # -- receiving ------------------------------------------------------------------------------

    async def _next_event(self, timeout: float | None) -> Message:
        """Await the server's next message and apply it to the receive side."""
        state = self._recv_state
        if state is _DISCONNECTED:
            # Never await the server again: its receive may block forever after a disconnect.
            raise self._ended("receive", RECEIVE)
        port = self._port
        if port.receiving:
            raise ConcurrentReceive("another task is already receiving on this connection")
        if timeout is None:
            timeout = self._limits.receive_timeout
        port.receiving = True
        try:
            if timeout is None:
                message = await self._receive()
            else:
                with anyio.fail_after(timeout):
                    message = await self._receive()
        except TimeoutError:
            raise Timeout(f"no message within {timeout} seconds") from None
        finally:
            port.receiving = False
        event = message.get("type")
        try:
            self._recv_state = transition(RECEIVE, state, str(event))
        except InvalidTransition as exc:
            self._recv_state = _DISCONNECTED
            self._finish()
            raise RemoteProtocolError(f"the server broke the ASGI sequence: {exc}") from None
        if event == "websocket.disconnect":
            self._on_disconnect(message)
        elif event == "websocket.receive":
            await self._check_size(message)
        return message

    def _on_disconnect(self, message: Message) -> None:
        self._recv_state = _DISCONNECTED
        if self.close_code is None:
            self.close_code = message.get("code", CloseCode.NORMAL_CLOSURE)
            self.close_reason = message.get("reason") or ""
        self._finish()

    def _ended(self, event: str, side: str) -> ConnectionClosed:
        state = self._recv_state if side == RECEIVE else self._app_state
        name = state.name
        if self._recv_state is not self._app_state:  # name both sides when they differ
            name = f"{name} (client {self._recv_state.name}, application {self._app_state.name})"
        code = self.close_code or CloseCode.NORMAL_CLOSURE
        return ConnectionClosed(name, event, side, code, self.close_reason)

    def _unusual(self, message: Message) -> NoReturn:
        """Handle a message other than ``websocket.receive`` met on the fast path."""
        event = str(message.get("type"))
        if event == "websocket.disconnect":
            self._on_disconnect(message)
            raise WebSocketDisconnect(self.close_code or 1000, message.get("reason"))
        self._recv_state = _DISCONNECTED
        self._finish()
        raise RemoteProtocolError(
            f"the server broke the ASGI sequence: expected 'websocket.receive' or "
            f"'websocket.disconnect', got {event!r}"
        )

    async def _check_size(self, message: Message) -> None:
        port = self._port
        text = message.get("text")
        if text is not None:
            if len(text) > port.text_in:
                # More characters than the byte limit is too big for sure: refuse without
                # encoding (a copy of the whole message) just to measure it.
                size = len(text) if len(text) > port.bytes_in else utf8_size(text)
                if size > port.bytes_in:
                    await self._too_big(size)
        else:
            data = message.get("bytes")
            if data is not None and len(data) > port.bytes_in:
                await self._too_big(len(data))

    async def _too_big(self, size: int) -> NoReturn:
        limit = self._port.bytes_in
        with anyio.CancelScope(shield=True):
            await self.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
        raise MessageTooBig(size, limit)

    async def _receive_data(self, timeout: float | None) -> Message:
        """Receive the next data message (slow path), raising on a disconnect."""
        if self._recv_state is _DISCONNECTED or self._app_state is _DISCONNECTED:
            raise self._ended("websocket.receive", RECEIVE)
        if self._app_state is not _CONNECTED:
            raise WebSocketDisconnected(
                self._app_state.name, "websocket.receive", SEND, 'need to call "accept" first'
            )
        message = await self._next_event(timeout)
        if message["type"] != "websocket.receive":
            raise WebSocketDisconnect(self.close_code or 1000, message.get("reason"))
        return message

    @overload
    async def receive(self, *, timeout: float | None = None) -> Message: ...
    @overload
    async def receive(self, tp: type[T], timeout: float | None = None) -> T: ...
    @overload
    async def receive(self, tp: Any, timeout: float | None = None) -> Any: ...

    async def receive(self, tp: Any = _RAW, timeout: float | None = None) -> Any:
        """Receive the next ASGI message, or, given ``tp``, the next message as a ``tp``.

        Without ``tp`` this is Starlette's ``receive()``: the raw ASGI message, state checked.
        With ``tp``, the scalars ``str``, ``bytes``, ``int``, ``float`` and ``bool``, and their
        ``Literal`` and ``Optional`` forms, read the frame's content as the value itself, never
        quoted (``a``, ``42``, ``true``, ``null`` for ``None``): the table is in
        :mod:`wskit._casting`. Every other type is decoded by msgspec (text frames as JSON,
        binary frames as MessagePack, or by the connection's codec of that kind).

        Raises:
            TypeError: ``tp`` is not a type wskit can decode (before anything is received).
            DecodeError: The message is malformed (the connection stays open).
            ValidationError: The message does not fit ``tp``; ``path`` says where.
            WebSocketDisconnect: The client left.
            Timeout: Nothing arrived within ``timeout`` seconds.
        """
        typed = self._typed
        if typed[0] is not tp:
            if tp is _RAW:
                return await self._next_event(timeout)
            typed = self._typed_for(tp)
        port = self._port
        receive = port.receive  # a local call: LOAD_METHOD on an attribute does not specialise
        if receive is not None and timeout is None and not port.receiving:
            port.receiving = True
            try:
                message = await receive()
            finally:
                port.receiving = False
            if message["type"] != "websocket.receive":
                self._unusual(message)
        else:
            message = await self._receive_data(timeout)
        try:
            text = message["text"]  # a subscript is cheaper than .get() when it is there
        except KeyError:
            text = None
        try:
            if text is not None:
                decode = typed[1]  # Typed.text (an index: a named field is a slower lookup)
                if decode is not None and len(text) <= port.text_in:
                    return decode(text)
            else:
                decode = typed[2]  # Typed.binary
                data = message.get("bytes")
                if decode is not None and data is not None and len(data) <= port.bytes_in:
                    return decode(data)
        except DECODE_ERRORS as exc:
            raise translate_decode_error(exc) from None
        # A cast, a text frame that may be over the size limit, or a frame without data.
        await self._check_size(message)
        return typed.slow(message)

    def _typed_for(self, tp: object) -> Typed:
        """Build (and keep, for the next call) the plan of ``receive(tp)``."""
        self._typed = typed = plan(self._codec, tp)
        return typed

    async def receive_text(self, timeout: float | None = None) -> str:
        """Receive the next text frame.

        Raises:
            FrameTypeError: A binary frame arrived (it is consumed; the connection stays open).
            WebSocketDisconnect: The client left.
        """
        port = self._port
        receive = port.receive  # a local call: LOAD_METHOD on an attribute does not specialise
        if receive is not None and timeout is None and not port.receiving:
            port.receiving = True
            try:
                message = await receive()
            finally:
                port.receiving = False
            if message["type"] != "websocket.receive":
                self._unusual(message)
            try:
                text = message["text"]  # a subscript is cheaper than .get() when it is there
            except KeyError:
                text = None
            if text is not None and len(text) <= port.text_in:
                return text  # type: ignore[no-any-return]
            await self._check_size(message)
        else:
            message = await self._receive_data(timeout)
            text = message.get("text")
        if text is None:
            raise FrameTypeError("text", "bytes")
        return text  # type: ignore[no-any-return]

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """Receive the next binary frame.

        Raises:
            FrameTypeError: A text frame arrived (it is consumed; the connection stays open).
            WebSocketDisconnect: The client left.
        """
        port = self._port
        receive = port.receive  # a local call: LOAD_METHOD on an attribute does not specialise
        if receive is not None and timeout is None and not port.receiving:
            port.receiving = True
            try:
                message = await receive()
            finally:
                port.receiving = False
            if message["type"] != "websocket.receive":
                self._unusual(message)
            data = message.get("bytes")
            if data is not None and len(data) <= port.bytes_in:
                return data  # type: ignore[no-any-return]
            await self._check_size(message)
        else:
            message = await self._receive_data(timeout)
            data = message.get("bytes")
        if data is None:
            raise FrameTypeError("bytes", "text")
        return data  # type: ignore[no-any-return]

    # -- sending --------------------------------------------------------------------------------

    async def send(self, message: Message, *, timeout: float | None = None) -> None:
        """Send a raw ASGI message, after checking it against the connection's state.

        Accept, close and denial messages first read the ``websocket.connect`` event if it has
        not been read. Nothing is sent to a client that has left: ``websocket.send`` raises
        ``WebSocketDisconnect`` and a close does nothing.

        Raises:
            InvalidTransition: The message is not legal in the current state (nothing is sent).
            WebSocketDisconnected: The connection was already closed.
            WebSocketDisconnect: The client left, or the server's ``send`` raised ``OSError``.
            MessageTooBig: A data message is over ``Limits.max_send_size``.
        """
        event = send_event(message)
        if (
            self._app_state is _CONNECTING
            and self._recv_state is _CONNECTING
            and event in ("websocket.accept", "websocket.close", "websocket.http.response.start")
        ):
            await self._next_event(None)
        state = self._app_state
        if state is _DISCONNECTED:
            raise self._ended(event, SEND)
        if self._recv_state is _DISCONNECTED and state is not _RESPONSE:
            # The client has left: nothing more goes to the server. A close is already done.
            if event == "websocket.close":
                self._app_state = _DISCONNECTED
                self._finish()
                return
            raise self._ended(event, SEND)
        new_state = transition(SEND, state, event)
        self._validate(event, message)
        self._app_state = new_state
        if event == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            live = (self.scope.get("extensions") or {}).get(LIVE_EXTENSION)
            if live is not None:
                live.add(self)
        elif event == "websocket.close":
            self._closing = True
            if self.close_code is None:
                self.close_code = message.get("code", 1000)
                self.close_reason = message.get("reason") or ""
        self._refresh()
        # TimeoutError is an OSError: track the deadline with a scope, so that the server's own
        # OSError (a TimeoutError included) is a lost transport and only ours is a Timeout.
        deadline = None
        try:
            if timeout is None:
                timeout = self._limits.send_timeout
            if timeout is None:
                await self._send(message)
            else:
                with anyio.move_on_after(timeout) as deadline:
                    await self._send(message)
        except OSError:
            raise self._transport_lost() from None
        finally:
            if new_state is _DISCONNECTED:
                self._finish()
        if deadline is not None and deadline.cancelled_caught:
            raise Timeout(f"the server did not take the message within {timeout} seconds")

    def _validate(self, event: str, message: Message) -> None:
        if event == "websocket.send":
            text, data = message.get("text"), message.get("bytes")
            if text is not None:
                if not isinstance(text, str) or data is not None:
                    raise TypeError("'websocket.send' needs exactly one of text (str) or bytes")
                port, size = self._port, len(text)
                if size > port.text_out and (size := utf8_size(text)) > port.bytes_out:
                    raise MessageTooBig(size, port.bytes_out, "outbound")
            elif isinstance(data, bytes | bytearray | memoryview):
                if len(data) > self._port.bytes_out:
                    raise MessageTooBig(len(data), self._port.bytes_out, "outbound")
            else:
                raise TypeError("'websocket.send' needs exactly one of text (str) or bytes")
        elif event == "websocket.close":
            message["reason"] = check_close(message.get("code", 1000), message.get("reason"))
        elif event == "websocket.accept":
            subprotocol = message.get("subprotocol")
            offered = self.scope.get("subprotocols") or ()
            if subprotocol is not None and subprotocol not in offered:
                raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")

    async def send_text(self, data: str, timeout: float | None = None) -> None:
        """Send a text frame."""
        port = self._port
        send = port.send
        if (
            send is not None
            and timeout is None
            and type(data) is str
            and len(data) <= port.text_out
        ):
            try:
                await send({"type": "websocket.send", "text": data})
            except OSError:
                raise self._transport_lost() from None
            return
        if not isinstance(data, str):
            raise TypeError(f"send_text needs a str, got {type(data).__name__}")
        await self.send({"type": "websocket.send", "text": data}, timeout=timeout)

    async def send_bytes(
        self, data: bytes | bytearray | memoryview, timeout: float | None = None
    ) -> None:
        """Send a binary frame."""
        port = self._port
        send = port.send
        if (
            send is not None
            and timeout is None
            and type(data) is bytes
            and len(data) <= port.bytes_out
        ):
            try:
                await send({"type": "websocket.send", "bytes": data})
            except OSError:
                raise self._transport_lost() from None
            return
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes needs bytes, got {type(data).__name__}")
        await self.send({"type": "websocket.send", "bytes": bytes(data)}, timeout=timeout)

    async def send_frame(self, frame: str | bytes, timeout: float | None = None) -> None:
        """Send a pre-encoded frame: a ``str`` as a text frame, ``bytes`` (or a ``bytearray``
        or ``memoryview``, converted) as a binary frame.

        Raises:
            TypeError: ``frame`` is neither ``str`` nor bytes-like (nothing is sent).
        """
        port = self._port
        send = port.send
        if send is not None and timeout is None:
            # Only str and bytes themselves: a bytearray or memoryview is converted below, and
            # anything else refused.
            cls = type(frame)
            if cls is str:
                if len(frame) <= port.text_out:
                    try:
                        await send({"type": "websocket.send", "text": frame})
                    except OSError:
                        raise self._transport_lost() from None
                    return
            elif cls is bytes and len(frame) <= port.bytes_out:
                try:
                    await send({"type": "websocket.send", "bytes": frame})
                except OSError:
                    raise self._transport_lost() from None
                return
        if isinstance(frame, str):
            await self.send({"type": "websocket.send", "text": frame}, timeout=timeout)
        elif isinstance(frame, bytes | bytearray | memoryview):
            await self.send({"type": "websocket.send", "bytes": bytes(frame)}, timeout=timeout)
        else:
            raise TypeError(f"send_frame needs str or bytes, got {type(frame).__name__}")

    async def send_data(self, value: object, timeout: float | None = None) -> None:
        """Send ``value``: ``str`` as a text frame, ``bytes`` as binary, else through the codec.

        Raises:
            TypeError: The codec cannot encode ``value`` (nothing is sent).
        """
        cls = type(value)
        if cls is str or cls is bytes:
            # A ready frame: send_frame's fast path, at one coroutine frame more. Inlining it here
            # too was measured: it costs the codec path (the typed hot path) 20-40 ns a message.
            await self.send_frame(value, timeout)  # type: ignore[arg-type]
            return
        encode = self._encode
        data = encode(value)
        port = self._port
        send = port.send
        if send is not None and timeout is None and len(data) <= port.bytes_out:
            try:
                if self._encode_binary:
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "text": data.decode()})
            except OSError:
                raise self._transport_lost() from None
            return
        await self.send_frame(data if self._encode_binary else data.decode(), timeout)

    # -- closing --------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection with ``code`` and ``reason``; before accept, reject it (HTTP 403).

        Idempotent: closing a closed connection, or one whose client left, sends nothing.
        Concurrent calls send one close frame.

        Raises:
            ValueError: ``code`` is not one an application may send, or ``reason`` is over 123
                UTF-8 bytes (nothing is sent).
        """
        reason = check_close(code, reason)
        if self._closing or self._app_state is _DISCONNECTED or self._app_state is _RESPONSE:
            return
        try:
            await self.send({"type": "websocket.close", "code": code, "reason": reason})
        except WebSocketDisconnect:
            pass  # the transport broke while closing: the connection is closed all the same

    async def finish_close(self, timeout: float | None = None) -> None:
        """After the application closed, read and drop what the client still sends until the
        server reports the disconnect.

        A server keeps a connection (its stream, its task, the messages queued for the
        application) until the application has read the disconnect; a client that keeps
        sending after the close can otherwise pin them (hypercorn's queue then blocks forever).
        The App, the Starlette route and ``async with ws:`` call this when a handler ends on a
        close of its own; a handler that closes and returns on its own may call it too.

        Does nothing unless the application has closed and the client has not left, or while
        another task is receiving (that task sees the disconnect).

        Args:
            timeout: At most this many seconds (default: ``Limits.close_timeout``); after it
                the connection is left to the server.
        """
        port = self._port
        if (
            self._app_state is not _DISCONNECTED
            or self._recv_state is _DISCONNECTED
            or port.receiving
        ):
            return
        receive = self._receive
        port.receiving = True
        try:
            with anyio.move_on_after(self._limits.close_timeout if timeout is None else timeout):
                while (await receive()).get("type") != "websocket.disconnect":
                    pass
        except Exception as exc:  # the server broke down: nothing more to read either way
            logger.debug("finishing the close of %r: %r", self.scope.get("path", ""), exc)
        finally:
            port.receiving = False
            self._recv_state = _DISCONNECTED

    def __repr__(self) -> str:
        path = self.scope.get("path", "")
        return (
            f"<WebSocket {path!r} client={self._recv_state.name} "
            f"application={self._app_state.name} close_code={self.close_code}>"
        )
