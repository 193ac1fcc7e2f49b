"""Message types and views shared by the view tests (module level, so generics resolve)."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import anyio
import msgspec

from wskit.operations import OperationError, WebSocketView


class ChatIn(msgspec.Struct):
    text: str


class ChatOut(msgspec.Struct):
    text: str
    sender: int


T = TypeVar("T")


class Recorder(WebSocketView[ChatIn, ChatOut]):
    """Echoes messages, records its lifecycle, and fails on request."""

    events: ClassVar[list[Any]] = []

    async def on_connect(self) -> None:
        self.events.append("connect")
        await super().on_connect()

    async def on_message(self, message: ChatIn) -> None:
        self.events.append(message)
        if message.text == "boom":
            raise RuntimeError("secret")
        if message.text == "deny":
            raise OperationError("forbidden", "no")
        if message.text == "bad-send":
            await self.send({"nope": 1})  # type: ignore[arg-type]
        await self.send(ChatOut(text=message.text, sender=id(self) % 1000))

    async def on_disconnect(self, code: int) -> None:
        self.events.append(("disconnect", code))


class Strict(Recorder):
    """Closes on anything it cannot handle."""

    on_bad_input = "close"
    on_handler_error = "close"
    max_bad_messages = 3


class Capped(WebSocketView[ChatIn, ChatOut]):
    max_bad_messages = 1


class Room(WebSocketView[ChatIn, ChatOut]):
    """A chat room: every message goes to every member."""

    async def on_message(self, message: ChatIn) -> None:
        await self.broadcast(ChatOut(text=message.text, sender=0))


class Lounge(Room):
    """Another room: its own members."""


class GenericBase(WebSocketView[T, T], Generic[T]):
    """A generic intermediate view: the parameters are resolved by its subclasses."""


class Texts(GenericBase[str]):
    async def on_message(self, message: str) -> None:
        await self.send(message.upper())


class Plain(WebSocketView):  # type: ignore[type-arg]
    pass


class Reader(WebSocketView[int, str]):
    """Overrides ``handler`` and reads ``self.messages`` itself."""

    async def handler(self) -> None:
        total = 0
        async for number in self.messages:
            total += number
            if total >= 10:
                break
        await self.send(f"total {total}")


class SlowCleanup(WebSocketView[str, str]):
    cleanup_timeout = 0.05
    finished: ClassVar[list[str]] = []

    async def on_disconnect(self, code: int) -> None:
        await anyio.sleep(10)
        self.finished.append("never")


class BrokenCleanup(WebSocketView[str, str]):
    async def on_disconnect(self, code: int) -> None:
        raise RuntimeError("cleanup failed")


class Refuser(WebSocketView[str, str]):
    async def on_connect(self) -> None:
        await self.ws.deny(403, body=b"go away")


class BrokenHandler(WebSocketView[str, str]):
    codes: ClassVar[list[int]] = []

    async def handler(self) -> None:
        raise ValueError("handler bug")

    async def on_disconnect(self, code: int) -> None:
        self.codes.append(code)


class BrokenConnect(WebSocketView[str, str]):
    async def on_connect(self) -> None:
        raise ValueError("connect bug")


class Waiter(WebSocketView[str, str]):
    codes: ClassVar[list[int]] = []

    async def on_disconnect(self, code: int) -> None:
        self.codes.append(code)


class ListOf(WebSocketView[list[T], T], Generic[T]):
    """Receives lists of ``T``, sends single ``T`` values."""


class Sums(ListOf[int]):
    async def on_message(self, message: list[int]) -> None:
        await self.send(sum(message))


class SleepyConnect(WebSocketView[str, str]):
    async def on_connect(self) -> None:
        await anyio.sleep(10)


class Tagged(Generic[T]):
    """A generic mixin that is not a view."""


class Mixed(Tagged[int], WebSocketView[bytes, str]):
    pass
