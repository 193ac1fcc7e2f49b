"""Declaring operations: names, prefixes, include_router, clash detection and injection plans."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from wskit.connection import WebSocket
from wskit.operations import Emit, OperationRouter
from wskit.operations.envelope import EnvelopeFormat, accepts_none, check_name
from wskit.operations.injection import Injected
from wskit.testing import TestClient

from ._helpers import asgi
from .models import ChatMessage, ChatSend, ChatSent, Hub, Ping, Pong


def test_prefixes_apply_to_operations_replies_and_emits() -> None:
    chat = OperationRouter(prefix="chat.", tags=["chat"])

    @chat.on("send", reply="sent", tags=["write"])
    async def send(payload: ChatSend) -> ChatSent:
        """Post a message.

        The message goes to everyone in the room.
        """
        return ChatSent(seq=1)

    chat.emits("message", payload=ChatMessage, summary="A new message.")
    op = chat.operations["chat.send"]
    assert op.reply == "chat.sent"
    assert op.payload is ChatSend
    assert op.reply_payload is ChatSent
    assert op.tags == ("chat", "write")
    assert op.summary == "Post a message."
    assert op.description == "Post a message.\n\nThe message goes to everyone in the room."
    assert [name for name, _ in op.plan.params] == ["payload"]
    assert list(chat.emitted) == ["chat.message"]
    assert chat.emitted["chat.message"].tags == ("chat",)
    assert "chat.send" in repr(chat)


async def test_include_router_with_prefix() -> None:
    chat = OperationRouter(prefix="chat.")

    @chat.on("send", reply="sent")
    async def send(payload: ChatSend) -> ChatSent:
        return ChatSent(seq=7)

    chat.emits("message", payload=ChatMessage)
    inner = OperationRouter()
    inner.emits("deep", payload=int)
    chat.include_router(inner, prefix="in.")
    root = OperationRouter()
    root.include_router(chat, prefix="v1.")
    assert sorted(root.operations) == ["v1.chat.send"]
    assert sorted(root.emitted) == ["v1.chat.in.deep", "v1.chat.message"]
    assert root.alias(chat, "chat.message") == "v1.chat.message"
    assert root.alias(inner, "deep") == "v1.chat.in.deep"
    async with TestClient(asgi(root)) as client, client.websocket_connect("/") as conn:
        await conn.send_json(
            {"type": "v1.chat.send", "payload": {"room": "r", "text": "x"}, "id": 1}
        )
        assert await conn.receive_json() == {
            "type": "v1.chat.sent",
            "payload": {"seq": 7},
            "id": 1,
        }


def test_included_router_is_frozen() -> None:
    child = OperationRouter()
    OperationRouter().include_router(child)
    with pytest.raises(RuntimeError, match="included in another router"):

        @child.on("late")
        async def late() -> None: ...

    with pytest.raises(RuntimeError, match="included"):
        child.emits("late")


async def test_router_is_frozen_after_serving() -> None:
    ops = OperationRouter()
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/"):
        pass
    with pytest.raises(RuntimeError, match="already served a connection"):

        @ops.on("late")
        async def late() -> None: ...


def test_compile_is_lazy_and_rebuilt_after_changes() -> None:
    ops = OperationRouter()

    @ops.on("a")
    async def a() -> None: ...

    first = ops.compile()
    assert ops.compile() is first
    assert first.names == {"a"}

    @ops.on("b")
    async def b() -> None: ...

    assert ops.compile().names == {"a", "b"}


def test_clashes_are_reported_at_registration() -> None:
    ops = OperationRouter()

    @ops.on("chat.send", reply="chat.sent")
    async def send(payload: ChatSend) -> ChatSent:
        return ChatSent(seq=1)

    with pytest.raises(ValueError, match="'chat.send' is already handled by"):

        @ops.on("chat.send")
        async def again(payload: ChatSend) -> None: ...

    with pytest.raises(ValueError, match="already carries"):
        ops.emits("chat.sent", payload=ChatMessage)
    ops.emits("chat.sent", payload=ChatSent)  # the reply's own type: no clash
    ops.emits("x", payload=int)
    with pytest.raises(ValueError, match="already declared"):
        ops.emits("x", payload=int)
    with pytest.raises(ValueError, match="error envelope"):
        ops.emits("error", payload=int)
    other = OperationRouter()

    @other.on("chat.send")
    async def clash(payload: ChatSend) -> None: ...

    before = (dict(ops.operations), dict(ops.emitted))
    with pytest.raises(ValueError, match="already handled"):
        ops.include_router(other)
    assert (dict(ops.operations), dict(ops.emitted)) == before  # all or nothing
    other.emits("new.push", payload=int)  # a failed include leaves the child open
    with pytest.raises(ValueError, match="cannot include itself"):
        ops.include_router(ops)
    with pytest.raises(ValueError, match="envelope"):
        ops.include_router(OperationRouter(type_field="op"))
    emits_only = OperationRouter()
    emits_only.emits("x", payload=int)
    with pytest.raises(ValueError, match="already declared"):
        ops.include_router(emits_only)


def test_same_name_same_payload_is_allowed_and_any_is_compatible() -> None:
    ops = OperationRouter()

    @ops.on("echo", reply="echo")
    async def echo(payload: str) -> str:
        return payload

    @ops.on("free", reply="free.out")
    async def free(payload: int):  # type: ignore[no-untyped-def]
        return payload

    ops.emits("free.out", payload=int)
    ops.emits("echo.push", payload=str)
    assert ops.operations["echo"].reply == "echo"


def test_server_request_reply_names_cannot_be_operations() -> None:
    ops = OperationRouter()
    ops.emits("client.ping", payload=Ping, reply_payload=Pong)
    assert ops.emitted["client.ping"].reply == "client.ping.reply"
    with pytest.raises(ValueError, match="reply to server request"):

        @ops.on("client.ping.reply")
        async def steal(payload: Pong) -> None: ...

    other = OperationRouter()

    @other.on("answer")
    async def answer(payload: Pong) -> None: ...

    with pytest.raises(ValueError, match="is a client-to-server operation"):
        other.emits("ask", payload=Ping, reply="answer", reply_payload=Pong)


def test_emit_is_a_decorator_too() -> None:
    ops = OperationRouter()

    @ops.emits("tick", payload=int)
    async def ticker() -> None: ...

    assert ticker.__name__ == "ticker"
    assert isinstance(ops.emitted["tick"], Emit)
    assert ops.emit_spec("tick") is ops.emitted["tick"]
    assert ops.emit_spec("nope") is None


def test_reply_declarations_must_match_the_handler() -> None:
    ops = OperationRouter()
    with pytest.raises(TypeError, match="declares no reply=name"):

        @ops.on("a")
        async def returns_value() -> int:
            return 1

    with pytest.raises(TypeError, match="declares reply= but returns None"):

        @ops.on("b", reply="b.out")
        async def returns_none() -> None: ...

    @ops.on("c", reply="c.out", reply_payload=int)
    async def overridden() -> Any:
        return 1

    assert ops.operations["c"].reply_payload is int


def test_injection_errors() -> None:
    ops = OperationRouter()
    with pytest.raises(TypeError, match="must be an 'async def'"):
        ops.on("sync")(lambda payload: None)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="cannot inject parameter 'mystery'"):

        @ops.on("x")
        async def unknown(payload: int, mystery) -> None: ...  # type: ignore[no-untyped-def]

    with pytest.raises(TypeError, match="two payload parameters"):

        @ops.on("y")
        async def two(data: int, payload: int) -> None: ...

    with pytest.raises(TypeError, match="cannot resolve the annotations"):

        @ops.on("z")
        async def unresolvable(payload: DoesNotExist) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="cannot inject parameter 'p'"):

        @ops.on("w")
        async def positional_only(payload: int, p=1, /) -> None: ...  # type: ignore[no-untyped-def]


def test_injection_plans() -> None:
    ops = OperationRouter()

    @ops.on("a", payload=ChatSend)
    async def untyped(data, ws: WebSocket, *args: Any, skipped: int = 3, **kwargs: Any) -> None: ...  # type: ignore[no-untyped-def]

    plan = ops.operations["a"].plan
    assert plan.params == (("data", Injected.PAYLOAD), ("ws", Injected.WS))
    assert ops.operations["a"].payload is ChatSend

    @ops.on("b")
    async def annotated(ws: Annotated[WebSocket, "meta"], n: int = 3, *, router: Any) -> None: ...

    plan = ops.operations["b"].plan
    assert plan.params == (
        ("ws", Injected.WS),
        ("n", Injected.PAYLOAD),
        ("router", Injected.ROUTER),
    )
    assert plan.payload_default == 3

    @ops.on("c")
    async def skip_then_keyword(payload: int, flag: Any = None, id: Any = None) -> None: ...

    assert ops.operations["c"].plan.params == (("payload", Injected.PAYLOAD), ("id", Injected.ID))

    class Callable_:
        async def __call__(self, payload: int) -> None: ...

    ops.on("d")(Callable_())
    assert ops.operations["d"].payload is int

    @ops.on("e")
    async def with_hub(h: Hub) -> None: ...

    assert ops.operations["e"].plan.params == (("h", Injected.HUB),)


async def test_keyword_arguments_after_a_skipped_parameter_are_passed_by_name() -> None:
    ops = OperationRouter()
    got: list[object] = []

    @ops.on("c")
    async def skip_then_keyword(payload: int, flag: Any = "default", id: Any = None) -> None:
        got.append((payload, flag, id))

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "c", "payload": 1, "id": "i"})
        await conn.close()
    assert got == [(1, "default", "i")]


def test_names_are_validated() -> None:
    assert check_name("chat.send:v1/x-y_z") == "chat.send:v1/x-y_z"
    with pytest.raises(TypeError, match="must be a str"):
        check_name(3)
    for bad in ("", "has space", "emoji😀", "quote'"):
        with pytest.raises(ValueError, match="must be non-empty"):
            check_name(bad)
    with pytest.raises(ValueError, match="prefix"):
        OperationRouter(prefix="bad prefix")
    with pytest.raises(ValueError, match="prefix"):
        OperationRouter().include_router(OperationRouter(), prefix="bad prefix")
    with pytest.raises(ValueError, match="idle_timeout"):
        OperationRouter(idle_timeout=0)
    with pytest.raises(ValueError, match="max_lifespan"):
        OperationRouter(max_lifespan=-1)


def test_envelope_format() -> None:
    fmt = EnvelopeFormat(type_field="op")
    assert fmt == EnvelopeFormat(type_field="op")
    assert fmt != EnvelopeFormat()
    assert fmt != "op"
    assert hash(fmt) == hash(EnvelopeFormat(type_field="op"))
    assert "type_field='op'" in repr(fmt)
    with pytest.raises(ValueError, match="distinct"):
        EnvelopeFormat(type_field="x", payload_field="x")
    with pytest.raises(ValueError, match="distinct"):
        EnvelopeFormat(id_field="")
    struct = fmt.tagged("a", int, outbound=True)
    assert msgspec.json.encode(struct(1)) == b'{"op":"a","payload":1}'
    assert msgspec.json.encode(struct(1, "x")) == b'{"op":"a","payload":1,"id":"x"}'
    assert fmt.probe(b'{"op": 3, "id": [1]}', False) == (3, [1])
    assert fmt.probe(msgspec.msgpack.encode({"op": "a"}), True) == ("a", None)


def test_accepts_none() -> None:
    assert accepts_none(None)
    assert accepts_none(type(None))
    assert accepts_none(Any)
    assert accepts_none(int | None)
    assert not accepts_none(int)
    assert not accepts_none(ChatSend)
