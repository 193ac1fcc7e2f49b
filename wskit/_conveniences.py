"""What :class:`~wskit.connection.WebSocket` offers on top of its primitives.

Starlette's JSON helpers (``receive_json``, ``send_json``, byte for byte what Starlette sends),
the iterators, ``pair``/``expect``, the handshake's answers (``accept``, ``deny``,
``send_denial_response``) and ``async with ws:``. Every method here is built on the
connection's public methods (``receive``, ``receive_text``, ``send``, ``close``...), so none of
them changes the connection's state itself: that is :mod:`wskit.connection`'s alone (h11's
rule). ``WebSocket`` inherits them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

import anyio
import msgspec

from ._outcome import INTERNAL_ERROR, client_fault, is_disconnect, log_client_fault
from ._state import BODY
from .codecs import DECODE_ERRORS, translate_decode_error
from .exceptions import UnexpectedMessage, WebSocketDisconnect
from .status import CloseCode, reason_for

if TYPE_CHECKING:
    from types import TracebackType

    from starlette.responses import Response

    from ._types import Message, Scope
    from .limits import Limits

__all__ = ["Conveniences"]

T = TypeVar("T")

_JSON_ENCODE: Final = msgspec.json.Encoder().encode
_JSON_DECODE: Final = msgspec.json.Decoder().decode
# msgspec writes exponents as "1e16"/"1e-7", the stdlib as "1e+16"/"1e-07", and numbers in
# [1e-5, 1e-4) as "0.00001" where the stdlib writes "1e-05": when the output may hold such a
# number, fall back to the stdlib for Starlette's exact bytes.
_EXPONENT: Final = re.compile(rb"[0-9][eE][+-]?[0-9]|0\.0000[1-9]")


class Conveniences:
    """The methods of :class:`~wskit.connection.WebSocket` built on its primitives."""

    if TYPE_CHECKING:  # the primitives, defined by WebSocket
        scope: Scope
        subprotocol: str | None

        @property
        def limits(self) -> Limits: ...

        receive: Any  # overloaded: the raw ASGI message, or the next message as a type

        async def receive_text(self, timeout: float | None = None) -> str: ...
        async def receive_bytes(self, timeout: float | None = None) -> bytes: ...
        async def send(self, message: Message, *, timeout: float | None = None) -> None: ...
        async def send_text(self, data: str, timeout: float | None = None) -> None: ...
        async def send_bytes(self, data: bytes, timeout: float | None = None) -> None: ...
        async def send_data(self, value: object, timeout: float | None = None) -> None: ...
        async def close(self, code: int = 1000, reason: str | None = None) -> None: ...
        async def finish_close(self, timeout: float | None = None) -> None: ...

    # -- JSON and iteration ---------------------------------------------------------------------

    async def receive_json(self, mode: str = "text", *, timeout: float | None = None) -> Any:
        """Receive the next message as JSON, from a text frame or (``mode="binary"``) bytes.

        Raises:
            RuntimeError: ``mode`` is neither ``"text"`` nor ``"binary"`` (as Starlette).
            FrameTypeError: A frame of the other kind arrived (it is consumed).
            DecodeError: The message is not valid JSON (a ``ValueError``, as ``json.loads``').
        """
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        if mode == "text":
            data: str | bytes = await self.receive_text(timeout)
        else:
            data = await self.receive_bytes(timeout)
        try:
            return _JSON_DECODE(data)
        except DECODE_ERRORS as exc:
            raise translate_decode_error(exc) from None

    async def iter_text(self) -> AsyncGenerator[str, None]:
        """Yield text frames until the client leaves (``close_code`` stays readable)."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        """Yield binary frames until the client leaves (``close_code`` stays readable)."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self) -> AsyncGenerator[Any, None]:
        """Yield JSON messages until the client leaves (``close_code`` stays readable)."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    async def iter_data(self, tp: type[T]) -> AsyncGenerator[T, None]:
        """Yield messages decoded as ``tp`` until the client leaves.

        A message that does not decode raises out of the iterator; iterate again to go on.
        """
        try:
            while True:
                yield await self.receive(tp)
        except WebSocketDisconnect:
            pass

    async def send_json(
        self, data: Any, mode: str = "text", *, timeout: float | None = None
    ) -> None:
        """Send ``data`` as compact JSON, byte for byte what Starlette's ``send_json`` sends.

        Finite numbers, strings, lists and dicts encode exactly as ``json.dumps(data,
        separators=(",", ":"), ensure_ascii=False)``; msgspec also encodes dataclasses, Structs,
        datetimes and UUIDs. NaN and infinities are not JSON: msgspec sends them as ``null``,
        except in a message that also holds a float written with an exponent, which takes the
        stdlib path and gets Starlette's ``NaN``/``Infinity`` tokens. Send finite numbers.
        """
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        out = _JSON_ENCODE(data)
        if _EXPONENT.search(out) is not None:
            out = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        if mode == "text":
            await self.send_text(out.decode(), timeout=timeout)
        else:
            await self.send_bytes(out, timeout=timeout)

    # -- pairs ----------------------------------------------------------------------------------

    async def pair(
        self,
        message: object,
        *,
        tp: Any = str,
        recv_first: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Send ``message`` and receive a ``tp`` (or receive first, with ``recv_first``).

        Returns:
            The value received.
        """
        if recv_first:
            value = await self.receive(tp, timeout=timeout)
            await self.send_data(message, timeout=timeout)
            return value
        await self.send_data(message, timeout=timeout)
        return await self.receive(tp, timeout=timeout)

    async def expect(self, message: object, *, timeout: float | None = None) -> None:
        """Receive the next message and check that it equals ``message``.

        The message is decoded as ``type(message)`` and consumed either way.

        Raises:
            UnexpectedMessage: Something else arrived.
        """
        received = await self.receive(type(message), timeout=timeout)
        if received != message:
            raise UnexpectedMessage(message, received)

    # -- the handshake's answers ----------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Accept the handshake, reading the ``websocket.connect`` event first if needed.

        Without ``subprotocol``, the one already chosen in ``self.subprotocol`` (by the App's
        subprotocol policy, for instance) is sent.

        Raises:
            InvalidTransition: The connection was already accepted or rejected.
            ValueError: ``subprotocol`` is not one the client offered.
            WebSocketDisconnect: The client left before the handshake finished.
        """
        if subprotocol is None:
            subprotocol = self.subprotocol  # chosen before accept, e.g. by the App's policy
        await self.send(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers or ())}
        )

    async def deny(
        self,
        status: int = 403,
        headers: Mapping[str, str] | Iterable[tuple[bytes, bytes]] | None = None,
        body: bytes | str = b"",
    ) -> None:
        """Refuse the handshake with an HTTP response.

        Uses the ``websocket.http.response`` ASGI extension where the server supports it, and
        falls back to a close before accept, which servers answer with HTTP 403.
        """
        if isinstance(body, str):
            body = body.encode()
        if "websocket.http.response" not in (self.scope.get("extensions") or {}):
            await self.close(CloseCode.POLICY_VIOLATION, f"refused: HTTP {status}")
            return
        if isinstance(headers, Mapping):
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        else:
            raw = list(headers or ())
        names = {name.lower() for name, _ in raw}
        if body and b"content-type" not in names:
            raw.append((b"content-type", b"text/plain; charset=utf-8"))
        if b"content-length" not in names:
            raw.append((b"content-length", str(len(body)).encode()))
        await self.send({"type": "websocket.http.response.start", "status": status, "headers": raw})
        await self.send({"type": BODY, "body": body, "more_body": False})

    async def send_denial_response(self, response: Response) -> None:
        """Send a Starlette ``Response`` as the handshake's denial (Starlette's method).

        Raises:
            RuntimeError: The server does not support the denial-response extension.
        """
        if "websocket.http.response" in (self.scope.get("extensions") or {}):
            await response(self.scope, self.receive, self.send)
        else:
            raise RuntimeError(
                "The server doesn't support the Websocket Denial Response extension."
            )

    # -- context manager ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Accept the handshake (``subprotocol`` from ``self.subprotocol`` if one was chosen)."""
        await self.accept()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Close on the way out: 1000 normally, a client fault's code, 1011 on a server error.

        The client leaving (``WebSocketDisconnect``) is a normal end, and a client fault (a
        wskit error with a client-side close code, such as an uncaught ``ValidationError``) is
        closed with its code and reason and logged once (WARNING, no traceback): neither is
        re-raised. Any other exception closes with 1011 "internal error" and is re-raised
        *without* being logged: whoever stops it logs it once (the App, the Starlette route, or
        the ASGI server of a bare app). Cancellation closes with 1001, never 1011.
        """
        if exc is None:
            await self.close(CloseCode.NORMAL_CLOSURE)
            await self.finish_close()
            return False
        if is_disconnect(exc):
            await self.finish_close()  # a disconnect of ours (a guard's close): read the rest
            return True
        handled = False
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
        if cancelled:
            code, reason = int(CloseCode.GOING_AWAY), reason_for(CloseCode.GOING_AWAY)
        else:
            fault = client_fault(exc)
            if fault is None:
                code, reason = INTERNAL_ERROR
            else:
                log_client_fault(exc, fault, self.scope)
                (code, reason), handled = fault, True
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.limits.close_timeout):
            await self.close(code, reason)
            if not cancelled:
                await self.finish_close()
        return handled
