"""From view.py's WebSocket routes to wskit: the same receive/pair/expect, on any ASGI stack."""

from __future__ import annotations

# isort: split
# --8<-- [start:app]
from wskit import App, WebSocket

app = App()  # view.py: app = new_app()


@app.websocket("/")  # view.py: @app.websocket("/")
async def websocket_route(ws: WebSocket) -> None:
    async with ws:  # accept on enter, close on exit, as in view.py
        await ws.expect("MYPROTOCOL V1.1")  # view.py: the same
        await ws.send_data("ACK")  # view.py: await ws.send("ACK")
        count = await ws.receive(int)  # view.py: await ws.receive(tp=int)
        settings = await ws.receive(dict)  # a JSON object
        again = await ws.pair(count * 2, tp=bool)  # send, then receive a bool
        await ws.send_data({"count": count, "settings": settings, "again": again})


# Instead of app.run(): `wskit run module:app`, or wskit.server.serve(app).
# --8<-- [end:app]
