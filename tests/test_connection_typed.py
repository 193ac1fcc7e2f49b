"""Typed receive (the casting table and msgspec types), pair/expect, iter_data, codecs."""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path
from typing import Any, Literal, Optional, TypedDict

import msgspec
import pytest

from tests._asgi_pair import ASGIPair, accepted
from tests._upstream import passed_through
from wskit.codecs import MSGPACK, JSONCodec
from wskit.connection import Limits
from wskit.exceptions import (
    DecodeError,
    UnexpectedMessage,
    ValidationError,
    WebSocketDisconnect,
    WebSocketDisconnected,
)

SLOW = Limits(receive_timeout=5.0)
BOTH = pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])


class Chat(msgspec.Struct):
    user: str
    text: str
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class Ping(msgspec.Struct, tag="ping"):
    n: int


class Pong(msgspec.Struct, tag="pong"):
    n: int


# -- view.py casting ------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("tp", "frame", "value"),
    [
        (str, "héllo", "héllo"),
        (str, "", ""),
        (str, b"h\xc3\xa9", "hé"),
        (str, b"", ""),
        (bytes, b"\x00\xff", b"\x00\xff"),
        (bytes, "hé", b"h\xc3\xa9"),
        (bytes, "", b""),
        (int, "42", 42),
        (int, "-7", -7),
        (int, "+3", 3),
        (int, "007", 7),
        (int, b"12", 12),
        (int, "9" * 4000, int("9" * 4000)),
        (bool, "true", True),
        (bool, "True", True),
        (bool, "false", False),
        (bool, "False", False),
        (bool, "0", False),
        (bool, "1", True),
        (bool, "42", True),
        (bool, b"true", True),
        (dict, '{"a": 1}', {"a": 1}),
        (dict, "{}", {}),
        (dict, msgspec.msgpack.encode({"a": [1]}), {"a": [1]}),
    ],
)
async def test_casting(limits: Limits, tp: type, frame: str | bytes, value: object) -> None:
    pair, ws = await accepted(limits=limits)
    if isinstance(frame, str):
        pair.text(frame)
    else:
        pair.binary(frame)
    got: object = await ws.receive(tp)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("tp", "text"),
    [
        (int, "1_000"),
        (int, " 1"),
        (int, "1 "),
        (int, "1.0"),
        (int, ""),
        (int, "-"),
        (int, "abc"),
        (int, "٣"),  # a non-ASCII digit that int() would accept
        (int, "1" * 4301),
        (bool, "yes"),
        (bool, "TRUE"),
        (bool, "-1"),
        (bool, ""),
        (bool, "1" * 4301),
        (dict, "[1]"),
        (dict, '"x"'),
    ],
)
async def test_casting_rejections_keep_the_connection(tp: type, text: str) -> None:
    pair, ws = await accepted()
    pair.text(text, "1")
    with pytest.raises(ValidationError) as info:
        await ws.receive(tp)
    assert info.value.close_code == 1007
    assert len(str(info.value)) < 200  # long input is previewed, not echoed whole
    assert await ws.receive(str) == "1"
    assert not ws.closed


@pytest.mark.parametrize("tp", [str, int, bool])
async def test_invalid_utf8_in_a_binary_frame(tp: type) -> None:
    pair, ws = await accepted()
    pair.binary(b"\xff\xfe", b"1")
    with pytest.raises(DecodeError, match=r"^binary frame is not valid UTF-8: .+ at byte 0$"):
        await ws.receive(tp)
    assert await ws.receive(tp) == tp("1") if tp is not bool else True


@pytest.mark.parametrize("tp", [int | str, Any])
async def test_invalid_utf8_inside_messagepack(tp: Any) -> None:
    # A MessagePack string whose bytes are not UTF-8 (the fuzzer found msgspec raising
    # UnicodeDecodeError here): a DecodeError, and the next message decodes.
    pair, ws = await accepted()
    pair.binary(b"\xa3\x00\x00\x80", msgspec.msgpack.encode("ok"))
    with pytest.raises(DecodeError, match=r"^malformed message: \S") as raised:
        await ws.receive(tp)
    assert type(raised.value) is DecodeError  # malformed, not a ValidationError
    assert await ws.receive(int | str) == "ok"


# -- one rule for the scalars and their Literal/Optional forms -------------------------------------

