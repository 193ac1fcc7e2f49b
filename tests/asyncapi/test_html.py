"""The HTML page: everything a client author needs, readable offline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from wskit.asyncapi import build, render_html
from wskit.asyncapi.html import CDN_URL

from .sample import app


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a" and attributes.get("href"):
            self.links.append(str(attributes["href"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    parser.close()
    return parser


def doc() -> dict[str, Any]:
    return build(
        app,
        title="Chat <service>",
        version="2.1.0",
        description="Rooms & drawings.",
        servers={"prod": {"host": "chat.example.com", "protocol": "wss", "description": "Live"}},
    )


def test_the_page_shows_operations_fields_and_examples() -> None:
    page = render_html(doc())
    parsed = parse(page)
    text = " ".join(parsed.text)
    # Title, escaped; servers; channel addresses and parameters.
    assert "Chat &lt;service&gt;" in page
    assert "Rooms &amp; drawings." in page
    assert "wss://chat.example.com" in text
    assert "/rooms/{room}" in text
    assert "/users/{user_id}/feed" in text
    assert "Path parameter (integer)." in text
    # Operations in both directions, with their replies and descriptions.
    for name in (
        "chat.send",
        "chat.sent",
        "chat.draw",
        "chat.message",
        "chat.ping",
        "chat.ping.reply",
        "subscribe",
    ):
        assert name in text, name
    assert "Client → server" in text
    assert "Server → client" in text
    assert "Post a message to the room." in text
    # Payload field names, with nested types linked to their schemas.
    for field in (
        "text",
        "reply_to",
        "shapes",
        "origin",
        "layer",
        "radius",
        "side",
        "nonce",
        "code",
    ):
        assert f"<code>{field}</code>" in page, field
    assert "What the drawing is called." in text
    assert "required" in text
    # Examples: a JSON envelope for chat.send, with the example value from the schema.
    assert '"type": "chat.send"' in page.replace("&quot;", '"')
    assert '"text": "hello"' in page.replace("&quot;", '"')
    # Every internal link lands on an anchor of the page.
    internal = [link[1:] for link in parsed.links if link.startswith("#")]
    assert internal
    assert set(internal) <= parsed.ids
    assert "schema-Drawing" in parsed.ids


def test_the_page_works_offline() -> None:
    page = render_html(doc())
    parsed = parse(page)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "link", "img", "iframe")]
    assert not re.search(r"(src|href)=\"https?:", page)
    assert "<style>" in page
    assert 'href="asyncapi.json"' in page
    assert 'href="asyncapi.json"' not in render_html(doc(), json_url=None)


def test_the_cdn_option_loads_the_official_renderer() -> None:
    document = doc()
    document["info"]["description"] = "</script><script>alert(1)</script>"
    page = render_html(document, cdn=True)
    assert CDN_URL in page
    assert "AsyncApiStandalone.render" in page
    assert "</script><script>alert(1)" not in page


def test_minimal_documents_render() -> None:
    page = render_html({"asyncapi": "3.0.0", "info": {"title": "Empty", "version": "0"}})
    assert "Empty" in page
    odd = {
        "info": {"title": "x", "version": "1"},
        "channels": {"c": {"address": None, "parameters": {"p": {}}}},
        "operations": {
            "o": {
                "action": "receive",
                "channel": {"$ref": "#/channels/c"},
                "messages": [{"$ref": "#/components/messages/m"}],
                "description": "only a description",
                "tags": [{"name": "t"}],
            }
        },
        "components": {
            "messages": {"m": {"$ref": "#/components/messages/real"}, "real": {"payload": _ODD}},
            "schemas": {"Plain": {"type": "string", "description": "just a string"}, "Free": True},
        },
    }
    page = render_html(odd)
    assert "only a description" in page
    assert "just a string" in page


_ODD: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tuple": {
            "type": "array",
            "items": [{"type": "integer"}, {"type": "string", "format": "date"}],
        },
        "list": {"type": "array"},
        "map": {"type": "object", "additionalProperties": {"type": "integer"}},
        "multi": {"type": ["string", "null"]},
        "all": {"allOf": [{"type": "integer"}, {"minimum": 1}]},
        "one": {"oneOf": [{"type": "null"}, {"type": "boolean"}]},
        "only_null": {"anyOf": [{"type": "null"}]},
        "enum": {"enum": ["a", "b"]},
        "examples": {"type": "number", "examples": [1.5]},
        "default": {"type": "integer", "default": 7},
        "nested": {"type": "object", "properties": {"deep": {"type": "boolean"}}},
        "anything": {},
        "bool_schema": True,
    },
}


def test_examples_and_type_labels_cover_json_schema_shapes() -> None:
    from wskit.asyncapi.html import _example, _type_label

    document = {"components": {"schemas": {"Self": {"$ref": "#/components/schemas/Self"}}}}
    example = _example(document, _ODD)
    assert example == {
        "tuple": [0, "string"],
        "list": [],
        "map": {},
        "multi": "string",
        "all": 0,
        "one": True,
        "only_null": None,
        "enum": "a",
        "examples": 1.5,
        "default": 7,
        "nested": {"deep": True},
        "anything": None,
        "bool_schema": None,
    }
    assert _example(document, {"$ref": "#/components/schemas/Self"}) is None  # bounded recursion
    labels = {name: _type_label(sub) for name, sub in _ODD["properties"].items()}
    assert labels["tuple"] == "integer, string <span class=muted>(date)</span>".join(["[", "]"])
    assert labels["list"] == "array"
    assert labels["map"] == "map of integer"
    assert labels["multi"] == "string | null"
    assert labels["all"] == "integer &amp; any"
    assert labels["enum"] == "one of <code>&quot;a&quot;</code>, <code>&quot;b&quot;</code>"
    assert labels["bool_schema"] == "any"
