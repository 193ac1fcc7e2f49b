"""Messages that come from other projects, checked without spelling their words.

wskit passes some third-party text through (msgspec's validation message inside a
``ValidationError`` or an operation's error reply) and mirrors some on purpose (Starlette's
misuse errors, for the drop-in promise). Tests never hard-code that text: a new release may
reword it without anything in wskit changing.

* :func:`passed_through` matches a message that wskit built as ``"<their text> at <path>"``:
  wskit's own part (the location) exactly, theirs only as being there.
* :func:`starlette_message` takes the text Starlette itself raises for a misuse, at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket as StarletteWebSocket

__all__ = ["passed_through", "starlette_message"]


class _PassedThrough:
    """Equal to a non-empty third-party message, followed by `` at <path>`` when one is given."""

    def __init__(self, path: str | None) -> None:
        self.suffix = "" if path is None else f" at {path}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str) or not other.endswith(self.suffix):
            return False
        return bool(other[: len(other) - len(self.suffix)].strip())

    def __hash__(self) -> int:
        return hash(self.suffix)

    def __repr__(self) -> str:
        return f"<third-party text{self.suffix}>"


def passed_through(path: str | None = None) -> Any:
    """A value equal to any non-empty message that ends with `` at {path}`` (if given)."""
    return _PassedThrough(path)


async def starlette_message(call: Callable[[StarletteWebSocket], Awaitable[object]]) -> str:
    """The message of the exception Starlette's own ``WebSocket`` raises for ``call``.

    The connection is accepted from the application's side; its ``receive`` and ``send`` fail the
    test if the misuse reaches them (the misuses checked here are refused before any I/O).
    """

    async def receive() -> Any:
        raise AssertionError("Starlette's WebSocket reached receive()")

    async def send(message: Any) -> None:
        raise AssertionError(f"Starlette's WebSocket reached send({message!r})")

    ws = StarletteWebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    try:
        await call(ws)
    except Exception as exc:
        return str(exc)
    raise AssertionError("Starlette raised nothing")
