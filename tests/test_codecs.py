"""Codecs: encode/decode round trips, hooks, cached decoders, error translation."""

from __future__ import annotations

import decimal
from typing import Any

import msgspec
import pytest

from tests._upstream import passed_through
from wskit.codecs import JSON, MSGPACK, Codec, JSONCodec, MsgPackCodec, translate_decode_error
from wskit.exceptions import DecodeError, ValidationError


class Item(msgspec.Struct):
    name: str
    qty: int


class Order(msgspec.Struct):
    id: int
    items: list[Item]


ORDER = Order(7, [Item("tea", 2), Item("cake", 1)])


def test_singletons() -> None:
    assert isinstance(JSON, JSONCodec)
    assert isinstance(MSGPACK, MsgPackCodec)
    assert (JSON.name, JSON.binary) == ("json", False)
    assert (MSGPACK.name, MSGPACK.binary) == ("msgpack", True)


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
def test_round_trip(codec: Codec) -> None:
    data = codec.encode(ORDER)
    assert isinstance(data, bytes)
    # Typed through Any: Codec.decode's signature loses T (tests/typing/check_api.py shows it).
    decode: Any = codec.decode
    assert decode(data, Order) == ORDER
    assert codec.decode(data) == msgspec.to_builtins(ORDER)


def test_encode_frame_kind() -> None:
    assert JSON.encode_frame({"a": "é"}) == '{"a":"é"}'
    assert MSGPACK.encode_frame({"a": 1}) == msgspec.msgpack.encode({"a": 1})


def test_json_decodes_str_and_bytes() -> None:
    assert JSON.decode('{"id": 1, "items": []}', Order) == Order(1, [])
    assert JSON.decode(b'{"id": 1, "items": []}', Order) == Order(1, [])


def test_decoders_are_cached_per_type() -> None:
    codec = JSONCodec()
    first: object = codec.decoder(Order)
    assert codec.decoder(Order) is first
    assert codec.decoder(list[int]) is codec.decoder(list[int])
    other: object = codec.decoder(list[int])
    assert other is not first
    assert codec.decoder() is codec.decoder(Any)


def test_caches_are_per_codec() -> None:
    assert JSONCodec().decoder(Order) is not JSONCodec().decoder(Order)


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgspec"])
@pytest.mark.parametrize("tp", [object(), 3, list[int] | tuple[int, ...], [int]])
def test_unsupported_types(codec: Codec, tp: Any) -> None:
    with pytest.raises(TypeError, match=f"is not supported by the {codec.name} codec"):
        codec.decoder(tp)


def test_hooks() -> None:
    def enc_hook(obj: Any) -> Any:
        if isinstance(obj, complex):
            return [obj.real, obj.imag]
        raise NotImplementedError

    def dec_hook(tp: type, obj: Any) -> Any:
        if tp is complex:
            return complex(*obj)
        raise NotImplementedError

    for codec in (
        JSONCodec(enc_hook=enc_hook, dec_hook=dec_hook),
        MsgPackCodec(enc_hook=enc_hook, dec_hook=dec_hook),
    ):
        data = codec.encode({"z": 1 + 2j})
        decode: Any = codec.decode
        assert decode(data, dict[str, complex]) == {"z": 1 + 2j}
    with pytest.raises(TypeError):
        JSON.encode(1 + 2j)


def test_repr() -> None:
    def hook(*args: Any) -> Any:
        return args  # pragma: no cover

    assert repr(JSON) == "JSONCodec()"
    assert repr(MsgPackCodec(enc_hook=hook)) == f"MsgPackCodec(enc_hook={hook!r})"
    assert repr(JSONCodec(dec_hook=hook)) == f"JSONCodec(dec_hook={hook!r})"


def test_base_codec_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Codec()  # type: ignore[abstract]

    class Half(Codec):
        def _make_encoder(self, enc_hook: Any) -> Any:
            return repr

    with pytest.raises(TypeError, match="abstract"):
        Half()  # type: ignore[abstract]


# -- errors -------------------------------------------------------------------------------------


def test_validation_error_keeps_the_path() -> None:
    with pytest.raises(ValidationError) as info:
        JSON.decode(b'{"id": 1, "items": [{"name": "x", "qty": "2"}]}', Order)
    assert info.value.path == "$.items[0].qty"
    assert str(info.value) == passed_through("$.items[0].qty")
    assert info.value.close_code == 1007


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
def test_malformed_is_a_decode_error(codec: Codec) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode(b"\xc1[", Order)
    assert not isinstance(info.value, ValidationError)
    assert str(info.value).startswith("malformed message: ")
    assert info.value.path == "$"


def test_recursion_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        JSON.decode("[" * 100_000 + "]" * 100_000)
    error = translate_decode_error(RecursionError())
    assert type(error) is DecodeError
    assert str(error) == "message is nested too deeply to decode"


def test_translate_without_a_path() -> None:
    error = translate_decode_error(msgspec.ValidationError("Expected `int`, got `str`"))
    assert type(error) is ValidationError
    assert error.path == "$"
    assert str(error) == "Expected `int`, got `str` at $"
    error = translate_decode_error(msgspec.DecodeError("the decoder's reason"))
    assert type(error) is DecodeError
    assert str(error) == "malformed message: the decoder's reason"


def test_translate_with_a_path() -> None:
    error = translate_decode_error(msgspec.DecodeError("JSON is malformed - at `$.a`"))
    assert (type(error), error.path) == (DecodeError, "$.a")
    assert str(error) == "malformed message: JSON is malformed"


def test_decimal_is_native() -> None:
    assert JSON.decode(b'"1.5"', decimal.Decimal) == decimal.Decimal("1.5")
