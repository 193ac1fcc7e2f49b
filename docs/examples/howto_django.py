"""Serving wskit handlers next to a Django project, in its ``asgi.py``."""

from __future__ import annotations

from django.conf import settings

# Only for this self-contained example: a real project sets DJANGO_SETTINGS_MODULE instead.
if not settings.configured:
    settings.configure(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        SECRET_KEY="example-only",
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )

# --8<-- [start:asgi]
# mysite/asgi.py
from django.core.asgi import get_asgi_application

django_app = get_asgi_application()  # first: it sets Django up before models are imported

from django.http import HttpRequest, HttpResponse
from django.urls import path

from wskit import App, WebSocket

application = App(http_app=django_app, origins=["https://www.example.com"])


@application.websocket("/ws/notifications/{user}")
async def notifications(ws: WebSocket) -> None:
    async with ws:
        await ws.send_data({"user": ws.path_params["user"], "unread": 3})
        async for text in ws.iter_text():
            await ws.send_data({"echo": text})


# --8<-- [end:asgi]


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("served by Django")


urlpatterns = [path("", index)]
