"""One app, any server: ``wskit run --server`` or ``wskit.serve(server=...)``.

Needs the extra of the server it runs on: ``pip install 'wskit[server]'`` (hypercorn, the
default), ``'wskit[uvicorn]'`` (uvicorn with websockets and uvloop) or ``'wskit[granian]'``.
"""

from __future__ import annotations

# --8<-- [start:app]
from wskit import App, Limits, WebSocket

app = App(limits=Limits(max_message_size=4 * 2**20))  # the server's limit follows: 4 MiB


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    async with ws:
        async for text in ws.iter_text():
            await ws.send_text(text)


# --8<-- [end:app]


# --8<-- [start:serve]
def main() -> None:
    from wskit import serve

    # The same as: wskit run serving_servers:app --server uvicorn --workers 2
    serve("serving_servers:app", "127.0.0.1", 8000, server="uvicorn", workers=2)


# --8<-- [end:serve]

if __name__ == "__main__":
    main()
