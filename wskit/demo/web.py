"""The demo's plain-HTTP side: the page, its files and the AsyncAPI document of the chat.

A small Starlette app that :class:`~wskit.demo.app.DemoApp` hands every HTTP request to:

* ``/``: the page, with a strict Content-Security-Policy (everything from this origin, no
  inline script or style, no frames);
* ``/static/...``: ``app.js``, ``app.css`` and the icon, shipped inside the package;
* ``/asyncapi.json`` and ``/asyncapi``: the chat's AsyncAPI 3.0 document, built once from the
  operation router, and the offline HTML page that renders it. The document's server is the
  host the request came to, when the ``Host`` header looks like one;
* ``/stats.json``: this process's counters (connections, messages).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

if TYPE_CHECKING:
    from starlette.requests import Request

    from .app import ChatServer

__all__ = ["STATIC_DIR", "http_app"]

#: The page, its stylesheet, script and icon, shipped inside the package.
STATIC_DIR: Final = Path(__file__).with_name("static")

_HOST_RE: Final = re.compile(
    r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?"
)
_SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def http_app(server: ChatServer) -> Starlette:
    """The Starlette app answering the demo's plain HTTP requests."""
    page = (STATIC_DIR / "index.html").read_bytes()
    icon = (STATIC_DIR / "favicon.svg").read_bytes()

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers=_SECURITY_HEADERS)

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {"connections": server.stats.connections, "messages": server.stats.messages}
        )

    async def favicon(request: Request) -> Response:
        return Response(
            icon, media_type="image/svg+xml", headers={"cache-control": "max-age=86400"}
        )

    routes: list[Route | Mount] = [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/stats.json", stats),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    routes.extend(_asyncapi_routes(server))
    return Starlette(routes=routes)


_DOC_DESCRIPTION: Final = """\
The chat of "wskit demo". Connect to /ws?name=YOUR_NAME (1 to 32 printable characters; another
name is refused with HTTP 401, an unknown Origin with 403). Every frame is a JSON text frame
{"type": ..., "payload": ..., "id": ...}; the reply to a request carries the request's id.

After the handshake the server sends "session". Join rooms with "room.join" (you get the room's
"history", and everyone in it a new "presence"), post with "message.send" (everyone in the room
gets "message.new"), and say you are typing with "typing". A request the server cannot honour
gets an "error" reply: too_many_rooms, not_in_room, empty_message, rate_limited, unavailable,
or one of the router's codes for bad input (malformed, unknown_operation, invalid_payload).
"""


def _asyncapi_routes(server: ChatServer) -> list[Route]:
    from wskit.asyncapi.document import build
    from wskit.asyncapi.html import render_html

    base = build(
        server.router,
        title="wskit demo chat",
        version="1.0.0",
        description=_DOC_DESCRIPTION,
        path="/ws",
    )

    def document(request: Request) -> dict[str, Any]:
        # The server is the host the page was loaded from (a Host header with characters a
        # host cannot have is left out rather than echoed).
        host = request.headers.get("host", "")
        if not host or not _HOST_RE.fullmatch(host):
            return base
        servers = {"demo": {"host": host, "protocol": "ws", "description": "this server"}}
        return {"asyncapi": base["asyncapi"], "info": base["info"], "servers": servers, **base}

    async def as_json(request: Request) -> Response:
        return JSONResponse(document(request))

    async def as_html(request: Request) -> Response:
        return HTMLResponse(render_html(document(request), json_url="/asyncapi.json"))

    return [Route("/asyncapi.json", as_json), Route("/asyncapi", as_html)]
