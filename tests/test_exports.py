"""``wskit.__all__``: every name imports and is the object its submodule exports."""

from __future__ import annotations

import importlib

import pytest

import wskit

SUBMODULES = [
    "wskit.codecs",
    "wskit.connection",
    "wskit.exceptions",
    "wskit.limits",
    "wskit.status",
]


def test_all_names_import() -> None:
    for name in wskit.__all__:
        assert getattr(wskit, name) is not None, name
    assert len(set(wskit.__all__)) == len(wskit.__all__)


def test_all_is_sorted_like_ruff_wants() -> None:
    assert list(wskit.__all__) == sorted(wskit.__all__, key=lambda n: (not n.isupper(), n))


@pytest.mark.parametrize("module_name", SUBMODULES)
def test_submodule_all_names_exist(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name}"


def test_top_level_names_come_from_the_submodules() -> None:
    owners: dict[str, object] = {}
    for module_name in SUBMODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            owners.setdefault(name, getattr(module, name))
    for name in wskit.__all__:
        if name in owners:
            assert getattr(wskit, name) is owners[name], name


def test_core_names_are_exported() -> None:
    core = {"WebSocket", "Limits", "JSON", "MSGPACK", "Codec", "JSONCodec", "MsgPackCodec"}
    core |= set(importlib.import_module("wskit.exceptions").__all__)
    missing = core - set(wskit.__all__)
    assert not missing, f"add to wskit/__init__.py: {sorted(missing)}"


def test_websocket_state_is_starlettes() -> None:
    from starlette.websockets import WebSocketState

    assert wskit.WebSocketState is WebSocketState
