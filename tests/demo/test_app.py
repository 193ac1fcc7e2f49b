"""The demo chat server through ``wskit.testing.TestClient`` (both anyio backends, no sockets)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from wskit.demo.app import CONFIG_ENV, DemoApp, DemoConfig, create_app
from wskit.demo.protocol import MAX_ROOMS, ChatMessage, Member, Presence
from wskit.demo.store import MemoryStore
from wskit.exceptions import BackendUnavailable
from wskit.testing import TestClient, WebSocketDenied, WebSocketTestSession

ORIGIN = "http://127.0.0.1:8000"
Envelope = dict[str, Any]


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async with TestClient(create_app(DemoConfig(history=3, burst=3, rate=0.01))) as test_client:
        yield test_client


@contextlib.asynccontextmanager
async def chat(client: TestClient, name: str) -> AsyncIterator[WebSocketTestSession]:
    """Connect as ``name`` from the page's origin and read the ``session`` greeting."""
    async with client.websocket_connect(
        "/ws", query_string={"name": name}, headers={"origin": ORIGIN}
    ) as conn:
        hello = await conn.receive_json()
        assert hello["type"] == "session"
        assert hello["payload"]["name"] == name
        conn.sid = hello["payload"]["sid"]  # type: ignore[attr-defined]
        yield conn


async def collect(
    conn: WebSocketTestSession, *kinds: str, skip: tuple[str, ...] = ()
) -> dict[str, Envelope]:
    """The next envelope of each type in ``kinds``, in any order, passing over ``skip`` only.

    Replies and direct pushes (``history``) go straight to the connection while room traffic
    (``presence``, ``message.new``, ``typing``) goes through the hub's fan-out, so the two may
    interleave either way; within each, the order is kept.
    """
    found: dict[str, Envelope] = {}
    while len(found) < len(kinds):
        envelope: Envelope = await conn.receive_json()
        kind = envelope["type"]
        if kind in kinds and kind not in found:
            found[kind] = envelope
        else:
            assert kind in skip, envelope
    return found


async def receive(conn: WebSocketTestSession, kind: str, *, skip: tuple[str, ...] = ()) -> Envelope:
    """The next envelope of type ``kind``, passing over the types in ``skip`` only."""
    return (await collect(conn, kind, skip=skip))[kind]


async def request(conn: WebSocketTestSession, kind: str, payload: object, rid: int | None) -> None:
    await conn.send_json({"type": kind, "payload": payload, "id": rid})


def names(presence: Envelope) -> list[str]:
    return sorted(member["name"] for member in presence["payload"]["members"])


async def join(conn: WebSocketTestSession, room: str, rid: int = 1) -> tuple[Envelope, Envelope]:
    """Join ``room``; return the history and the presence the joiner gets."""
    await request(conn, "room.join", {"room": room}, rid)
    found = await collect(conn, "history", "presence", "room.joined")
    assert found["room.joined"] == {"type": "room.joined", "payload": {"room": room}, "id": rid}
    assert found["history"]["payload"]["room"] == room
    assert found["presence"]["payload"]["room"] == room
    return found["history"], found["presence"]


# --- HTTP -------------------------------------------------------------------------------


async def test_the_page_and_its_files(client: TestClient) -> None:
    page = await client.http("GET", "/")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script src="/static/app.js" defer></script>' in page.text
    script = await client.http("GET", "/static/app.js")
    assert script.status == 200
    assert "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text  # user data only ever goes through textContent
    style = await client.http("GET", "/static/app.css")
    assert style.status == 200
    assert style.headers["content-type"].startswith("text/css")
    assert (await client.http("GET", "/static/missing.js")).status == 404
    stats = await client.http("GET", "/stats.json")
    assert stats.status == 200
    assert stats.text == '{"connections":0,"messages":0}'


