"""Handshake policies: origins, authentication, subprotocols, connection caps, hostile input."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from tests.app.conftest import Records, echo, rewrite_scope
from wskit._types import Scope
from wskit.app import App
from wskit.app.routing import Route
from wskit.codecs import JSON, MSGPACK
from wskit.connection import WebSocket
from wskit.exceptions import Denied, WebSocketDisconnect
from wskit.policies import (
    INHERIT,
    Handshake,
    OriginPolicy,
    RouteOptions,
    SubprotocolPolicy,
    parse_origin,
)
from wskit.testing import TestClient, WebSocketDenied

ALLOWED = "https://app.example.com"

# -- origins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("https://app.example.com", ("https", "app.example.com", None)),
        ("HTTPS://APP.Example.COM", ("https", "app.example.com", None)),
        ("https://app.example.com:443", ("https", "app.example.com", None)),
        ("https://app.example.com:8443", ("https", "app.example.com", 8443)),
        ("http://app.example.com:80", ("http", "app.example.com", None)),
        ("wss://app.example.com:443", ("wss", "app.example.com", None)),
        ("ws://localhost:8000", ("ws", "localhost", 8000)),
        ("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000)),
        ("http://[::1]:8000", ("http", "[::1]", 8000)),
        ("http://[0:0::1]", ("http", "[::1]", None)),
        ("chrome-extension://abcdef", ("chrome-extension", "abcdef", None)),
        ("https://xn--bcher-kva.example", ("https", "xn--bcher-kva.example", None)),
    ],
)
def test_parse_origin(value: str, parsed: tuple[str, str, int | None]) -> None:
    assert parse_origin(value) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "null",
        "",
        "app.example.com",
        "://app.example.com",
        "1http://app.example.com",
        "ht tp://app.example.com",
        "https://",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com?q",
        "https://app.example.com#f",
        "https://user@app.example.com",
        "https://app.example.com:",
        "https://app.example.com:0",
        "https://app.example.com:65536",
        "https://app.example.com:123456",
        "https://app.example.com:8a",
        "https://app.example.com:\u0661\u0662",  # Arabic-Indic digits
        "https://app.example.com:-1",
        "https://app.example.com:1:2",
        "https://app.example.com\t",
        "https://app.example.com ",
        "https://app.example.com https://other.example",
        "https://b\u00fccher.example",  # Unicode in a header: browsers send punycode
        "http://[::1",
        "http://[::1]x",
        "http://[::1]:",
        "http://[not-ip]",
        "https://app.exa\x00mple.com",
        "https://\u0430pp.example.com",  # Cyrillic 'a'
    ],
)
def test_parse_origin_invalid(value: str) -> None:
    assert parse_origin(value) is None


def test_parse_origin_idna_for_configuration() -> None:
    assert parse_origin("https://B\u00fccher.example", idna=True) == (
        "https",
        "xn--bcher-kva.example",
        None,
    )
    assert parse_origin("https://" + "\u00fc" * 70 + ".example", idna=True) is None
    # IDNA 2003 would turn these into other names (strasse.de, example.com): refused.
    assert parse_origin("https://stra\u00dfe.de", idna=True) is None
    assert parse_origin("https://\uff45xample.com", idna=True) is None
    with pytest.raises(ValueError, match="not an origin"):
        OriginPolicy(["https://stra\u00dfe.de"])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (ALLOWED, True),
        ("https://APP.EXAMPLE.COM", True),
        ("https://app.example.com:443", True),
        ("https://app.example.com.evil.io", False),
        ("https://evil-app.example.com", False),
        ("https://evilapp.example.com", False),
        ("https://app.example.co", False),
        ("https://example.com", False),
        ("http://app.example.com", False),
        ("wss://app.example.com", False),
        ("https://app.example.com:8443", False),
        ("https://app.example.com/", False),
        ("https://app.example.com.", False),
        ("https://app-example.com", False),
        ("https://appxexample.com", False),  # a regex "." would match this
        ("null", False),
        (None, False),
    ],
)
def test_origin_policy(origin: str | None, allowed: bool) -> None:
    policy = OriginPolicy([ALLOWED, "http://localhost:8000"])
    assert policy.allows(origin) is allowed


def test_origin_policy_configuration() -> None:
    policy = OriginPolicy(["https://B\u00fccher.example"], allow_missing=True)
    assert policy.allows("https://xn--bcher-kva.example")
    assert policy.allows(None)
    assert repr(policy) == "OriginPolicy(['https://B\u00fccher.example'], allow_missing=True)"
    with pytest.raises(TypeError):
        OriginPolicy(ALLOWED)
    for bad in ("https://app.example.com/", "*", "app.example.com", 42):
        with pytest.raises(ValueError, match="not an origin"):
            OriginPolicy([bad])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([("origin", ALLOWED)], None),
        ([("origin", "https://APP.example.com:443")], None),
        ([("origin", "https://app.example.com.evil.io")], 403),
        ([("origin", "https://evil-app.example.com")], 403),
        ([], 403),
        ([("origin", ALLOWED), ("origin", ALLOWED)], 403),
        ([("origin", b"https://app.example.com\xff")], 403),
        ([("origin", b"\xc3\x28")], 403),
    ],
)
async def test_origin_through_app(
    headers: list[tuple[str, str | bytes]], status: int | None
) -> None:
    app = App(origins=[ALLOWED])
    app.add_route("/ws", echo)
    client = TestClient(app)
    if status is None:
        async with client.websocket_connect("/ws", headers=headers) as conn:
            await conn.send_text("ok")
            assert await conn.receive_text() == "ok"
        return
    with pytest.raises(WebSocketDenied) as info:
        async with client.websocket_connect("/ws", headers=headers):
            pass  # pragma: no cover
    assert info.value.status == status
    assert info.value.body == b"origin not allowed"


async def test_route_list_form_overrides() -> None:
    app = App([Route("/open", echo, origins=None), Route("/ws", echo)], origins=[ALLOWED])
    client = TestClient(app)
    async with client.websocket_connect("/open", headers={"origin": "https://evil.io"}):
        pass
    with pytest.raises(WebSocketDenied):
        async with client.websocket_connect("/ws", headers={"origin": "https://evil.io"}):
            pass  # pragma: no cover


async def test_origin_allow_missing_and_route_override() -> None:
    app = App(origins=OriginPolicy([ALLOWED], allow_missing=True))
    app.add_route("/ws", echo)
    app.add_route("/strict", echo, origins=[ALLOWED])
    app.add_route("/open", echo, origins=None)
    client = TestClient(app)
    async with client.websocket_connect("/ws"):
        pass
    async with client.websocket_connect("/open", headers={"origin": "https://evil.io"}):
        pass
    with pytest.raises(WebSocketDenied):
        async with client.websocket_connect("/strict"):
            pass  # pragma: no cover
    with pytest.raises(WebSocketDenied):
        async with client.websocket_connect("/ws", headers={"origin": "https://evil.io"}):
            pass  # pragma: no cover


# -- authentication -----------------------------------------------------------------------------


async def authenticate(ws: WebSocket) -> object:
    token = ws.query_params.get("token")
    if token == "forbidden":
        raise Denied(403, "not for you", {"x-reason": "banned"})
    if token == "boom":
        raise RuntimeError("database down: secret-dsn")
    return {"name": token} if token else None


async def whoami(ws: WebSocket) -> None:
    async with ws:
        await ws.send_json(ws.state.user)


async def test_auth_identity_on_state() -> None:
    app = App(authenticate=authenticate)
    app.add_route("/me", whoami)
    async with TestClient(app).websocket_connect("/me?token=ann") as conn:
        assert await conn.receive_json() == {"name": "ann"}


@pytest.mark.parametrize(
    ("query", "status", "body", "header"),
    [
        ("", 401, b"authentication required", None),
        ("token=forbidden", 403, b"not for you", "banned"),
        ("token=boom", 500, b"internal server error", None),
    ],
)
async def test_auth_refusals(
    records: Records, query: str, status: int, body: bytes, header: str | None
) -> None:
    app = App(authenticate=authenticate)
    app.add_route("/me", whoami)
    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/me", query_string=query):
            pass  # pragma: no cover
    assert info.value.status == status
    assert info.value.body == body
    assert info.value.headers.get("x-reason") == header
    errors = records.errors
    if status == 500:
        assert len(errors) == 1
        assert errors[0].name == "wskit.app"
        assert errors[0].exc_info is not None
    else:
        assert errors == []


async def test_auth_refusal_without_denial_extension() -> None:
    app = App(authenticate=authenticate)
    app.add_route("/me", whoami)
    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/me", denial_response=False):
            pass  # pragma: no cover
    assert info.value.status == 403


async def test_auth_route_override() -> None:
    app = App(authenticate=authenticate)
    app.add_route("/public", echo, authenticate=None)
    app.add_route("/me", whoami)
    client = TestClient(app)
    async with client.websocket_connect("/public"):
        pass
    with pytest.raises(WebSocketDenied):
        async with client.websocket_connect("/me"):
            pass  # pragma: no cover


async def test_auth_uses_scope_path_not_host() -> None:
    """Routing and auth follow ``scope["path"]``; a crafted Host cannot move a request."""
    checked: list[str] = []

    async def guard(ws: WebSocket) -> object:
        checked.append(ws.scope["path"])
        return None

    app = App()
    app.add_route("/admin", echo, authenticate=guard)
    app.add_route("/public", echo)
    client = TestClient(app)
    for host in ("evil.io/public", "evil.io/public?", "evil.io/public#", "[::1"):
        with pytest.raises(WebSocketDenied) as info:
            async with client.websocket_connect("/admin", headers={"host": host}):
                pass  # pragma: no cover
        assert info.value.status == 401
    assert checked == ["/admin"] * 4
    async with client.websocket_connect("/public", headers={"host": "evil.io/admin"}):
        pass
    assert len(checked) == 4


# -- subprotocols -------------------------------------------------------------------------------


async def codec_probe(ws: WebSocket) -> None:
    async with ws:
        await ws.send_data({"codec": ws.codec.name, "subprotocol": ws.subprotocol})


CODECS = {"wskit.json": JSON, "wskit.msgpack": MSGPACK}


@pytest.mark.parametrize(
    ("offer", "chosen", "binary"),
    [
        (["wskit.msgpack", "wskit.json"], "wskit.msgpack", True),
        (["wskit.json", "wskit.msgpack"], "wskit.json", False),
        (["other", "wskit.msgpack"], "wskit.msgpack", True),
        (["other"], None, False),
        ([], None, False),
    ],
)
async def test_subprotocol_picks_codec(offer: list[str], chosen: str | None, binary: bool) -> None:
    app = App(subprotocols=CODECS)
    app.add_route("/ws", codec_probe)
    async with TestClient(app).websocket_connect("/ws", subprotocols=offer) as conn:
        assert conn.accepted_subprotocol == chosen
        message = await conn.receive()
    if binary:
        assert MSGPACK.decode(message["bytes"]) == {"codec": "msgpack", "subprotocol": chosen}
    else:
        assert JSON.decode(message["text"]) == {"codec": "json", "subprotocol": chosen}


async def test_subprotocol_list_keeps_codec_and_plain_accept() -> None:
    async def plain(ws: WebSocket) -> None:
        await ws.accept(ws.subprotocol)
        await ws.send_data([ws.codec.name])

    app = App(subprotocols=["chat.v2", "chat.v1"], codec=MSGPACK)
    app.add_route("/ws", plain)
    async with TestClient(app).websocket_connect("/ws", subprotocols=["chat.v1"]) as conn:
        assert conn.accepted_subprotocol == "chat.v1"
        assert MSGPACK.decode(await conn.receive_bytes()) == ["msgpack"]


async def test_require_subprotocol() -> None:
    app = App(subprotocols=CODECS, require_subprotocol=True)
    app.add_route("/ws", codec_probe)
    app.add_route("/lenient", codec_probe, require_subprotocol=False)
    app.add_route("/own", codec_probe, subprotocols=["v9"])
    client = TestClient(app)
    with pytest.raises(WebSocketDenied) as info:
        async with client.websocket_connect("/ws", subprotocols=["nope"]):
            pass  # pragma: no cover
    assert info.value.status == 400
    async with client.websocket_connect("/lenient", subprotocols=["nope"]) as conn:
        assert conn.accepted_subprotocol is None
    async with client.websocket_connect("/own", subprotocols=["wskit.json", "v9"]) as conn:
        assert conn.accepted_subprotocol == "v9"
    with pytest.raises(WebSocketDenied):
        async with client.websocket_connect("/own"):
            pass  # pragma: no cover


def test_subprotocol_policy_configuration() -> None:
    policy = SubprotocolPolicy(["a", "b"])
    assert policy.names == ("a", "b")
    assert not policy.require
    assert policy.replace(require=True).require
    assert repr(policy) == "SubprotocolPolicy(['a', 'b'], require=False)"
    with pytest.raises(TypeError):
        SubprotocolPolicy("a")
    for bad in ([], ["a b"], [""], ["a,b"], ["\u00e9"], [3]):
        with pytest.raises(ValueError, match="subprotocol"):
            SubprotocolPolicy(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "offered",
    [
        "missing",
        None,
        "wskit.json",
        42,
        [b"wskit.json"],
        [["wskit.json"]],
        [{"a": 1}],
        ["\udcff\x00", "x" * 10_000],
    ],
)
async def test_hostile_subprotocol_offers(offered: Any) -> None:
    def change(scope: Scope) -> None:
        if offered == "missing":
            del scope["subprotocols"]
        else:
            scope["subprotocols"] = offered

    app = App(subprotocols=CODECS)
    app.add_route("/ws", codec_probe)
    async with TestClient(rewrite_scope(app, change)).websocket_connect("/ws") as conn:
        assert conn.accepted_subprotocol is None
        assert JSON.decode((await conn.receive())["text"])["codec"] == "json"


# -- max connections ----------------------------------------------------------------------------


async def test_max_connections_deny() -> None:
    app = App(max_connections=2)
    app.add_route("/ws", echo)
    client = TestClient(app)
    async with client.websocket_connect("/ws"), client.websocket_connect("/ws"):
        assert len(app.connections) == 2
        with pytest.raises(WebSocketDenied) as info:
            async with client.websocket_connect("/ws"):
                pass  # pragma: no cover
        assert info.value.status == 503
    assert len(app.connections) == 0
    async with client.websocket_connect("/ws"):
        pass


async def test_max_connections_close() -> None:
    app = App(max_connections=1, on_overload="close")
    app.add_route("/ws", echo)
    client = TestClient(app)
    async with client.websocket_connect("/ws"), client.websocket_connect("/ws") as second:
        with pytest.raises(WebSocketDisconnect, match="1013"):
            await second.receive_text()
        assert second.close_code == 1013


async def test_max_connections_close_client_gone() -> None:
    """Over the cap with ``on_overload="close"``, a client that already left gets nothing."""
    app = App(max_connections=1, on_overload="close")
    app.add_route("/ws", echo)

    async def gone(scope: Any, receive: Any, send: Any) -> None:
        async def receive_gone() -> dict[str, Any]:
            return {"type": "websocket.disconnect", "code": 1001}

        await app(scope, receive_gone, send)

    async with TestClient(app).websocket_connect("/ws"):
        with pytest.raises(WebSocketDenied) as info:
            async with TestClient(gone).websocket_connect("/ws"):
                pass  # pragma: no cover
        assert info.value.status == 500  # returned without answering: what a server reports


def test_registry_configuration() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        App(max_connections=0)
    with pytest.raises(ValueError, match="on_overload"):
        App(on_overload="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drain_timeout"):
        App(drain_timeout=0)


# -- hostile handshakes -------------------------------------------------------------------------


def _headers(scope: dict[str, Any], extra: list[Any]) -> None:
    scope["headers"] = list(scope["headers"]) + extra


HOSTILE = {
    "non-utf8 header values": lambda s: _headers(
        s, [(b"origin", b"https://app.example.com\xff\xfe"), (b"cookie", b"\xff=\xfe")]
    ),
    "non-utf8 header names": lambda s: _headers(s, [(b"\xff\xfe", b"x")]),
    "malformed host": lambda s: _headers(s, [(b"host", b"[::1")]),
    "host with path": lambda s: s.update(
        headers=[(k, v) for k, v in s["headers"] if k != b"host"] + [(b"host", b"a/b?c#d")]
    ),
    "hundreds of headers": lambda s: _headers(
        s, [(b"x-h%d" % i, b"v" * 100) for i in range(500)] + [(b"origin", b"null")] * 50
    ),
    "headers that are not pairs": lambda s: _headers(s, [(b"origin",), "oops", 3, (1, 2)]),
    "headers not a list": lambda s: s.update(headers=None),
    "odd path": lambda s: s.update(path="/ws/../../etc/passwd"),
    "nul in path": lambda s: s.update(path="/ws\x00"),
    "surrogates in path": lambda s: s.update(path="/ws\udcff"),
    "newline in path": lambda s: s.update(path="/ws\n"),
    "long path": lambda s: s.update(path="/" + "a" * 100_000),
    "missing path": lambda s: s.pop("path"),
    "bytes path": lambda s: s.update(path=b"/ws"),
    "root_path not a prefix": lambda s: s.update(root_path="/zzz"),
    "subprotocols missing": lambda s: s.pop("subprotocols"),
    "subprotocols garbage": lambda s: s.update(subprotocols=[b"\xff", None, 1.5]),
    "query of garbage": lambda s: s.update(query_string=b"\xff\xfe=%%%&&=="),
}


@pytest.mark.parametrize("change", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_hostile_handshake_never_raises(records: Records, change: Any) -> None:
    app = App(
        origins=OriginPolicy([ALLOWED], allow_missing=True),
        subprotocols=CODECS,
        authenticate=lambda ws: _allow(ws),
        max_connections=10,
    )
    app.add_route("/ws", echo)
    client = TestClient(rewrite_scope(app, change))
    denied: WebSocketDenied | None = None
    try:
        async with client.websocket_connect("/ws") as conn:
            await conn.send_text("still fine")
            assert await conn.receive_text() == "still fine"
    except WebSocketDenied as exc:
        denied = exc
    assert denied is None or denied.status in (403, 404)
    assert records.errors == []


async def _allow(ws: WebSocket) -> object:
    await anyio.lowlevel.checkpoint()
    return "someone"


# -- handshake object ---------------------------------------------------------------------------


def test_handshake_resolution() -> None:
    base = Handshake(
        origins=[ALLOWED], subprotocols=SubprotocolPolicy(["a"], require=True), codec=MSGPACK
    )
    assert base.enabled
    assert base.require_subprotocol
    assert base.override(None) is base
    assert base.override(RouteOptions()) is base
    assert base.override(RouteOptions(origins=INHERIT, codec=INHERIT)) is base
    same = base.override(RouteOptions(authenticate=None))
    assert same.origins is base.origins
    assert same.subprotocols is base.subprotocols
    assert same.codec is MSGPACK
    assert same.enabled
    off = base.override(RouteOptions(origins=None, subprotocols=None, codec=JSON))
    assert not off.enabled
    assert off.codec is JSON
    relaxed = base.override(RouteOptions(require_subprotocol=False))
    assert relaxed.subprotocols is not None
    assert not relaxed.subprotocols.require
    assert not relaxed.require_subprotocol
    assert base.require_subprotocol  # an override never changes its base
    assert not Handshake().enabled
    assert Handshake(limits=None).limits is Handshake().limits
    assert Handshake(codec=INHERIT).codec is JSON
    logging.getLogger("wskit").debug("resolved")
