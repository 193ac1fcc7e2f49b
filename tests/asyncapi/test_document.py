"""The AsyncAPI document: valid against the official 3.0.0 schema, and true to the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.routing import Route as StarletteRoute
from starlette.routing import WebSocketRoute as StarletteWebSocketRoute

from wskit.asyncapi import ASYNCAPI_VERSION, build
from wskit.asyncapi.schema import SchemaSet, normalise
from wskit.contrib.starlette import WebSocketRoute
from wskit.operations import OperationRouter

from .sample import Author, Bare, Box, ChatMessage, Circle, Drawing, Echo, app, chat, health, ops

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def document(**options: Any) -> dict[str, Any]:
    return build(
        app,
        title="Chat service",
        version="2.1.0",
        description="Rooms, drawings and a feed.",
        servers=["wss://chat.example.com/ws", "ws://localhost:8000"],
        **options,
    )


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_the_document_is_valid_against_the_official_schema() -> None:
    doc = document()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    assert errors == []
    assert doc["asyncapi"] == ASYNCAPI_VERSION == "3.0.0"


def test_the_validator_is_not_a_rubber_stamp() -> None:
    doc = document()
    doc["operations"]["chat.send"]["action"] = "publish"
    doc["components"]["schemas"]["Drawing"]["properties"]["shapes"]["items"]["discriminator"] = {
        "propertyName": "type"
    }
    assert len(list(VALIDATOR.iter_errors(doc))) == 2


def test_every_reference_resolves() -> None:
    doc = document()
    all_refs = refs(doc)
    assert len(all_refs) > 40
    for ref in all_refs:
        assert ref.startswith("#/")
        resolve(doc, ref)


def test_channels_addresses_and_parameters() -> None:
    doc = document()
    channels = doc["channels"]
    assert list(channels) == ["rooms.room", "users.user_id.feed", "echo", "health"]
    assert channels["rooms.room"]["address"] == "/rooms/{room}"
    assert channels["rooms.room"]["parameters"] == {
        "room": {"description": "Path parameter (string)."}
    }
    assert channels["users.user_id.feed"]["address"] == "/users/{user_id}/feed"
    assert channels["users.user_id.feed"]["parameters"]["user_id"]["description"] == (
        "Path parameter (integer)."
    )
    assert channels["rooms.room"]["description"] == "Every operation of the service."
    assert channels["echo"]["description"] == "Echoes text frames back, upper-cased."
    assert channels["health"]["description"] == "A plain handler: accepts and closes."
    assert channels["health"]["messages"] == {}


def test_operations_replies_and_pushes() -> None:
    doc = document()
    operations = doc["operations"]
    send = operations["chat.send"]
    assert send["action"] == "receive"
    assert send["channel"] == {"$ref": "#/channels/rooms.room"}
    assert send["messages"] == [{"$ref": "#/channels/rooms.room/messages/chat.send"}]
    assert send["reply"]["messages"] == [{"$ref": "#/channels/rooms.room/messages/chat.sent"}]
    assert send["summary"] == "Post a message to the room."
    assert "Everyone in the room receives it" in send["description"]
    assert send["tags"] == [{"name": "chat"}, {"name": "write"}]
    assert "reply" not in operations["chat.typing"]
    assert operations["chat.message"]["action"] == "send"
    assert "reply" not in operations["chat.message"]
    ping = operations["chat.ping"]
    assert ping["action"] == "send"
    assert ping["reply"]["messages"] == [{"$ref": "#/channels/rooms.room/messages/chat.ping.reply"}]
    assert operations["whoami"]["reply"]["messages"] == [
        {"$ref": "#/channels/rooms.room/messages/you_are"}
    ]
    assert operations["error"]["action"] == "send"
    assert operations["failure"]["channel"] == {"$ref": "#/channels/users.user_id.feed"}
    assert operations["Echo.receive"]["action"] == "receive"
    assert operations["Echo.send"]["action"] == "send"
    assert operations["echo.error"]["channel"] == {"$ref": "#/channels/echo"}
    assert doc["info"]["tags"] == [{"name": "chat"}, {"name": "write"}]


def test_messages_describe_the_whole_envelope() -> None:
    doc = document()
    messages = doc["channels"]["rooms.room"]["messages"]
    send = messages["chat.send"]["payload"]
    assert send["required"] == ["type", "payload"]
    assert send["properties"]["type"] == {"type": "string", "const": "chat.send"}
    assert send["properties"]["payload"] == {"$ref": "#/components/schemas/ChatSend"}
    assert list(send["properties"]) == ["type", "payload", "id"]
    # No payload, or an optional one: the payload field may be left out.
    assert messages["chat.typing"]["payload"]["required"] == ["type"]
    assert messages["chat.history"]["payload"]["required"] == ["type"]
    # A push carries no correlation id; a server request does.
    assert "id" not in messages["chat.message"]["payload"]["properties"]
    assert "id" in messages["chat.ping"]["payload"]["properties"]
    error = messages["error"]["payload"]
    assert error["required"] == ["type", "payload", "id"]
    assert error["properties"]["payload"] == {"$ref": "#/components/schemas/ErrorPayload"}
    feed = doc["channels"]["users.user_id.feed"]["messages"]["subscribe"]["payload"]
    assert list(feed["properties"]) == ["kind", "data", "ref"]
    assert feed["properties"]["data"] == {"type": "array", "items": {"type": "string"}}
    echo = doc["channels"]["echo"]["messages"]
    assert echo["Echo.in"]["payload"] == {"type": "string"}


def wire(value: object) -> Any:
    """``value`` as it looks on the wire (tuples become lists)."""
    return msgspec.json.decode(msgspec.json.encode(value))


def envelope_validator(doc: dict[str, Any], channel: str, message: str) -> jsonschema.Validator:
    schema = {
        **doc["channels"][channel]["messages"][message]["payload"],
        "components": doc["components"],
    }
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize(
    ("message", "value", "valid"),
    [
        ("chat.draw", {"type": "chat.draw", "payload": wire(Drawing("d", [Circle(1.0)]))}, True),
        (
            "chat.draw",
            {"type": "chat.draw", "payload": {"name": "d", "shapes": [], "origin": [1.0, 2.0]}},
            True,
        ),
        (
            "chat.draw",
            {"type": "chat.draw", "payload": {"name": "d", "shapes": [], "origin": [1.0]}},
            False,
        ),
        ("chat.draw", {"type": "chat.draw", "payload": {"name": "", "shapes": []}}, False),
        (
            "chat.draw",
            {"type": "chat.draw", "payload": {"name": "d", "shapes": [{"type": "hexagon"}]}},
            False,
        ),
        ("chat.draw", {"type": "chat.send", "payload": {"name": "d", "shapes": []}}, False),
        ("chat.send", {"type": "chat.send", "payload": {"text": "hi"}, "id": 3}, True),
        ("chat.send", {"type": "chat.send", "payload": {"text": "hi"}, "id": 1.5}, False),
        ("chat.typing", {"type": "chat.typing"}, True),
        (
            "chat.message",
            {"type": "chat.message", "payload": wire(ChatMessage(1, "x", Author("a")))},
            True,
        ),
        (
            "chat.presence",
            {"type": "chat.presence", "payload": {"user": "u", "online": True}},
            True,
        ),
        ("chat.presence", {"type": "chat.presence", "payload": {"user": "u"}}, False),
    ],
)
def test_the_documented_schemas_accept_real_messages(message: str, value: Any, valid: bool) -> None:
    validator = envelope_validator(document(), "rooms.room", message)
    assert validator.is_valid(value) is valid


async def test_the_documented_error_envelope_matches_what_the_router_sends() -> None:
    from wskit.testing import TestClient

    doc = document()
    validator = envelope_validator(doc, "rooms.room", "error")
    async with TestClient(app) as client, client.websocket_connect("/rooms/a") as conn:
        await conn.send_json({"type": "chat.send", "payload": {"text": 1}, "id": 2})
        reply = await conn.receive_json()
    assert reply["payload"]["code"] == "invalid_payload"
    validator.validate(reply)


def test_a_router_view_or_handler_alone() -> None:
    doc = build(ops, title="t", version="1", path="/ws")
    assert list(doc["channels"]) == ["ws"]
    assert doc["channels"]["ws"]["address"] == "/ws"
    assert VALIDATOR.is_valid(doc)
    doc = build(Echo, title="t", version="1")
    assert list(doc["channels"]) == ["root"]
    assert VALIDATOR.is_valid(doc)
    doc = build(health, title="t", version="1")
    assert doc["operations"] == {}
    assert "components" not in doc
    assert "servers" not in doc
    with pytest.raises(TypeError, match="cannot document"):
        build(42, title="t", version="1")


def test_starlette_apps_and_mounts() -> None:
    async def raw(websocket: Any) -> None: ...

    async def page(request: Any) -> Any: ...

    starlette = Starlette(
        routes=[
            WebSocketRoute("/chat/{room}", chat),
            Mount("/v1/{tenant}", routes=[WebSocketRoute("/rooms/{room:int}", ops)]),
            StarletteWebSocketRoute("/raw", raw),
            StarletteRoute("/page", page),
            WebSocketRoute("/x/{id}", Bare),
            WebSocketRoute("/x.id", Bare),
        ]
    )
    doc = build(starlette, title="t", version="1")
    assert [c["address"] for c in doc["channels"].values()] == [
        "/chat/{room}",
        "/v1/{tenant}/rooms/{room}",
        "/raw",
        "/x/{id}",
        "/x.id",
    ]
    assert list(doc["channels"])[-2:] == ["x.id", "x.id_2"]
    assert "description" not in doc["channels"]["x.id"]
    assert set(doc["channels"]["v1.tenant.rooms.room"]["parameters"]) == {"tenant", "room"}
    # Operation keys used by two channels get the channel's name.
    assert "chat.send" in doc["operations"]
    assert "v1.tenant.rooms.room.chat.send" in doc["operations"]
    assert VALIDATOR.is_valid(doc)


def test_servers() -> None:
    doc = document()
    assert doc["servers"] == {
        "default": {"host": "chat.example.com", "protocol": "wss", "pathname": "/ws"},
        "server2": {"host": "localhost:8000", "protocol": "ws"},
    }
    custom = build(ops, title="t", version="1", servers={"prod": {"host": "x", "protocol": "wss"}})
    assert custom["servers"] == {"prod": {"host": "x", "protocol": "wss"}}
    with pytest.raises(ValueError, match="server URL"):
        build(ops, title="t", version="1", servers=["http://example.com"])


def test_keys_are_sanitised_and_unique() -> None:
    router = OperationRouter()

    @router.on("odd/name:x", reply="odd/name:x.out")
    async def odd() -> int:
        return 1

    @router.on("root.odd_name_x")
    async def dotted() -> None: ...

    @router.on("odd_name_x")
    async def clash() -> None: ...

    @router.on("echo", reply="echo")
    async def echo(payload: str) -> str:
        return payload

    doc = build(router, title="t", version="1")
    assert set(doc["operations"]) == {
        "odd_name_x",
        "root.odd_name_x",
        "root.odd_name_x_2",
        "echo",
        "error",
    }
    assert doc["operations"]["echo"]["reply"]["messages"] == doc["operations"]["echo"]["messages"]
    assert set(doc["channels"]["root"]["messages"]) == {
        "odd_name_x",
        "odd_name_x.out",
        "root.odd_name_x",
        "message.odd_name_x",
        "echo",
        "error",
    }
    assert VALIDATOR.is_valid(doc)


def test_normalise_translates_2020_12_to_draft_07() -> None:
    source = {
        "type": "object",
        "properties": {
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}], "items": False},
            "open": {"type": "array", "prefixItems": [{"type": "integer"}]},
            "ref": {"$ref": "#/components/schemas/A", "description": "doc"},
            "$ref": {"type": "string"},
        },
        "$defs": {"X": {"dependentRequired": {"a": ["b"]}}},
        "discriminator": {"propertyName": "kind", "mapping": {}},
        "enum": [{"$ref": "not a schema"}],
    }
    assert normalise(source) == {
        "type": "object",
        "properties": {
            "pair": {"type": "array", "items": [{"type": "integer"}], "additionalItems": False},
            "open": {"type": "array", "items": [{"type": "integer"}]},
            "ref": {"allOf": [{"$ref": "#/components/schemas/A"}], "description": "doc"},
            "$ref": {"type": "string"},
        },
        "definitions": {"X": {"dependencies": {"a": ["b"]}}},
        "discriminator": "kind",
        "enum": [{"$ref": "not a schema"}],
    }


def test_schema_set_shares_components_and_keeps_valid_names() -> None:
    schemas = SchemaSet()
    schemas.add([Box[int], Box[int], None, int])
    schemas.build()
    assert schemas.schema(Box[int]) == {"$ref": "#/components/schemas/Box_int_"}
    assert schemas.schema(None) == {"type": "null"}
    assert schemas.schema(int) == {"type": "integer"}
    assert set(schemas.components) == {"Box_int_"}


def test_unsupported_payload_types_are_reported() -> None:
    router = OperationRouter()

    @router.on("bad", payload=object)
    async def bad(payload: Any) -> None: ...

    with pytest.raises(TypeError):
        build(router, title="t", version="1")
