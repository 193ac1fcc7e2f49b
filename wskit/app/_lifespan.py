"""The server side of the ASGI lifespan protocol, for an app that runs inside the App's lifespan.

:class:`~wskit.app.App` hands plain HTTP to its ``http_app`` (a Starlette, FastAPI or Litestar
app, say), so it also forwards the ``lifespan`` scope to it: :class:`SubLifespan` plays the
server for that app, in a task the App's own lifespan owns. The App decides the order (its own
startup first; its drain, then the ``http_app``'s shutdown, then its own); this module only
speaks the protocol and turns the app's answers into "up", "not supported" or a
:class:`LifespanFailure`.

Theory of operation (ASGI lifespan spec 2.0): the app gets the server's lifespan scope (a shallow
copy: the ``state`` dict is shared, so what either app's lifespan stores reaches the requests of
both), then ``lifespan.startup``; it answers ``lifespan.startup.complete`` or
``lifespan.startup.failed``, and likewise for ``lifespan.shutdown``. An app that raises or returns
before sending any lifespan message does not support the protocol, and "the server must continue
but not send any lifespan events": Django's ASGI handler, for one, raises ``ValueError`` on a
scope that is not ``http``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import anyio

from wskit._types import Message

if TYPE_CHECKING:
    from wskit._types import ASGIApp, Scope

__all__ = ["LifespanFailure", "SubLifespan"]

#: How long to wait, after a ``*.failed`` answer, for the app to raise the exception behind it
#: (Starlette re-raises right after sending), so that it can be chained to the failure.
_SETTLE: Final = 1.0


class LifespanFailure(RuntimeError):
    """The forwarded app reported ``lifespan.<phase>.failed``, raised, or broke the protocol.

    Its ``__cause__`` is the app's own exception, when it raised one.

    Attributes:
        phase: ``"startup"`` or ``"shutdown"``.
        message: What to report upward in the App's own ``lifespan.<phase>.failed``: the app's
            ``message`` as it sent it (Starlette sends the traceback), else a description.
    """

    def __init__(self, phase: str, message: str) -> None:
        self.phase = phase
        self.message = message
        # A traceback as the message would be logged twice: name its last line only.
        last = message.strip().rpartition("\n")[2]
        super().__init__(f"http_app lifespan {phase} failed" + (f": {last}" if last else ""))


class SubLifespan:
    """Drive ``app``'s lifespan as a server would: :meth:`run` in a task, then the two phases.

    Args:
        app: The ASGI app whose lifespan to run.
        scope: The server's lifespan scope (the app gets a shallow copy).
        logger: Where to say that the app does not support lifespan.

    Attributes:
        supported: Whether the app completed its startup (so :meth:`shutdown` talks to it).
    """

    def __init__(self, app: ASGIApp, scope: Scope, logger: logging.Logger) -> None:
        self.app = app
        self.scope: Scope = dict(scope)
        self.logger = logger
        self.supported = False
        self._to_app, self._inbox = anyio.create_memory_object_stream[Message](1)
        self._outbox, self._from_app = anyio.create_memory_object_stream[Message](1)
        self._received = False  # the app asked for a message: it got lifespan.startup
        self._done = anyio.Event()
        self._error: Exception | None = None

    async def run(self) -> None:
        """Call the app on the lifespan scope; keep its exception for the phases to report."""
        try:
            await self.app(self.scope, self._receive, self._outbox.send)
        except Exception as exc:
            self._error = exc
        finally:
            self._outbox.close()
            self._done.set()

    def close(self) -> None:
        """Close the in-memory streams (once the task running :meth:`run` is over)."""
        for stream in (self._to_app, self._inbox, self._outbox, self._from_app):
            stream.close()

    async def _receive(self) -> Message:
        self._received = True
        return await self._inbox.receive()

    async def _answer(self) -> Message | None:
        """The app's next message, or ``None`` if it ended without sending one."""
        try:
            return await self._from_app.receive()
        except anyio.EndOfStream:
            return None

    async def _failure(self, phase: str, message: str, *, settle: bool = True) -> LifespanFailure:
        if settle:
            with anyio.move_on_after(_SETTLE):
                await self._done.wait()
        error = self._error
        if not message and error is not None:
            message = repr(error)
        failure = LifespanFailure(phase, message)
        failure.__cause__ = error
        return failure

    async def startup(self) -> None:
        """Send ``lifespan.startup`` and wait until the app is up or turns lifespan down.

        Raises:
            LifespanFailure: If it answered ``lifespan.startup.failed`` or something else.
        """
        await self._to_app.send({"type": "lifespan.startup"})
        answer = await self._answer()
        if answer is None:
            self._unsupported()
            return
        kind = answer.get("type")
        if kind == "lifespan.startup.complete":
            self.supported = True
            return
        if kind == "lifespan.startup.failed":
            raise await self._failure("startup", str(answer.get("message") or ""))
        raise await self._failure(
            "startup", f"sent {kind!r} in reply to 'lifespan.startup'", settle=False
        )

    def _unsupported(self) -> None:
        error = self._error
        if error is not None and self._received:
            # It took lifespan.startup, then raised without a word: the spec says to carry on,
            # but this may be a real startup error, so it is not silent.
            self.logger.warning(
                "http_app raised on lifespan startup without reporting it; "
                "taken as not supporting lifespan",
                exc_info=error,
            )
        else:
            self.logger.debug("http_app does not support lifespan: %r", error)

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` (if the app started) and wait for its answer.

        Raises:
            LifespanFailure: If it answered ``lifespan.shutdown.failed`` or something else, or
                raised (before or during its shutdown).
        """
        if not self.supported:
            return
        await self._to_app.send({"type": "lifespan.shutdown"})
        answer = await self._answer()
        if answer is None:
            if self._error is not None:
                raise await self._failure("shutdown", "")
            return  # it returned early: nothing is left to shut down
        kind = answer.get("type")
        if kind == "lifespan.shutdown.complete":
            return
        if kind == "lifespan.shutdown.failed":
            raise await self._failure("shutdown", str(answer.get("message") or ""))
        raise await self._failure(
            "shutdown", f"sent {kind!r} in reply to 'lifespan.shutdown'", settle=False
        )
