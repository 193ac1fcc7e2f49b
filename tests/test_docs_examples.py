"""Run every code sample of the documentation (``docs/examples/*.py``).

Each page includes its samples from ``docs/examples`` with ``pymdownx.snippets``; this module
imports each sample by path and drives its app with :class:`wskit.testing.TestClient`, so a sample
that no longer matches the API fails here (and mypy checks the same files). The last tests keep
the docs honest about their own structure: every snippet a page includes exists, every example
file is included somewhere and tested here, and the generated state diagram is current.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from tests._redis_cluster import LocalCluster
from tests._upstream import passed_through
from wskit import WebSocketDisconnect
from wskit._state import TRANSITIONS
from wskit.testing import TestClient, WebSocketDenied, WebSocketTestSession

from ._services import redis_server

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"


def load(name: str) -> ModuleType:
    """Import ``docs/examples/<name>.py`` afresh, so module-level state never leaks between
    tests (or between the asyncio and trio runs of one test)."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"wskit_docs_examples.{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def read_until_closed(conn: WebSocketTestSession) -> int | None:
    """Read (and drop) messages until the app closes the connection; return its close code."""
    while True:
        try:
            await conn.receive()
        except WebSocketDisconnect:
            return conn.close_code


# -- tutorial ------------------------------------------------------------------------------------


async def test_tutorial_01_echo() -> None:
    mod = load("tutorial_01_echo")
    for app in (mod.app, mod.explicit):
        async with TestClient(app) as client, client.websocket_connect("/") as conn:
            await conn.send_text("hello")
            assert await conn.receive_text() == "echo: hello"
            await conn.send_text("")
            assert await conn.receive_text() == "echo: "


async def test_tutorial_02_typed() -> None:
    mod = load("tutorial_02_typed")
    async with TestClient(mod.app) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "say", "text": "too early"})
        assert await conn.receive_json() == {
            "type": "problem",
            "message": "join a room first",
            "path": "$",
        }
        await conn.send_json({"type": "join", "room": "lobby", "user": "ada"})
        await conn.send_json({"type": "say", "text": "hello"})
        assert await conn.receive_json() == {
            "type": "said",
            "room": "lobby",
            "user": "ada",
            "text": "hello",
        }
        await conn.send_json({"type": "say", "text": 42})
        problem = await conn.receive_json()
        assert problem["type"] == "problem"
        assert problem["path"] == "$.text"
        await conn.send_text("{not json")
        assert (await conn.receive_json())["type"] == "problem"
        await conn.send_json({"type": "say", "text": "still open"})
        assert (await conn.receive_json())["text"] == "still open"


async def test_tutorial_02_casting() -> None:
    mod = load("tutorial_02_typed")
    async with TestClient(mod.casting_app) as client, client.websocket_connect("/") as conn:
        await conn.send_text("42")
        await conn.send_text("true")
        await conn.send_bytes(b"\x00\x01\x02")
        await conn.send_text("fast")
        await conn.send_text("null")
        assert await conn.receive_json() == {
            "count": 42,
            "ready": True,
            "size": 3,
            "speed": "fast",
            "limit": None,
        }
        assert await conn.receive_text() == "continue?"
        await conn.send_text("1")
        assert await conn.receive_text() == "go on"
        await conn.send_text("done")
    assert conn.close_code == 1000


async def test_tutorial_03_app(caplog: pytest.LogCaptureFixture) -> None:
    mod = load("tutorial_03_app")
    origin = {"origin": "https://chat.example.com"}
    caplog.set_level(logging.INFO, logger="wskit")
    async with TestClient(mod.app) as client:
        # A command-line client sends no Origin: refused, and the log says why and who.
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/echo"):
                pass
        assert denied.value.status == 403
        (refusal,) = [r for r in caplog.records if r.name.startswith("wskit")]
        assert refusal.levelno == logging.INFO
        assert "'/echo' from testclient:50000" in refusal.getMessage()
        assert "no Origin header" in refusal.getMessage()
        async with client.websocket_connect("/echo", headers=origin) as conn:
            await conn.send_text("hi")
            assert await conn.receive_text() == "hi"
        async with client.websocket_connect("/rooms/lobby", headers=origin) as conn:
            assert await conn.receive_json() == {"joined": "lobby"}
            await conn.send_text("hello")
            assert await conn.receive_json() == {"room": "lobby", "text": "hello"}
        async with client.websocket_connect("/users/7") as conn:  # no Origin check here
            assert await conn.receive_json() == {"user": 7}
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/echo", headers={"origin": "https://evil.io"}):
                pass
        assert denied.value.status == 403
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/nowhere", headers=origin):
                pass
        assert denied.value.status == 404
        response = await client.http("GET", "/echo")
        assert response.status == 426
        async with client.websocket_connect("/echo", headers=origin) as conn:
            await conn.send_text("x" * (64 * 1024 + 1))
            with pytest.raises(Exception, match="1009"):
                await conn.receive_text()
            assert conn.close_code == 1009


