"""One handler, two tasks: receive and push at once, with anyio, on asyncio or trio."""

from __future__ import annotations

# --8<-- [start:ticker]
import anyio

from wskit import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ticker")
async def ticker(ws: WebSocket) -> None:
    interval = 0.01
    async with ws, anyio.create_task_group() as tg:

        async def push() -> None:
            count = 0
            try:
                while True:
                    await ws.send_data({"tick": count})
                    count += 1
                    await anyio.sleep(interval)
            except WebSocketDisconnect:  # the client left while we were sending
                tg.cancel_scope.cancel()

        tg.start_soon(push)
        try:
            while await ws.receive_text() != "stop":  # meanwhile, listen for commands
                interval /= 2
        except WebSocketDisconnect:
            pass  # the client left
        tg.cancel_scope.cancel()  # stop pushing; leaving `async with ws` closes with 1000


# --8<-- [end:ticker]


# --8<-- [start:serve]
def main() -> None:
    from wskit import serve

    serve(app, "127.0.0.1", 8000, worker="trio")  # or: wskit run howto_trio:app --worker trio


# --8<-- [end:serve]