async def test_the_asyncapi_document_and_page(client: TestClient) -> None:
    response = await client.http("GET", "/asyncapi.json", headers={"host": "127.0.0.1:8000"})
    assert response.status == 200
    import json

    document = json.loads(response.body)
    assert document["asyncapi"] == "3.0.0"
    schema_file = Path(__file__).parent.parent / "asyncapi" / "schemas" / "asyncapi-3.0.0.json"
    jsonschema.Draft7Validator(json.loads(schema_file.read_text())).validate(document)
    assert document["servers"] == {
        "demo": {"host": "127.0.0.1:8000", "protocol": "ws", "description": "this server"}
    }
    (channel,) = document["channels"].values()
    assert channel["address"] == "/ws"
    messages = set(channel["messages"])
    for name in ("room.join", "room.joined", "message.send", "message.new", "presence", "typing"):
        assert name in messages, name
    hostile = await client.http("GET", "/asyncapi.json", headers={"host": "<script>"})
    assert "servers" not in json.loads(hostile.body)
    page = await client.http("GET", "/asyncapi")
    assert page.status == 200
    assert "wskit demo chat" in page.text
    assert "message.send" in page.text
    assert 'href="/asyncapi.json"' in page.text


# --- handshake policies -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "name", "status"),
    [
        ("http://evil.example", "alice", 403),
        ("http://127.0.0.1:8000.evil.io", "alice", 403),
        (None, "alice", 403),  # browsers always send an Origin
        (ORIGIN, "", 401),
        (ORIGIN, "   ", 401),
        (ORIGIN, "x" * 33, 401),
        (ORIGIN, "bad\x00name", 401),
    ],
)
async def test_refused_handshakes(
    client: TestClient, origin: str | None, name: str, status: int
) -> None:
    headers = {"origin": origin} if origin else {}
    with pytest.raises(WebSocketDenied) as denied:
        async with client.websocket_connect("/ws", query_string={"name": name}, headers=headers):
            pass  # pragma: no cover
    assert denied.value.status == status


async def test_the_other_allowed_origin_and_a_trimmed_name(client: TestClient) -> None:
    async with client.websocket_connect(
        "/ws", query_string={"name": "  Zoë  "}, headers={"origin": "http://localhost:8000"}
    ) as conn:
        hello = await conn.receive_json()
        assert hello["payload"]["name"] == "Zoë"
        assert hello["payload"]["max_rooms"] == MAX_ROOMS


async def test_origin_check_can_be_off() -> None:
    async with (
        TestClient(create_app(DemoConfig(origins=None))) as client,
        client.websocket_connect("/ws", query_string={"name": "script"}) as conn,
    ):
        assert (await conn.receive_json())["type"] == "session"


# --- the chat ---------------------------------------------------------------------------


async def test_two_people_chat_in_a_room(client: TestClient) -> None:
    async with chat(client, "alice") as alice, chat(client, "bob") as bob:
        history, presence = await join(alice, "lobby")
        assert history == {"type": "history", "payload": {"room": "lobby", "messages": []}}
        assert names(presence) == ["alice"]
        _, presence = await join(bob, "lobby")
        assert names(presence) == ["alice", "bob"]
        assert names(await receive(alice, "presence")) == ["alice", "bob"]

        await request(alice, "message.send", {"room": "lobby", "text": "hi <b>bob</b>"}, 2)
        found = await collect(alice, "message.new", "message.sent")
        sent, reply = found["message.new"], found["message.sent"]
        assert reply["id"] == 2
        new = await receive(bob, "message.new")
        assert new == sent
        payload = new["payload"]
        assert payload["text"] == "hi <b>bob</b>"
        assert (payload["room"], payload["name"], payload["sid"]) == ("lobby", "alice", alice.sid)  # type: ignore[attr-defined]
        assert reply["payload"] == {"room": "lobby", "id": payload["id"], "ts": payload["ts"]}

        stats = await client.http("GET", "/stats.json")
        assert stats.text == '{"connections":2,"messages":1}'

        await request(bob, "typing", {"room": "lobby", "active": True}, 3)
        typing = await receive(alice, "typing")
        assert typing["payload"] == {
            "room": "lobby",
            "active": True,
            "sid": bob.sid,  # type: ignore[attr-defined]
            "name": "bob",
        }
    assert (await client.http("GET", "/stats.json")).text == '{"connections":0,"messages":1}'