async def test_tutorial_03_routes() -> None:
    mod = load("tutorial_03_app")
    async with TestClient(mod.routes_app) as client, client.websocket_connect("/ping") as conn:
        await conn.send_text("ping")
        assert await conn.receive_text() == "pong"


async def test_tutorial_04_operations() -> None:
    mod = load("tutorial_04_operations")
    async with TestClient(mod.app) as client, client.websocket_connect("/ops") as conn:
        await conn.send_json(
            {"type": "chat.send", "payload": {"room": "lobby", "text": "hi"}, "id": 1}
        )
        assert await conn.receive_json() == {
            "type": "notice",
            "payload": {"text": "lobby got your message"},
        }
        assert await conn.receive_json() == {
            "type": "chat.sent",
            "payload": {"room": "lobby", "length": 2},
            "id": 1,
        }
        await conn.send_json({"type": "chat.send", "payload": {"room": "lobby", "text": " "}})
        error = await conn.receive_json()
        assert error["type"] == "error"
        assert error["payload"]["code"] == "empty_message"
        await conn.send_json({"type": "ping", "id": "p"})
        assert await conn.receive_json() == {"type": "pong", "payload": "pong", "id": "p"}
        await conn.send_json({"type": "admin.stats"})
        assert await conn.receive_json() == {
            "type": "admin.stats.result",
            "payload": {"connections": 1},
        }
        await conn.send_json({"type": "chat.send", "payload": {"room": 1, "text": "x"}, "id": 2})
        error = await conn.receive_json()
        assert error == {
            "type": "error",
            "payload": {
                "code": "invalid_payload",
                "message": passed_through("$.payload.room"),
                "operation": "chat.send",
                "path": "$.payload.room",
            },
            "id": 2,
        }
        for _ in range(10):  # max_bad_messages=10: the 11th bad message closes with 1008
            await conn.send_json({"type": "nope"})
        codes = [(await conn.receive_json())["payload"]["code"] for _ in range(9)]
        assert codes == ["unknown_operation"] * 9
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_json()
        assert conn.close_code == 1008


async def test_tutorial_04_asyncapi() -> None:
    mod = load("tutorial_04_operations")
    async with TestClient(mod.app) as client:
        response = await client.http("GET", "/asyncapi.json")
        assert response.status == 200
        document = response.json()
        assert document["asyncapi"] == "3.0.0"
        messages = document["channels"]["ops"]["messages"]
        assert {"chat.send", "chat.sent", "notice", "ping", "pong", "admin.stats"} <= set(messages)
        page = await client.http("GET", "/asyncapi")
        assert page.status == 200
        assert "chat.send" in page.text


async def test_tutorial_05_rooms() -> None:
    mod = load("tutorial_05_rooms")
    async with TestClient(mod.app) as client:
        async with client.websocket_connect("/rooms/lobby/ada") as ada:
            assert await ada.receive_json() == {"room": "lobby", "present": 1}
            async with client.websocket_connect("/rooms/lobby/bob") as bob:
                assert await bob.receive_json() == {"room": "lobby", "present": 2}
                await ada.send_text("hi")
                said = {"room": "lobby", "user": "ada", "text": "hi"}
                assert await ada.receive_json() == said
                assert await bob.receive_json() == said
        assert mod.hub.subscribers("room:lobby") == []  # subscriptions ended with the sockets


async def test_tutorial_05_operations() -> None:
    mod = load("tutorial_05_rooms")
    async with (
        TestClient(mod.app) as client,
        client.websocket_connect("/chat?name=ada") as ada,
        client.websocket_connect("/chat?name=bob") as bob,
    ):
        await ada.send_json({"type": "join", "payload": {"room": "x"}, "id": 1})
        assert await ada.receive_json() == {"type": "joined", "payload": ["room:x"], "id": 1}
        await bob.send_json({"type": "join", "payload": {"room": "x"}})
        assert (await bob.receive_json())["type"] == "joined"
        await ada.send_json({"type": "say", "payload": {"room": "x", "text": "yo"}})
        said = {"type": "said", "payload": {"room": "x", "user": "ada", "text": "yo"}}
        assert await ada.receive_json() == said
        assert await bob.receive_json() == said


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


