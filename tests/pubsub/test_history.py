"""History entries: frames and values, with the built-in codecs or one passed in."""

from __future__ import annotations

import msgspec
import pytest

from wskit.codecs import JSONCodec
from wskit.pubsub import HistoryEntry
from wskit.pubsub._wire import BINARY, ENCODED_BINARY, ENCODED_TEXT, TEXT
from wskit.pubsub.history import MemoryHistory


class Point(msgspec.Struct):
    x: int


def test_frames_and_values() -> None:
    assert HistoryEntry("1", "t", TEXT, "", b"hi").frame == "hi"
    assert HistoryEntry("1", "t", BINARY, "", b"\x00").value() == b"\x00"
    encoded = HistoryEntry("1", "t", ENCODED_TEXT, "json", b'{"x":1}')
    assert encoded.value(Point) == Point(1)
    packed = HistoryEntry("1", "t", ENCODED_BINARY, "msgpack", msgspec.msgpack.encode({"x": 2}))
    assert packed.frame == msgspec.msgpack.encode({"x": 2})
    assert packed.value(Point) == Point(2)
    custom = HistoryEntry("1", "t", ENCODED_TEXT, "custom", b'{"x":3}')
    with pytest.raises(LookupError, match="custom"):
        custom.value(Point)
    assert custom.value(Point, codec=JSONCodec()) == Point(3)


def test_memory_ring_buffer() -> None:
    history = MemoryHistory()
    ids = [history.append("t", b"%d" % i, 3) for i in range(5)]
    assert [data for _, data in history.range("t", None, None)] == [b"2", b"3", b"4"]
    assert history.range("t", ids[3], None) == [(ids[4], b"4")]
    history.append("t", b"5", 10)  # a larger bound keeps what is there
    assert len(history.range("t", None, None)) == 4
    assert history.range("t", None, 1) == [(ids[2], b"2")]
    with pytest.raises(ValueError):
        history.range("t", "not-an-id", None)
