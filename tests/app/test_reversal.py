"""URL reversal across wskit and the real Starlette, in both directions (issue 12, finding 1).

A wskit ``App`` mounted in Starlette must keep ``url_for`` working for the Starlette routes
(Starlette walks the App's routes while it looks for a name) and make the App's own routes
reversible from the parent; a Starlette app given to ``App(http_app=...)`` must reverse the
App's routes, and the App's handlers the Starlette routes. Unknown names raise Starlette's
``NoMatchFound`` everywhere.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, NoMatchFound, Route

from wskit.app import App
from wskit.connection import WebSocket
from wskit.testing import TestClient


async def about(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(request.url_for("about")))


async def links(request: Request) -> PlainTextResponse:
    """Reverse the names given in the query string (``?name=chat&room=x``)."""
    params = dict(request.query_params)
    name = params.pop("name")
    try:
        return PlainTextResponse(str(request.url_for(name, **params)))
    except NoMatchFound:
        return PlainTextResponse("no match", status_code=404)


async def chat(ws: WebSocket) -> None:
    async with ws:
        try:
            other: str | None = str(ws.url_for("about"))
        except NoMatchFound:
            other = None
        await ws.send_json(
            {"self": str(ws.url_for("chat", room=ws.path_params["room"])), "about": other}
        )


def realtime() -> App:
    app = App()
    app.add_route("/chat/{room}", chat, name="chat")
    return app


def mounted(name: str | None = None) -> Starlette:
    # The mount first: Starlette asks every route before the one that has the name.
    return Starlette(
        routes=[
            Mount("/ws", app=realtime(), name=name),
            Route("/about", about, name="about"),
            Route("/links", links),
        ]
    )


async def test_a_mounted_app_keeps_starlettes_url_for_working() -> None:
    # On main: TypeError, Route.url_path_for() takes 1 positional argument but 2 were given.
    async with TestClient(mounted()) as client:
        response = await client.http("GET", "/about")
        assert (response.status, response.text) == (200, "http://testserver/about")


@pytest.mark.parametrize(("mount_name", "route_name"), [(None, "chat"), ("rt", "rt:chat")])
async def test_the_parent_reverses_the_mounted_apps_routes(
    mount_name: str | None, route_name: str
) -> None:
    app = mounted(mount_name)
    async with TestClient(app) as client:
        response = await client.http("GET", f"/links?name={route_name}&room=x")
        assert response.text == "ws://testserver/ws/chat/x"
        assert (await client.http("GET", "/links?name=nowhere")).status == 404
        assert (await client.http("GET", f"/links?name={route_name}")).status == 404  # no room
    assert app.url_path_for(route_name, room="y") == "/ws/chat/y"
    with pytest.raises(NoMatchFound):
        app.url_path_for("nowhere")


async def test_handlers_of_a_mounted_app_reverse_both_sides() -> None:
    async with TestClient(mounted()) as client, client.websocket_connect("/ws/chat/x") as conn:
        assert await conn.receive_json() == {
            "self": "ws://testserver/ws/chat/x",
            "about": "http://testserver/about",
        }


async def test_an_app_in_front_of_starlette_reverses_both_sides() -> None:
    site = Starlette(routes=[Route("/about", about, name="about"), Route("/links", links)])
    front = realtime()
    front.http_app = site
    async with TestClient(front) as client:
        assert (await client.http("GET", "/about")).text == "http://testserver/about"
        response = await client.http("GET", "/links?name=chat&room=x")
        assert response.text == "ws://testserver/chat/x"
        assert (await client.http("GET", "/links?name=nowhere")).status == 404
        async with client.websocket_connect("/chat/x") as conn:
            assert await conn.receive_json() == {
                "self": "ws://testserver/chat/x",
                "about": "http://testserver/about",
            }
    path = front.url_path_for("chat", room="x")
    assert (path, path.protocol) == ("/chat/x", "websocket")
    assert front.url_path_for("about") == "/about"
    with pytest.raises(NoMatchFound):
        front.url_path_for("nowhere")


async def test_mounted_wskit_apps_reverse_under_their_prefix() -> None:
    parent = App()
    parent.mount("/rt", realtime())
    parent.mount("/named", realtime(), name="named")
    assert parent.url_path_for("chat", room="a") == "/rt/chat/a"
    assert parent.url_path_for("named:chat", room="b") == "/named/chat/b"
    with pytest.raises(NoMatchFound):
        parent.url_path_for("named:nowhere")
    async with TestClient(parent) as client, client.websocket_connect("/named/chat/c") as conn:
        message = await conn.receive_json()
        assert message["self"] == "ws://testserver/rt/chat/c"  # the first mount with that name
