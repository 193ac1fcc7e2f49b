"""Serving the document: JSON, YAML and the HTML page over HTTP, and the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from starlette.applications import Starlette
from starlette.routing import Mount

from wskit.app import App
from wskit.app.routing import Route
from wskit.asyncapi import AsyncAPIApp, to_yaml
from wskit.asyncapi.cli import main, served
from wskit.testing import TestClient, WebSocketDenied

from .sample import app, docs


async def test_json_yaml_and_html_are_served() -> None:
    async with TestClient(docs) as client:
        response = await client.http("GET", "/asyncapi.json")
        assert response.status == 200
        assert response.headers["content-type"] == "application/json"
        document = response.json()
        assert document == json.loads(json.dumps(docs.document()))
        assert document["info"]["title"] == "Chat service"

        page = await client.http("GET", "/asyncapi")
        assert page.status == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        for text in ("chat.send", "chat.message", "shapes", "reply_to", "/rooms/{room}"):
            assert text in page.text

        yaml_response = await client.http("GET", "/asyncapi.yaml")
        assert yaml_response.headers["content-type"] == "application/yaml; charset=utf-8"
        assert yaml.safe_load(yaml_response.text) == document

        head = await client.http("HEAD", "/asyncapi.json")
        assert head.status == 200
        assert head.body == b""
        assert head.headers["content-length"] == response.headers["content-length"]

        assert (await client.http("GET", "/elsewhere")).status == 404
        not_allowed = await client.http("POST", "/asyncapi.json")
        assert not_allowed.status == 405
        assert not_allowed.headers["allow"] == "GET, HEAD"
        with pytest.raises(WebSocketDenied):
            async with client.websocket_connect("/asyncapi"):
                pass


async def test_mounted_in_an_app_next_to_the_websocket_routes() -> None:
    service = App()
    for route in app.routes:
        assert isinstance(route, Route)
        service.add_route(route.path, route.handler)
    service.mount(
        "/docs", AsyncAPIApp(service, title="Mounted", version="1", yaml_path=None, cdn=True)
    )
    async with TestClient(service) as client:
        document = (await client.http("GET", "/docs/asyncapi.json")).json()
        assert document["info"]["title"] == "Mounted"
        assert "/rooms/{room}" in [c["address"] for c in document["channels"].values()]
        page = await client.http("GET", "/docs/asyncapi")
        assert "AsyncApiStandalone" in page.text
        assert (await client.http("GET", "/docs/asyncapi.yaml")).status == 404
        async with client.websocket_connect("/rooms/r") as conn:
            await conn.send_json({"type": "whoami", "id": 1})
            assert await conn.receive_json() == {"type": "you:are", "payload": "someone", "id": 1}


async def test_the_html_page_links_the_json_under_its_mount() -> None:
    service = App(http_app=None)
    service.mount("/api", AsyncAPIApp(app, title="t", version="1"))
    async with TestClient(service) as client:
        page = await client.http("GET", "/api/asyncapi")
    assert 'href="/api/asyncapi.json"' in page.text


def test_yaml_keeps_document_order() -> None:
    text = to_yaml(docs.document())
    assert text.startswith("asyncapi: 3.0.0\ninfo:\n")


def test_cli_prints_json_and_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["tests.asyncapi.sample:app", "--title", "CLI", "--api-version", "9"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["info"] == {
        "title": "CLI",
        "version": "9",
        "tags": [{"name": "chat"}, {"name": "write"}],
    }
    assert (
        main(
            [
                "tests.asyncapi.sample:app",
                "--format",
                "yaml",
                "--description",
                "d",
                "--server",
                "ws://h:1",
            ]
        )
        == 0
    )
    parsed = yaml.safe_load(capsys.readouterr().out)
    assert parsed["info"]["title"] == "Chat service"  # the app's own title and version
    assert parsed["info"]["version"] == "2.1.0"
    assert parsed["info"]["description"] == "d"
    assert parsed["servers"] == {"default": {"host": "h:1", "protocol": "ws"}}
    target = tmp_path / "doc.json"
    assert main(["tests.asyncapi.sample:docs", "-o", str(target)]) == 0
    assert json.loads(target.read_text())["info"]["title"] == "Chat service"
    assert main(["tests.asyncapi.sample:chat", "--path", "/chat"]) == 0
    routed = json.loads(capsys.readouterr().out)
    assert routed["channels"]["chat"]["address"] == "/chat"
    assert routed["info"]["title"] == "tests.asyncapi.sample:chat"
    assert routed["info"]["version"] == "0.1.0"


def test_cli_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-colon"]) == 2
    assert "expected 'module:attribute'" in capsys.readouterr().err
    assert main(["tests.asyncapi.sample:missing"]) == 2
    assert main(["tests.asyncapi.sample:T"]) == 1
    assert "cannot document" in capsys.readouterr().err
    assert main(["--format", "xml", "x:y"]) == 2
    assert main(["--help"]) == 0
    assert "AsyncAPI" in capsys.readouterr().out


def test_the_wskit_command_runs_the_asyncapi_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from wskit.cli import main as wskit_main

    assert wskit_main(["asyncapi", "tests.asyncapi.sample:app"]) == 0
    assert json.loads(capsys.readouterr().out)["asyncapi"] == "3.0.0"


async def test_lifespan_is_answered() -> None:
    async with TestClient(docs):
        pass


def test_cli_puts_the_working_directory_on_the_import_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import sys

    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != os.getcwd()])
    assert main(["tests.asyncapi.sample:chat"]) == 0
    assert sys.path[0] == os.getcwd()
    capsys.readouterr()


def test_cli_finds_the_document_a_starlette_app_serves(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Starlette(routes=[Mount("/rt", app=app), Mount("/docs", app=docs)])
    front = App(http_app=site)
    monkeypatch.setattr(sys.modules[__name__], "SITE", front, raising=False)
    assert main([f"{__name__}:SITE"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(docs.document()))
    assert served(site) is docs
    assert served(App()) is None