DOCS_TABLE = Path(__file__).resolve().parent.parent / "docs" / "tutorial" / "02-typed-messages.md"
NAMES: dict[str, object] = {
    "str": str,
    "bytes": bytes,
    "int": int,
    "float": float,
    "bool": bool,
    "dict": dict,
    "None": None,
    "Literal": Literal,
}


def casting_rows() -> list[tuple[str, list[str], list[str]]]:
    """The rows of the casting tables in tutorial part 2: ``(tp, accepted, refused)``.

    Each example is a frame's text in backticks; the test below sends each one.
    """
    text = DOCS_TABLE.read_text(encoding="utf-8")
    section = text.split("## Plain values: one casting rule", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `") or line.startswith("| `receive(tp)`"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))]
        tp = cells[0].strip("`").replace("\\|", "|")
        rows.append((tp, re.findall(r"`([^`]*)`", cells[1]), re.findall(r"`([^`]*)`", cells[2])))
    return rows


def test_the_casting_tables_are_found() -> None:
    kinds = [row[0] for row in casting_rows()]
    assert {"str", "bytes", "int", "float", "bool", "int | None", "dict"} <= set(kinds)


@pytest.mark.parametrize(
    ("tp", "accepted", "refused"), casting_rows(), ids=[row[0] for row in casting_rows()]
)
async def test_the_casting_tables_of_the_docs_hold(
    tp: str, accepted: list[str], refused: list[str]
) -> None:
    target = eval(tp, {}, NAMES)  # the docs' own spelling of the type
    pair, ws = await accepted_pair()
    for text in accepted:
        pair.text(text)
        await ws.receive(target)
    for text in refused:
        pair.text(text)
        with pytest.raises(DecodeError):  # ValidationError for the scalars: a DecodeError
            await ws.receive(target)
    assert not ws.closed


@pytest.mark.parametrize(
    ("tp", "text", "value"),
    [
        (str, "a", "a"),
        (int, "42", 42),
        (float, "2.5", 2.5),
        (bool, "true", True),
    ],
)
async def test_a_scalar_and_its_literal_and_optional_forms_read_the_same_text(
    tp: type, text: str, value: object
) -> None:
    pair, ws = await accepted_pair()
    optional: list[Any] = [tp | None, Optional[tp]]  # noqa: UP045
    if tp is not float:  # a Literal holds str, int, bool or None only
        optional.append(Literal[value, None])
    forms: list[Any] = [tp, *optional, *([Literal[value]] if tp is not float else [])]
    for form in forms:
        pair.text(text)
        got = await ws.receive(form)
        assert (got, type(got)) == (value, type(value)), form
    for form in optional:
        pair.text("null")
        assert await ws.receive(form) is None, form
    if tp is not str:  # the quoted (JSON) spelling is refused: JSON is not the scalars' rule
        for form in forms:
            pair.text(f'"{text}"')
            with pytest.raises(ValidationError):
                await ws.receive(form)


async def test_a_refused_scalar_says_what_was_expected_at_the_root() -> None:
    pair, ws = await accepted_pair()
    pair.text('"fast"', "😀" * 60)
    with pytest.raises(ValidationError) as info:
        await ws.receive(Literal["fast", "slow"])
    assert str(info.value) == "expected one of fast, slow, got '\"fast\"' at $"
    assert info.value.path == "$"
    with pytest.raises(ValidationError) as info:
        await ws.receive(int)
    assert str(info.value).endswith("... at $")  # a long text is previewed


async def accepted_pair() -> tuple[ASGIPair, Any]:
    return await accepted()


# -- msgspec types --------------------------------------------------------------------------------

TYPED: list[tuple[Any, Any]] = [
    (Chat, Chat("ana", "hi", ["x"])),
    (Point, Point(1, 2)),
    (Movie, Movie(title="Up", year=2009)),
    (list[int], [1, 2, 3]),
    (int | str, "maybe"),
    (Ping | Pong, Pong(3)),
    (tuple[Literal["a", "b"], int], ("b", 1)),  # a Literal inside a container: msgspec's
    (dict[str, float], {"a": 1.5}),
    (datetime.date, datetime.date(2025, 1, 2)),
    (Any, {"anything": [None]}),
]


@BOTH
@pytest.mark.parametrize(("tp", "value"), TYPED)
async def test_typed_receive_from_json_text(limits: Limits, tp: Any, value: Any) -> None:
    pair, ws = await accepted(limits=limits)
    pair.text(msgspec.json.encode(value).decode())
    assert await ws.receive(tp) == value


@BOTH
@pytest.mark.parametrize(("tp", "value"), TYPED)
async def test_typed_receive_from_msgpack_binary(limits: Limits, tp: Any, value: Any) -> None:
    pair, ws = await accepted(limits=limits)
    pair.binary(msgspec.msgpack.encode(value))
    assert await ws.receive(tp) == value


async def test_typed_receive_keyword_form() -> None:
    pair, ws = await accepted()
    pair.text('{"user": "a", "text": "b"}')
    assert await ws.receive(tp=Chat) == Chat("a", "b")


class Untagged(msgspec.Struct):
    n: int


@pytest.mark.parametrize(
    "tp", [object(), [int], 3, list[int] | tuple[int, ...], Chat | Untagged, "Chat"]
)
async def test_unsupported_type_raises_before_anything_is_consumed(tp: Any) -> None:
    pair, ws = await accepted()
    pair.text("1")
    calls = pair.receive_calls
    with pytest.raises(TypeError):
        await ws.receive(tp)
    assert pair.receive_calls == calls
    assert await ws.receive(int) == 1


@BOTH
async def test_value_that_does_not_fit_gives_the_path_and_the_next_receive_works(
    limits: Limits,
) -> None:
    pair, ws = await accepted(limits=limits)
    pair.text('{"user": "a", "text": "b", "tags": ["ok", 5]}')
    pair.binary(msgspec.msgpack.encode({"user": 1, "text": "b"}))
    pair.text('{"user": "a", "text": "fine"}')
    with pytest.raises(ValidationError) as info:
        await ws.receive(Chat)
    assert info.value.path == "$.tags[1]"
    assert str(info.value) == passed_through("$.tags[1]")
    with pytest.raises(ValidationError) as info:
        await ws.receive(Chat)
    assert info.value.path == "$.user"
    assert await ws.receive(Chat) == Chat("a", "fine")
    assert not ws.closed
    assert pair.closes == []


@BOTH
async def test_malformed_payloads_are_decode_errors(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    pair.text("[1, ").binary(b"\xc1").text("[" * 100_000).text("[1]")
    for _ in range(3):
        with pytest.raises(DecodeError) as info:
            await ws.receive(list[Any])
        assert not isinstance(info.value, ValidationError)
    assert await ws.receive(list[Any]) == [1]


async def test_deep_nesting_into_any_does_not_crash() -> None:
    pair, ws = await accepted()
    pair.text("[" * 100_000 + "]" * 100_000)
    pair.binary(b"\x91" * 100_000 + b"\x90")
    for _ in range(2):
        with pytest.raises(DecodeError):
            await ws.receive(Any)


@BOTH
async def test_typed_receive_on_disconnect(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    pair.disconnect(4000, "bye")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive(Chat)
    assert (info.value.code, info.value.reason) == (4000, "bye")
    with pytest.raises(WebSocketDisconnect):
        await ws.receive(int)


async def test_typed_size_limit_applies_to_decoded_types() -> None:
    pair, ws = await accepted(limits=Limits(max_message_size=10))
    pair.text('"' + "é" * 5 + '"')  # 12 bytes
    with pytest.raises(Exception, match="inbound message of 12 bytes"):
        await ws.receive(str | int)
    assert [m["code"] for m in pair.closes] == [1009]


# -- codecs per connection ------------------------------------------------------------------------


async def test_msgpack_connection_receives_both_kinds() -> None:
    pair, ws = await accepted(codec=MSGPACK)
    pair.binary(msgspec.msgpack.encode(Chat("a", "b")))
    pair.text('{"user": "c", "text": "d"}')
    assert await ws.receive(Chat) == Chat("a", "b")
    assert await ws.receive(Chat) == Chat("c", "d")


async def test_custom_json_codec_hooks_are_used() -> None:
    class Celsius:
        def __init__(self, degrees: float) -> None:
            self.degrees = degrees

    def enc_hook(obj: Any) -> Any:
        if isinstance(obj, Celsius):
            return obj.degrees
        raise NotImplementedError  # pragma: no cover

    def dec_hook(tp: type, obj: Any) -> Any:
        if tp is Celsius:
            return Celsius(obj)
        raise NotImplementedError  # pragma: no cover

    codec = JSONCodec(enc_hook=enc_hook, dec_hook=dec_hook)
    pair, ws = await accepted(codec=codec)
    pair.text("[21.5]")
    (got,) = await ws.receive(list[Celsius])
    assert got.degrees == 21.5
    await ws.send_data([Celsius(3.0)])
    assert pair.data == ["[3.0]"]


# -- pair, expect, iter_data ----------------------------------------------------------------------


async def test_pair_sends_then_receives() -> None:
    pair, ws = await accepted()
    pair.text("pong")
    assert await ws.pair("ping") == "pong"
    assert pair.data == ["ping"]


async def test_pair_recv_first_with_a_type() -> None:
    pair, ws = await accepted()
    pair.text('{"user": "a", "text": "q"}')
    got = await ws.pair({"answer": 42}, tp=Chat, recv_first=True)
    assert got == Chat("a", "q")
    assert pair.data == ['{"answer":42}']


async def test_expect() -> None:
    pair, ws = await accepted()
    pair.text("hello", "nope", "after")
    await ws.expect("hello")
    with pytest.raises(UnexpectedMessage) as info:
        await ws.expect("hello")
    assert (info.value.expected, info.value.received) == ("hello", "nope")
    assert "expected 'hello', received 'nope'" in str(info.value)
    # The mismatching message was consumed.
    assert await ws.receive(str) == "after"


async def test_expect_typed_value() -> None:
    pair, ws = await accepted()
    pair.text('{"user": "a", "text": "b"}', "5")
    await ws.expect(Chat("a", "b"))
    await ws.expect(5)


async def test_iter_data() -> None:
    pair, ws = await accepted()
    pair.text("1", "2").binary(b"3").disconnect(4004)
    assert [n async for n in ws.iter_data(int)] == [1, 2, 3]
    assert ws.close_code == 4004


async def test_iter_data_raises_decode_errors_and_can_resume() -> None:
    pair, ws = await accepted()
    pair.text("1", "x", "3").disconnect()
    seen: list[int] = []

    async def drain() -> None:
        async for n in ws.iter_data(int):
            seen.append(n)

    with pytest.raises(ValidationError):
        await drain()
    await drain()
    assert seen == [1, 3]


async def test_receive_raw_is_unchanged_by_typed_calls() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    assert (await ws.receive())["type"] == "websocket.connect"


async def test_typed_size_limit_on_binary_frames() -> None:
    pair, ws = await accepted(limits=Limits(max_message_size=4))
    pair.binary(msgspec.msgpack.encode([1, 2, 3]), msgspec.msgpack.encode([1, 2, 3, 4, 5]))
    assert await ws.receive(list[int]) == [1, 2, 3]
    with pytest.raises(Exception, match="inbound message of 6 bytes"):
        await ws.receive(list[int])
    assert [m["code"] for m in pair.closes] == [1009]


async def test_typed_text_long_in_characters_but_within_the_byte_limit() -> None:
    pair, ws = await accepted(limits=Limits(max_message_size=8))
    pair.text("[1,2,3]")  # 7 characters: over 8 // 4, within 8 bytes
    assert await ws.receive(list[int]) == [1, 2, 3]


async def test_alternating_types_use_the_right_decoders() -> None:
    pair, ws = await accepted()
    pair.text("1", '{"user": "a", "text": "b"}', "2", "[3]", "4")
    assert await ws.receive(int) == 1
    assert await ws.receive(Chat) == Chat("a", "b")
    assert await ws.receive(str) == "2"
    assert await ws.receive(list[int]) == [3]
    assert await ws.receive(int) == 4


async def test_codec_set_after_a_typed_receive_is_used() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    tp = list[int]
    with pytest.raises(WebSocketDisconnected):
        await ws.receive(tp)  # before accept: raises, after looking up JSON's decoder

    class Doubling(JSONCodec):
        def _make_decoder(self, tp: object, dec_hook: Any) -> Any:
            inner = super()._make_decoder(tp, dec_hook)
            return lambda data: [2 * n for n in inner(data)]

    ws.codec = Doubling()
    await ws.accept()
    pair.text("[1]")
    assert await ws.receive(tp) == [2]


async def test_send_data_honours_an_overridden_encode() -> None:
    class Upper(JSONCodec):
        def encode(self, value: object) -> bytes:
            return super().encode(value).upper()

    pair, ws = await accepted(codec=Upper())
    await ws.send_data({"a": "b"})
    assert pair.data == ['{"A":"B"}']
