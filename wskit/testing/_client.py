"""The in-memory :class:`TestClient`: WebSocket connections, plain HTTP requests and lifespan.

Each call runs the application in its own anyio task group, in the caller's event loop (asyncio
or trio): no thread, no socket, no server. Every wait is bounded by the client's ``timeout``
(5 s times ``WSKIT_TESTS_TIMEOUT_FACTOR`` by default), so a broken application makes a test fail
with :class:`~wskit.exceptions.Timeout` instead of hanging.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.lowlevel
from starlette.datastructures import Headers

from wskit._types import Message
from wskit.exceptions import Timeout

from ._common import (
    HeadersLike,
    HTTPResponse,
    LifespanError,
    QueryLike,
    build_scope,
    check_headers,
    format_seconds,
    timeout_factor,
)
from ._websocket import WebSocketTestSession, open_session

if TYPE_CHECKING:
    from wskit._types import ASGIApp, ExcInfo, Scope

__all__ = ["TestClient"]

# RFC 6455 section 4.1: the client's nonce is 16 random bytes, base64-encoded. Tests want
# reproducible scopes, so this is the sample nonce of section 1.3.
_WEBSOCKET_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


class TestClient:
    """An in-memory client for any ASGI application, for tests on asyncio or trio.

    ``async with TestClient(app) as client:`` runs the ASGI lifespan protocol (startup on enter,
    shutdown on exit) when the application speaks it. An application that raises or returns on
    the lifespan scope before sending any lifespan message is taken as not supporting it, as
    uvicorn's ``lifespan="auto"`` does; once it has sent one, its exceptions are re-raised.
    When the body of the block raises, shutdown still runs, and a shutdown failure is added
    to the body's exception as a note. :meth:`websocket_connect` and :meth:`http` also work without
    entering the client (then no lifespan runs).

    Args:
        app: The ASGI application under test.
        timeout: The default bound, in seconds, on every wait: a receive, the handshake, the
            application finishing after a close, a lifespan phase, an HTTP request. It is
            multiplied by ``WSKIT_TESTS_TIMEOUT_FACTOR``. Per-call ``timeout=`` arguments are
            taken as given.
        max_queue: How many messages each direction of a WebSocket buffers before the sender
            waits, so a misbehaving application cannot use unbounded memory.

    Attributes:
        app: The application.
        timeout: The effective default timeout (after the factor).
        lifespan_supported: ``True`` when the lifespan startup completed, ``False`` when the
            application does not speak lifespan, ``None`` outside ``async with``.
        lifespan_state: The lifespan ``state`` dictionary; each connection's scope gets a
            shallow copy (the ASGI lifespan-state extension).
    """

    __test__ = False  # not a test class, whatever pytest's name patterns say

    def __init__(self, app: ASGIApp, *, timeout: float = 5.0, max_queue: int = 64) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue!r}")
        self.app = app
        self.timeout = timeout * timeout_factor()
        self.max_queue = max_queue
        self.lifespan_supported: bool | None = None
        self.lifespan_state: dict[str, Any] = {}
        self._lifespan: contextlib.AbstractAsyncContextManager[None] | None = None

    def __repr__(self) -> str:
        return f"<TestClient app={self.app!r} timeout={format_seconds(self.timeout)}>"

    async def __aenter__(self) -> TestClient:
        if self._lifespan is not None:
            raise RuntimeError("this TestClient is already entered")
        lifespan = _run_lifespan(self)
        await lifespan.__aenter__()
        self._lifespan = lifespan
        return self

    async def __aexit__(self, *exc_info: *ExcInfo) -> bool | None:
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is None:
            raise RuntimeError("this TestClient was not entered")
        return await lifespan.__aexit__(*exc_info)

    def websocket_connect(
        self,
        path: str = "/",
        *,
        headers: HeadersLike | None = None,
        subprotocols: Sequence[str] | None = None,
        query_string: QueryLike = "",
        scheme: Literal["ws", "wss"] = "ws",
        client: tuple[str, int] | None = ("testclient", 50000),
        denial_response: bool = True,
    ) -> contextlib.AbstractAsyncContextManager[WebSocketTestSession]:
        """Open a WebSocket connection to the application: use it with ``async with``.

        The application gets a complete ASGI ``websocket`` scope and ``websocket.connect``. On
        entering, the client waits for the handshake. On leaving, it sends
        ``websocket.disconnect`` (code 1000) if the connection is still open, waits for the
        application to finish, and re-raises its exception, except
        ``WebSocketDisconnect`` (Starlette's or wskit's) and :class:`ClientDisconnected`
        escaping after the handshake: those only say the client left. When the body of the
        block raises, the application is cancelled at once and the body's exception propagates
        (the application's own exception instead, if it had raised one).

        Args:
            path: The request path, optionally with ``?query``.
            headers: Extra request headers (a name given here replaces the default one).
            subprotocols: Subprotocols to offer (``sec-websocket-protocol``).
            query_string: The query string, if not in ``path``.
            scheme: ``"ws"`` or ``"wss"``.
            client: The client address in the scope.
            denial_response: Offer the ``websocket.http.response`` extension.

        Raises:
            WebSocketDenied: On entering, if the application refused the handshake: a close
                before accept (403), a denial response, or returning without answering (500).
            Timeout: If the application neither accepts nor refuses in time.
            Exception: The application's exception, if it raised before answering.
        """
        state = self.lifespan_state
        defaults = [
            (b"connection", b"upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-key", _WEBSOCKET_KEY),
            (b"sec-websocket-version", b"13"),
        ]
        offered = list(subprotocols or ())
        if offered:
            defaults.append((b"sec-websocket-protocol", ", ".join(offered).encode()))
        scope = build_scope(
            "websocket", path, query_string, scheme, headers, defaults, client, state
        )
        scope["subprotocols"] = offered
        scope["extensions"] = {"websocket.http.response": {}} if denial_response else {}
        return open_session(
            self.app,
            scope,
            timeout=self.timeout,
            max_queue=self.max_queue,
            denial_response=denial_response,
        )

    async def http(
        self,
        method: str = "GET",
        path: str = "/",
        headers: HeadersLike | None = None,
        body: bytes | str = b"",
        *,
        query_string: QueryLike = "",
        scheme: Literal["http", "https"] = "http",
        client: tuple[str, int] | None = ("testclient", 50000),
        timeout: float | None = None,
    ) -> HTTPResponse:
        """Send one plain HTTP request through the application and return its response.

        The whole body is delivered in one ``http.request``; the next ``receive`` returns
        ``http.disconnect`` once the response is complete. The client waits for the application
        to return (so background work after the response is included).

        Args:
            method: The HTTP method.
            path: The request path, optionally with ``?query``.
            headers: Extra request headers.
            body: The request body (text is UTF-8 encoded); sets ``content-length``.
            query_string: The query string, if not in ``path``.
            scheme: ``"http"`` or ``"https"``.
            client: The client address in the scope.
            timeout: The bound on the whole exchange; the client's default when ``None``.

        Returns:
            The response. An application that returns without starting one gets status 500
            and an empty body, as an ASGI server would answer.

        Raises:
            Timeout: If the application has not returned in time.
            Exception: The application's exception, if it raised.
        """
        payload = body.encode() if isinstance(body, str) else body
        state = self.lifespan_state
        defaults = [(b"content-length", str(len(payload)).encode())] if payload else []
        scope = build_scope("http", path, query_string, scheme, headers, defaults, client, state)
        scope["method"] = method.upper()
        scope["extensions"] = {}
        return await _HTTPExchange(self.app, scope, payload).run(
            self.timeout if timeout is None else timeout
        )


class _HTTPExchange:
    """One HTTP request and its response, checked against the ASGI HTTP sequence."""

    def __init__(self, app: ASGIApp, scope: Scope, body: bytes) -> None:
        self.app = app
        self.scope = scope
        self.body = body
        self.request_sent = False
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.complete = anyio.Event()
        self.done = anyio.Event()
        self.error: Exception | None = None

    async def run(self, timeout: float) -> HTTPResponse:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._run_app)
            with anyio.move_on_after(timeout):
                await self.done.wait()
            timed_out = not self.done.is_set()
            tg.cancel_scope.cancel()
        if timed_out:
            what = "returned" if self.complete.is_set() else "completed its response"
            raise Timeout(f"the application has not {what} within {format_seconds(timeout)}")
        if self.error is not None:
            raise self.error
        if self.status is None:
            return HTTPResponse(500, Headers(), b"")
        return HTTPResponse(self.status, Headers(raw=self.headers), b"".join(self.chunks))

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope, self._receive, self._send)
        except Exception as exc:
            self.error = exc
        finally:
            self.done.set()

    async def _receive(self) -> Message:
        if not self.request_sent:
            self.request_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.complete.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if self.complete.is_set():
            raise RuntimeError(f"cannot send {kind!r}: the response is already complete")
        if self.status is None and kind == "http.response.start":
            status = message.get("status")
            if not isinstance(status, int):
                raise TypeError("'http.response.start' needs an int 'status'")
            self.headers = check_headers("http.response.start", message)
            self.status = status
        elif self.status is not None and kind == "http.response.body":
            body = message.get("body", b"")
            if not isinstance(body, bytes):
                raise TypeError("'http.response.body' needs bytes in 'body'")
            self.chunks.append(body)
            if not message.get("more_body", False):
                self.complete.set()
        else:
            expected = "http.response.start" if self.status is None else "http.response.body"
            raise RuntimeError(f"cannot send {kind!r}: expected {expected!r}")
        await anyio.lowlevel.checkpoint()


@contextlib.asynccontextmanager
async def _run_lifespan(client: TestClient) -> AsyncIterator[None]:
    """Run the lifespan protocol around the block, if the application speaks it."""
    runner = _Lifespan(client)
    with runner.to_app, runner.app_inbox, runner.app_outbox, runner.from_app:
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run_app)
            try:
                client.lifespan_supported = await runner.startup()
            except Exception as exc:
                error = exc
            else:
                try:
                    yield
                except Exception as exc:
                    error = exc
                error = await runner.shutdown(error)
            finally:
                tg.cancel_scope.cancel()
                client.lifespan_supported = None
        if error is not None:
            raise error


class _Lifespan:
    """The server side of the ASGI lifespan protocol for one ``async with TestClient``."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.timeout = client.timeout
        self.to_app, self.app_inbox = anyio.create_memory_object_stream[Message](2)
        self.app_outbox, self.from_app = anyio.create_memory_object_stream[Message](2)
        self.expected: tuple[str, ...] = ("lifespan.startup.complete", "lifespan.startup.failed")
        self.done = anyio.Event()
        self.error: Exception | None = None
        self.spoke = False  # the application sent a lifespan message: it speaks lifespan
        client.lifespan_state.clear()
        self.scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": client.lifespan_state,
        }

    async def run_app(self) -> None:
        try:
            await self.client.app(self.scope, self.app_inbox.receive, self.send)
        except Exception as exc:
            self.error = exc
        finally:
            self.app_outbox.close()
            self.done.set()

    async def send(self, message: Message) -> None:
        self.spoke = True
        kind = message.get("type")
        if kind not in self.expected:
            expected = " or ".join(repr(name) for name in self.expected)
            raise RuntimeError(f"cannot send {kind!r} now: expected {expected}")
        self.expected = ()
        await self.app_outbox.send(message)

    async def _answer(self, phase: str) -> Message | None:
        """Wait for the application's answer to ``phase``; ``None`` if it returned instead."""
        with anyio.move_on_after(self.timeout):
            try:
                return await self.from_app.receive()
            except anyio.EndOfStream:
                return None
        raise Timeout(f"lifespan {phase} did not complete within {format_seconds(self.timeout)}")

    async def startup(self) -> bool:
        self.to_app.send_nowait({"type": "lifespan.startup"})
        message = await self._answer("startup")
        if message is None:
            if self.spoke and self.error is not None:
                raise self.error  # it sent a lifespan message, then failed: a real error
            # It raised or returned without a word: lifespan is not supported (uvicorn's "auto").
            return False
        if message["type"] == "lifespan.startup.failed":
            raise LifespanError("startup", message.get("message", ""))
        return True

    async def shutdown(self, body_error: Exception | None) -> Exception | None:
        if not self.client.lifespan_supported:
            return body_error
        error: Exception | None
        try:
            error = await self._shutdown()
        except Exception as exc:
            error = exc
        if body_error is None:
            return error
        if error is not None:
            body_error.add_note(f"lifespan shutdown also failed: {error!r}")
        return body_error

    async def _shutdown(self) -> Exception | None:
        self.expected = ("lifespan.shutdown.complete", "lifespan.shutdown.failed")
        if not self.done.is_set():
            self.to_app.send_nowait({"type": "lifespan.shutdown"})
        message = await self._answer("shutdown")
        if message is not None and message["type"] == "lifespan.shutdown.failed":
            raise LifespanError("shutdown", message.get("message", ""))
        with anyio.move_on_after(self.timeout):
            await self.done.wait()
            return self.error
        raise Timeout(
            f"the application's lifespan task was still running {format_seconds(self.timeout)} "
            "after the shutdown completed"
        )
