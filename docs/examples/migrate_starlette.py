"""Moving a Starlette (or FastAPI) endpoint to wskit: change the imports, keep the code."""

from __future__ import annotations

# isort: split
# --8<-- [start:imports]
# Before:
#   from starlette.routing import WebSocketRoute
#   from starlette.websockets import WebSocket, WebSocketDisconnect
# --8<-- [end:imports]
# --8<-- [start:endpoint]
from starlette.applications import Starlette

from wskit import WebSocket, WebSocketDisconnect
from wskit.contrib.starlette import WebSocketRoute


async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"room": websocket.path_params["room"], "echo": data})
    except WebSocketDisconnect:
        pass


app = Starlette(routes=[WebSocketRoute("/rooms/{room}", chat)])
# --8<-- [end:endpoint]


# --8<-- [start:typed]
from wskit import WebSocket


async def typed_chat(websocket: WebSocket) -> None:
    """The same endpoint, once you want wskit's additions: typed receive, one close, limits."""
    async with websocket:  # accept; close 1000 on return, 1011 on an error
        async for data in websocket.iter_data(dict[str, str]):  # decoded and validated
            await websocket.send_data({"room": websocket.path_params["room"], "echo": data})


# --8<-- [end:typed]


typed_app = Starlette(routes=[WebSocketRoute("/rooms/{room}", typed_chat)])