async def test_history_on_join_and_presence_on_leave(client: TestClient) -> None:
    async with chat(client, "alice") as alice:
        await join(alice, "lobby")
        for n in range(5):
            await request(alice, "message.send", {"room": "lobby", "text": f"m{n}"}, 10 + n)
            if n < 3:  # the burst is 3, then 0.01 a second
                await receive(alice, "message.sent", skip=("message.new",))
        errors = [await receive(alice, "error", skip=("message.new",)) for _ in range(2)]
        assert [e["payload"]["code"] for e in errors] == ["rate_limited", "rate_limited"]
        assert [e["id"] for e in errors] == [13, 14]
        async with chat(client, "bob") as bob:
            history, _ = await join(bob, "lobby")
            texts = [m["text"] for m in history["payload"]["messages"]]
            assert texts == ["m0", "m1", "m2"]
            presence = await receive(alice, "presence", skip=("message.new",))
            assert names(presence) == ["alice", "bob"]
            await request(bob, "room.leave", {"room": "lobby"}, 2)
            assert await receive(bob, "room.left", skip=("presence",)) == {
                "type": "room.left",
                "payload": {"room": "lobby"},
                "id": 2,
            }
            assert names(await receive(alice, "presence")) == ["alice"]
            await join(bob, "lobby", 3)
            assert names(await receive(alice, "presence")) == ["alice", "bob"]
        # bob's connection ended: he leaves every room
        assert names(await receive(alice, "presence")) == ["alice"]


async def test_left_rooms_deliver_nothing(client: TestClient) -> None:
    async with chat(client, "alice") as alice, chat(client, "bob") as bob:
        await join(alice, "lobby")
        await join(bob, "lobby")
        await receive(alice, "presence")
        await join(alice, "other", 2)
        await request(alice, "room.leave", {"room": "lobby"}, 3)
        await receive(alice, "room.left", skip=("presence",))
        await request(bob, "message.send", {"room": "lobby", "text": "only bob sees this"}, 4)
        await receive(bob, "message.sent", skip=("presence", "message.new"))
        await request(alice, "message.send", {"room": "other", "text": "next"}, 5)
        new = await receive(alice, "message.new", skip=("message.sent",))
        assert new["payload"]["text"] == "next"
        # leaving a room one is not in, and joining one twice, are harmless
        await request(alice, "room.leave", {"room": "lobby"}, 6)
        assert (await receive(alice, "room.left", skip=("message.sent",)))["id"] == 6
        await request(alice, "room.join", {"room": "other"}, 7)
        assert (await receive(alice, "room.joined"))["id"] == 7


@pytest.mark.parametrize(
    ("kind", "payload", "code"),
    [
        ("message.send", {"room": "nowhere", "text": "hello"}, "not_in_room"),
        ("message.send", {"room": "lobby", "text": "   \n"}, "empty_message"),
        ("message.send", {"room": "lobby", "text": ""}, "invalid_payload"),
        ("message.send", {"room": "lobby", "text": "x" * 2001}, "invalid_payload"),
        ("room.join", {"room": "Not A Room"}, "invalid_payload"),
        ("room.join", {"room": "lobby", "extra": 1}, "invalid_payload"),
        ("nonsense", {}, "unknown_operation"),
    ],
)
async def test_bad_requests_get_an_error_reply(
    client: TestClient, kind: str, payload: object, code: str
) -> None:
    async with chat(client, "alice") as alice:
        await join(alice, "lobby")
        await request(alice, kind, payload, 9)
        error = await receive(alice, "error")
        assert error["payload"]["code"] == code
        assert error["id"] == 9
        # the connection stays open
        await request(alice, "room.leave", {"room": "lobby"}, 10)
        assert (await receive(alice, "room.left", skip=("presence",)))["id"] == 10


async def test_a_connection_is_in_a_bounded_number_of_rooms(client: TestClient) -> None:
    async with chat(client, "alice") as alice:
        for n in range(MAX_ROOMS):
            await join(alice, f"room-{n}", n)
        await request(alice, "room.join", {"room": "one-too-many"}, 99)
        error = await receive(alice, "error")
        assert error["payload"]["code"] == "too_many_rooms"