async def test_tutorial_06_redis(redis_url: str) -> None:
    mod = load("tutorial_06_redis")
    one, two = mod.build_app(redis_url), mod.build_app(redis_url)  # two "processes"
    async with (
        TestClient(one) as client_one,
        TestClient(two) as client_two,
        client_one.websocket_connect("/rooms/lobby/ada") as ada,
        client_two.websocket_connect("/rooms/lobby/bob") as bob,
    ):
        assert await ada.receive_json() == {"joined": "lobby"}
        assert await bob.receive_json() == {"joined": "lobby"}
        await ada.send_text("hello from one")
        said = {"room": "lobby", "user": "ada", "text": "hello from one"}
        assert await ada.receive_json() == said  # delivered locally at once
        assert await bob.receive_json() == said  # through Redis, to the other app


async def test_index_quickstart() -> None:
    mod = load("index_quickstart")
    async with TestClient(mod.app) as client, client.websocket_connect("/chat/lobby") as conn:
        await conn.send_json({"user": "ada", "text": "hi"})
        assert await conn.receive_text() == '{"user":"ada@lobby","text":"HI"}'
        await conn.send_json({"user": "ada"})  # missing "text": close 1007
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
        assert conn.close_code == 1007


async def test_migrate_starlette() -> None:
    mod = load("migrate_starlette")
    for app in (mod.app, mod.typed_app):
        async with TestClient(app) as client, client.websocket_connect("/rooms/r1") as conn:
            await conn.send_json({"text": "hi"})
            assert await conn.receive_json() == {"room": "r1", "echo": {"text": "hi"}}


async def test_security_auth() -> None:
    mod = load("security_auth")
    origin = {"origin": "https://chat.example.com"}
    ticket = mod.issue_ticket("ada")
    async with TestClient(mod.app) as client:
        async with client.websocket_connect(f"/ws?ticket={ticket}", headers=origin) as conn:
            assert await conn.receive_json() == {"user": "ada"}
        bearer = {**origin, "authorization": f"Bearer {ticket}"}
        async with client.websocket_connect("/ws", headers=bearer) as conn:
            assert await conn.receive_json() == {"user": "ada"}
        forged = ticket[:-1] + ("0" if ticket[-1] != "0" else "1")
        expired = mod.issue_ticket("ada", ttl=-10)
        for bad in (forged, expired, "", "a.b.c", "...."):
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect(
                    "/ws", query_string=f"ticket={bad}", headers=origin
                ):
                    pass
            assert denied.value.status == 401
        async with client.websocket_connect(f"/ws?ticket={ticket}", headers=origin) as conn:
            assert await conn.receive_json() == {"user": "ada"}
            with contextlib.suppress(WebSocketDisconnect):  # sends fail once it is closed
                for i in range(30):  # a burst over 10 messages per second: closed with 1008
                    await conn.send_text(str(i))
            assert await read_until_closed(conn) == 1008  # after the echoes of the burst
        for headers in ({}, {"origin": "https://chat.example.com.evil.io"}):
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect(f"/ws?ticket={ticket}", headers=headers):
                    pass
            assert denied.value.status == 403


async def test_migrate_fastapi_views() -> None:
    mod = load("migrate_fastapi_views")
    welcome = {"user": "server", "text": "welcome"}
    async with TestClient(mod.app) as client:
        async with client.websocket_connect("/chat/ada") as ada:
            assert await ada.receive_json() == welcome
            async with client.websocket_connect("/chat/bob") as bob:
                assert await bob.receive_json() == welcome
                await ada.send_json({"text": "hi"})
                for conn in (ada, bob):
                    assert await conn.receive_json() == {"user": "ada", "text": "hi"}
                await bob.send_json({"txt": "typo"})
                error = await bob.receive_json()
                assert error["type"] == "error"
                assert error["payload"]["code"] == "invalid_payload"
        async with client.websocket_connect("/echo") as conn:
            await conn.send_text("ping")
            assert await conn.receive_text() == "ping"


