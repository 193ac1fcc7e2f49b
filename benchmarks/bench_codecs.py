"""How fast do the codecs encode and decode one chat message, against stdlib json and pydantic?

One seeded ~150-byte chat message (``benchmarks/_data.py``), encoded and decoded by:

* msgspec JSON with a cached ``Encoder``/``Decoder(Chat)`` (the baseline: what wskit's
  ``JSONCodec`` calls), and through ``wskit.codecs.JSON`` itself (``encode``/``decode``, one
  Python call and a dictionary lookup more), and the ``decoder(Chat)`` function it caches;
* msgspec MessagePack (``MsgPackCodec``'s calls), to Struct and to ``dict``;
* stdlib ``json`` (``dumps``/``loads``, untyped: it only builds dicts);
* pydantic v2 (``model_dump_json``/``model_validate_json``, typed).

Read "vs. baseline" as throughput relative to cached msgspec JSON; untyped decoders skip
validation, so they are not like for like with the typed ones.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import msgspec

from benchmarks._data import Chat, ChatModel, chat_dicts, chat_json, chat_models, chats
from benchmarks._harness import Case, Options, run
from wskit.codecs import JSON, MSGPACK


def cases(options: Options) -> list[Case]:
    """Encode and decode cases for the first seeded message."""
    chat = chats(1)[0]
    model = chat_models(1)[0]
    as_dict = chat_dicts(1)[0]
    text = chat_json(1)[0]
    data = text.encode()
    packed = msgspec.msgpack.encode(chat)

    json_encode = msgspec.json.Encoder().encode
    json_decode = msgspec.json.Decoder(Chat).decode
    pack = msgspec.msgpack.Encoder().encode
    unpack = msgspec.msgpack.Decoder(Chat).decode
    unpack_any = msgspec.msgpack.Decoder().decode
    cached: Any = JSON.decoder(Chat)

    # Every contender must produce the same message. (Codec.decode is called through Any: its
    # annotation loses the type argument, see tests/typing/check_api.py.)
    codec_decode: Any = JSON.decode
    assert json_decode(data) == codec_decode(text, Chat) == unpack(packed) == chat
    assert ChatModel.model_validate_json(data) == model
    assert json.loads(text) == as_dict

    encode = "encode"
    decode = "decode"
    return [
        Case("msgspec JSON Encoder", json_encode, chat, group=encode, baseline=True),
        Case("wskit JSON.encode", JSON.encode, chat, group=encode),
        Case("wskit JSON.encode_frame (str)", JSON.encode_frame, chat, group=encode),
        Case("msgspec MessagePack Encoder", pack, chat, group=encode),
        Case("wskit MSGPACK.encode", MSGPACK.encode, chat, group=encode),
        Case("stdlib json.dumps (dict)", json.dumps, as_dict, group=encode),
        Case("pydantic model_dump_json", model.model_dump_json, group=encode),
        Case("msgspec JSON Decoder(Chat)", json_decode, data, group=decode, baseline=True),
        Case("wskit JSON.decoder(Chat) (cached)", cached, data, group=decode),
        Case("wskit JSON.decode(text, Chat)", lambda t: codec_decode(t, Chat), text, group=decode),
        Case("msgspec MessagePack Decoder(Chat)", unpack, packed, group=decode),
        Case("msgspec MessagePack Decoder() (dict)", unpack_any, packed, group=decode),
        Case("stdlib json.loads (dict)", json.loads, text, group=decode),
        Case("pydantic model_validate_json", ChatModel.model_validate_json, data, group=decode),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    return run(__doc__, cases, argv, name="codecs", unit="op")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