async def test_typing_news_is_not_repeated_and_needs_the_room(client: TestClient) -> None:
    async with chat(client, "alice") as alice, chat(client, "bob") as bob:
        await join(alice, "lobby")
        await join(bob, "lobby")
        await receive(alice, "presence")
        for active in (True, True, True, False):
            await request(bob, "typing", {"room": "lobby", "active": active}, None)
        await request(bob, "typing", {"room": "elsewhere", "active": True}, None)
        await request(bob, "message.send", {"room": "lobby", "text": "done"}, 5)
        seen = [await alice.receive_json() for _ in range(3)]
        assert [(e["type"], e["payload"].get("active")) for e in seen] == [
            ("typing", True),
            ("typing", False),
            ("message.new", None),
        ]


class FlakyStore(MemoryStore):
    """A memory store that fails like an unreachable Redis while ``down`` is set."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable("the store is down")

    async def join(self, room: str, member: Member) -> Presence:
        self._check()
        return await super().join(room, member)

    async def leave(self, room: str, member: Member) -> Presence:
        self._check()
        return await super().leave(room, member)

    async def add_message(self, message: ChatMessage) -> None:
        self._check()
        await super().add_message(message)


async def test_a_store_outage_is_an_error_reply_not_a_crash() -> None:
    store = FlakyStore()
    async with (
        TestClient(create_app(DemoConfig(), store=store)) as client,
        chat(client, "alice") as alice,
    ):
        await join(alice, "lobby")
        store.down = True
        await request(alice, "room.join", {"room": "other"}, 2)
        error = await receive(alice, "error")
        assert (error["payload"]["code"], error["id"]) == ("unavailable", 2)
        await request(alice, "message.send", {"room": "lobby", "text": "lost"}, 3)
        assert (await receive(alice, "error"))["payload"]["code"] == "unavailable"
        # the failed join left nothing behind
        await request(alice, "message.send", {"room": "other", "text": "never joined"}, 4)
        assert (await receive(alice, "error"))["payload"]["code"] == "not_in_room"
        store.down = False
        await join(alice, "other", 5)
        store.down = True
        await request(alice, "room.leave", {"room": "lobby"}, 6)
        assert (await receive(alice, "room.left"))["id"] == 6
        # the connection ends while the store is down (leaving "other" fails): nothing raised


async def test_the_chat_needs_its_lifespan() -> None:
    chat_server = create_app().chat
    with pytest.raises(RuntimeError, match="not running"):
        _ = chat_server.hub
    with pytest.raises(RuntimeError, match="not running"):
        _ = chat_server.store


async def test_favicon(client: TestClient) -> None:
    icon = await client.http("GET", "/favicon.ico")
    assert icon.status == 200
    assert icon.headers["content-type"] == "image/svg+xml"
    assert icon.body.startswith(b"<svg")


def test_worker_processes_import_the_app_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import msgspec

    import wskit.demo.app as module

    config = DemoConfig(origins=("http://example.com:1",), history=4)
    monkeypatch.setenv(CONFIG_ENV, msgspec.json.encode(config).decode())
    monkeypatch.setattr(module, "_app", None)
    app = module.app
    assert isinstance(app, DemoApp)
    assert app.chat.config == config
    assert module.app is app
    with pytest.raises(AttributeError, match="nothing"):
        _ = module.nothing


async def test_room_changes_are_rate_limited(client: TestClient) -> None:
    async with chat(client, "alice") as alice:
        for n in range(15):  # 30 room changes against a burst of 20 (and 5 more a second)
            await request(alice, "room.join", {"room": "lobby"}, 2 * n)
            await request(alice, "room.leave", {"room": "lobby"}, 2 * n + 1)
        replies: dict[int, Envelope] = {}
        while len(replies) < 30:
            envelope: Envelope = await alice.receive_json()
            if envelope["type"] in ("room.joined", "room.left", "error"):
                replies[envelope["id"]] = envelope
        errors = [rid for rid, e in sorted(replies.items()) if e["type"] == "error"]
        assert errors
        assert all(replies[rid]["payload"]["code"] == "rate_limited" for rid in errors)
        assert min(errors) >= 19  # the first 20 changes were served