@pytest.mark.parametrize(
    "name",
    ["test_add", "test_invalid_payload_closes_with_1007", "test_denied", "test_client_vanishes"],
)
async def test_howto_testing(name: str) -> None:
    mod = load("howto_testing")
    await getattr(mod, name)()


async def test_migrate_viewpy() -> None:
    mod = load("migrate_viewpy")
    async with TestClient(mod.app) as client, client.websocket_connect("/") as conn:
        await conn.send_text("MYPROTOCOL V1.1")
        assert await conn.receive_text() == "ACK"
        await conn.send_text("4")
        await conn.send_json({"theme": "dark"})
        assert await conn.receive_text() == "8"
        await conn.send_text("True")
        assert await conn.receive_json() == {
            "count": 4,
            "settings": {"theme": "dark"},
            "again": True,
        }
    async with TestClient(mod.app) as client, client.websocket_connect("/") as conn:
        await conn.send_text("HTTP/1.1")  # not the expected greeting: UnexpectedMessage
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
        assert conn.close_code == 1008  # UnexpectedMessage: the client broke the conversation


async def test_howto_starlette() -> None:
    mod = load("howto_starlette")
    origin = {"origin": "https://chat.example.com"}
    async with TestClient(mod.app) as client:
        async with client.websocket_connect("/rooms/lobby", headers=origin) as conn:
            await conn.send_text("hi")
            assert await conn.receive_json() == {"room": "lobby", "text": "hi"}
            assert len(mod.registry.connections) == 1
            await mod.registry.shutdown()  # what the lifespan does at shutdown
            with pytest.raises(WebSocketDisconnect):
                await conn.receive_text()
            assert conn.close_code == 1001
        mod.registry.reset()
        response = await client.http("GET", "/")
        assert response.text == "chat at ws://testserver/rooms/lobby"
    async with TestClient(mod.mounted) as client:
        response = await client.http("GET", "/")
        assert (response.status, response.text) == (200, "echo at ws://testserver/ws/echo")
        async with client.websocket_connect("/ws/echo") as conn:
            await conn.send_text("hi")
            assert await conn.receive_text() == "hi"
    async with TestClient(mod.front) as client:
        assert (await client.http("GET", "/motd")).text == "welcome"
        async with client.websocket_connect("/echo") as conn:
            await conn.send_text("hi")
            assert await conn.receive_text() == "hi"


async def test_howto_litestar() -> None:
    mod = load("howto_litestar")
    origin = {"origin": "https://shop.example.com"}
    async with TestClient(mod.app) as client:
        async with client.websocket_connect("/ws/orders/5", headers=origin) as conn:
            assert await conn.receive_json() == {"order": 5, "status": "packed"}
            await conn.send_text("thanks")
            assert await conn.receive_json() == {"order": 5, "ack": "thanks"}
        with pytest.raises(WebSocketDenied):
            async with client.websocket_connect("/ws/orders/5"):  # no Origin
                pass
        response = await client.http("GET", "/health")
        assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("anyio_backend", [pytest.param(("asyncio", {}), id="asyncio")])
async def test_howto_django() -> None:  # Django's ASGI handler needs asyncio
    mod = load("howto_django")
    origin = {"origin": "https://www.example.com"}
    async with TestClient(mod.application) as client:
        async with client.websocket_connect("/ws/notifications/ada", headers=origin) as conn:
            assert await conn.receive_json() == {"user": "ada", "unread": 3}
            await conn.send_text("ok")
            assert await conn.receive_json() == {"echo": "ok"}
        response = await client.http("GET", "/")
        assert response.status in (200, 404)  # Django answers (its URLconf may be another test's)


async def test_limits_config() -> None:
    mod = load("limits_config")
    async with TestClient(mod.app) as client:
        async with client.websocket_connect("/upload") as conn:
            await conn.send_bytes(b"x" * 2**20)  # over the app's 64 KiB, under the route's 8 MiB
            assert await conn.receive_json() == {"received": 2**20}
        async with client.websocket_connect("/chat") as conn:
            await conn.send_text("a")
            await conn.send_text("b")
            assert await conn.receive_text() == "a / b"
            await conn.send_text("x" * (64 * 1024 + 1))
            with pytest.raises(WebSocketDisconnect):
                await conn.receive_text()
            assert conn.close_code == 1009


