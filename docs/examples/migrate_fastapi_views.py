"""From fastapi-views' ``WebSocketAPIView`` to ``wskit.WebSocketView``."""

from __future__ import annotations

# isort: split
# --8<-- [start:view]
import msgspec

from wskit.operations import WebSocketView


class ChatIn(msgspec.Struct):
    text: str


class ChatOut(msgspec.Struct):
    user: str
    text: str


class Chat(WebSocketView[ChatIn, ChatOut]):
    """Everyone connected to this view sees every message."""

    max_bad_messages = 5  # the 6th message that does not fit ChatIn closes with 1008
    cleanup_timeout = 2.0  # on_disconnect gets 2 seconds, then it is cancelled

    async def on_connect(self) -> None:
        await super().on_connect()  # accepts
        await self.send(ChatOut(user="server", text="welcome"))

    async def on_message(self, message: ChatIn) -> None:
        user: str = self.ws.path_params["user"]
        await self.broadcast(ChatOut(user=user, text=message.text))  # encoded once

    async def on_disconnect(self, code: int) -> None:
        pass  # runs however the connection ended, with its close code


# --8<-- [end:view]


# --8<-- [start:handler]
from wskit.operations import WebSocketView


class Echo(WebSocketView[str, str]):
    async def handler(self) -> None:  # fastapi-views style: read self.messages yourself
        async for message in self.messages:
            await self.send(message)


# --8<-- [end:handler]


# --8<-- [start:app]
from wskit import App, Route

app = App(routes=[Route("/chat/{user}", Chat), Route("/echo", Echo)])
# --8<-- [end:app]