def test_howto_testing_conftest(tmp_path: Path) -> None:
    """Run a tiny pytest session with the example as its conftest.py: one test, two backends."""
    (tmp_path / "conftest.py").write_text((EXAMPLES / "howto_testing_conftest.py").read_text())
    (tmp_path / "test_backends.py").write_text(
        "import pytest, sniffio\n"
        "@pytest.mark.anyio\n"
        "async def test_backend(anyio_backend):\n"
        "    assert sniffio.current_async_library() == anyio_backend\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "anyio", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert "2 passed" in result.stdout, result.stdout + result.stderr


async def test_deploy_proxy() -> None:
    mod = load("deploy_proxy")
    headers = {
        "origin": "https://chat.example.com",
        "x-forwarded-for": "198.51.100.7, 203.0.113.9",  # a forged entry, then the proxy's
        "x-forwarded-proto": "https",
    }
    async with (
        TestClient(mod.app) as client,
        client.websocket_connect("/ws", headers=headers) as conn,
    ):
        assert await conn.receive_json() == {"client": "203.0.113.9", "secure": True}
        await mod.app.shutdown(1.0)  # what `wskit run` calls on SIGTERM
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_json()
        assert conn.close_code == 1001


async def test_howto_trio() -> None:
    mod = load("howto_trio")
    async with TestClient(mod.app) as client:
        async with client.websocket_connect("/ticker") as conn:
            assert await conn.receive_json() == {"tick": 0}
            assert await conn.receive_json() == {"tick": 1}
            await conn.send_text("faster")
            await conn.send_text("stop")
            while conn.close_code is None:  # the ticks sent before the stop, then the close
                try:
                    assert "tick" in await conn.receive_json()
                except WebSocketDisconnect:
                    break
            assert conn.close_code == 1000
        async with client.websocket_connect("/ticker") as conn:
            assert await conn.receive_json() == {"tick": 0}
        # the client left while the push task was running: no error escaped the handler
    assert callable(mod.main)


async def test_serving_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = load("serving_servers")
    async with TestClient(mod.app) as client, client.websocket_connect("/echo") as conn:
        await conn.send_text("x" * 2**21)  # over wskit's 1 MiB default, under the app's 4 MiB
        assert await conn.receive_text() == "x" * 2**21
    served: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr("wskit.serve", lambda app, *args, **kw: served.append((app, kw)))
    mod.main()
    assert served == [("serving_servers:app", {"server": "uvicorn", "workers": 2})]


async def test_backpressure_policies() -> None:
    mod = load("backpressure_policies")
    # max_queue=1: the test client buffers one message, then the app's sends wait, as they
    # would for a client on a slow network.
    async with (
        TestClient(mod.app, max_queue=1) as client,
        client.websocket_connect("/prices") as prices,
        client.websocket_connect("/orders") as orders,
    ):
        for i in range(50):
            await mod.hub.publish("prices", {"price": i})
            await mod.hub.publish("orders", {"order": i})
        seen: list[int] = []
        while not seen or seen[-1] != 49:
            seen.append((await prices.receive_json())["price"])
        assert seen[0] == 0
        assert len(seen) < 50  # the oldest queued prices were dropped for the newest
        assert seen == sorted(seen)  # what arrives is in publish order
        assert await orders.receive_json() == {"order": 0}  # the one message in flight
        with pytest.raises(WebSocketDisconnect):
            await orders.receive_json()
        assert orders.close_code == 1013  # evicted rather than lose an order
        assert mod.hub.statistics().evicted == 1


async def test_migrate_fastws() -> None:
    mod = load("migrate_fastws")
    async with TestClient(mod.app) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "ping"})
        assert await conn.receive_json() == {"type": "pong", "payload": "pong"}
        await conn.send_json({"type": "user.subscribe", "payload": {"topic": "foobar"}, "id": 1})
        assert await conn.receive_json() == {
            "type": "user.subscribed",
            "payload": {"detail": "Subscribed to foobar", "topics": ["foobar"]},
            "id": 1,
        }
        await mod.alert("foobar", "hey there!")
        assert await conn.receive_json() == {
            "type": "alert",
            "payload": {"message": "hey there!"},
        }
        response = await client.http("GET", "/asyncapi.json")
        assert {"ping", "user.subscribe", "alert"} <= set(response.json()["operations"])


async def test_migrate_channels() -> None:
    mod = load("migrate_channels")
    origin = "https://chat.example.com"
    async with (
        TestClient(mod.app) as client,
        client.websocket_connect(
            "/ws/chat/lobby", headers={"origin": origin, "cookie": "user=ada"}
        ) as ada,
        client.websocket_connect(
            "/ws/chat/lobby", headers={"origin": origin, "cookie": "user=bob"}
        ) as bob,
    ):
        await ada.send_json({"text": "hi"})
        assert await ada.receive_json() == {"user": "ada", "text": "hi"}
        assert await bob.receive_json() == {"user": "ada", "text": "hi"}
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/ws/chat/lobby", headers={"origin": origin}):
                pass
        assert denied.value.status == 401


# -- the docs' own structure ---------------------------------------------------------------------

_SNIPPET = re.compile(r'^\s*-{1,}8<-{1,}\s+"([^"]+)"\s*$', re.MULTILINE)


def _snippet_targets() -> list[tuple[Path, str, str | None]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for target in _SNIPPET.findall(page.read_text(encoding="utf-8")):
            path, _, section = target.partition(":")
            found.append((page, path, section or None))
    return found


def test_every_snippet_exists() -> None:
    for page, path, section in _snippet_targets():
        file = ROOT / path
        assert file.is_file(), f"{page.relative_to(ROOT)} includes missing {path}"
        if section is not None:
            text = file.read_text(encoding="utf-8")
            assert f"[start:{section}]" in text, f"{path} has no section {section!r}"
            assert f"[end:{section}]" in text, f"{path} does not end section {section!r}"


def test_every_example_is_included_and_tested() -> None:
    included = {Path(path).stem for _, path, _ in _snippet_targets() if "/examples/" in path}
    examples = {path.stem for path in EXAMPLES.glob("*.py")}
    assert examples - included == set(), "examples no page includes"
    tested = set(_TESTED_BY_NAME)
    assert examples - tested == set(), "examples no test runs"


@pytest.mark.redis
async def test_scaling_cluster(cluster: LocalCluster) -> None:
    """The guide's hub on the session's cluster (tests/conftest.py), from its second node."""
    mod = load("scaling_cluster")
    hub = mod.build_hub(cluster.nodes[1].url)
    topic = f"lobby-{uuid.uuid4().hex}"  # the cluster (and its streams) outlive this test
    async with hub:
        with anyio.fail_after(30):
            await hub.backend.wait_connected()
        await hub.publish(topic, {"text": "hello"})
        entries = await hub.history(topic)
        assert [entry.value() for entry in entries] == [{"text": "hello"}]


#: Which test runs which example (kept by hand so that a new example needs a new test).
_TESTED_BY_NAME = {
    "tutorial_01_echo": test_tutorial_01_echo,
    "tutorial_02_typed": test_tutorial_02_typed,
    "tutorial_03_app": test_tutorial_03_app,
    "tutorial_04_operations": test_tutorial_04_operations,
    "tutorial_05_rooms": test_tutorial_05_rooms,
    "tutorial_06_redis": test_tutorial_06_redis,
    "scaling_cluster": test_scaling_cluster,
    "index_quickstart": test_index_quickstart,
    "migrate_starlette": test_migrate_starlette,
    "security_auth": test_security_auth,
    "migrate_fastapi_views": test_migrate_fastapi_views,
    "howto_testing": test_howto_testing,
    "migrate_viewpy": test_migrate_viewpy,
    "howto_starlette": test_howto_starlette,
    "howto_litestar": test_howto_litestar,
    "howto_django": test_howto_django,
    "limits_config": test_limits_config,
    "howto_testing_conftest": test_howto_testing_conftest,
    "deploy_proxy": test_deploy_proxy,
    "howto_trio": test_howto_trio,
    "serving_servers": test_serving_servers,
    "backpressure_policies": test_backpressure_policies,
    "migrate_fastws": test_migrate_fastws,
    "migrate_channels": test_migrate_channels,
}


def test_state_diagram_is_current() -> None:
    """docs/topics/state-machine-diagram.md matches wskit._state.TRANSITIONS."""
    spec = importlib.util.spec_from_file_location(
        "gen_state_diagram", DOCS / "gen_state_diagram.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError("cannot load docs/gen_state_diagram.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.OUTPUT.read_text(encoding="utf-8") == gen.render(), (
        "stale diagram: run python docs/gen_state_diagram.py"
    )
    text = gen.render()
    for (_side, state, _event), target in TRANSITIONS.items():  # every edge is drawn
        assert f"{state.name} --> {target.name}: " in text
