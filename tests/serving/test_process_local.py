"""``find_process_local`` / ``check_multiprocess_safety``: what ``--workers N`` warns about."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest

from tests.serving import fixture_module
from wskit.server import check_multiprocess_safety, find_process_local


class Local:
    is_process_local = True


class NotLocal:
    is_process_local = "yes"  # only exactly ``True`` counts


class Holder:
    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)

    def method(self) -> None:
        pass


class Slotted:
    __slots__ = ("backend",)

    def __init__(self, backend: object) -> None:
        self.backend = backend


class Hostile:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("no attributes for you")


def test_attribute_paths_are_reported() -> None:
    app = Holder(hub=Holder(backend=Local()), name="app")
    assert find_process_local(app) == ["app.hub.backend (Local)"]


def test_containers_methods_partials_slots_and_closures() -> None:
    local = Local()

    def handler() -> object:
        return local

    app = Holder(
        routes=[("/", {"backend": local})],
        bound=Holder(state=local).method,
        partial=functools.partial(print, local),
        slotted=Slotted(local),
        closure=handler,
    )
    # One object reached by several paths is reported once, by the shortest path.
    assert find_process_local(app) == ["app.partial.args[0] (Local)"]
    for attr in ("bound", "partial", "slotted", "closure"):
        assert len(find_process_local(getattr(app, attr))) == 1, attr


def test_module_globals_named_by_the_app() -> None:
    found = find_process_local(fixture_module.app)
    assert found == ["app.<global backend> (LocalBackend)"]
    module_found = find_process_local(object(), module=fixture_module.__name__)
    assert module_found == [f"{fixture_module.__name__}.backend (LocalBackend)"]


def test_safe_apps_and_odd_objects() -> None:
    cycle = Holder()
    cycle.__dict__["self"] = cycle
    assert find_process_local(cycle) == []
    assert find_process_local(Holder(x=NotLocal(), h=Hostile(), n=None, s="str")) == []
    assert find_process_local(object(), module="not.imported.module") == []


def test_check_logs_and_prints_a_warning(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING, logger="wskit.server")
    found = check_multiprocess_safety(Holder(backend=Local()))
    assert found == ["app.backend (Local)"]
    assert "pub/sub messages do not cross workers" in caplog.text
    assert "app.backend (Local)" in capsys.readouterr().err


def test_check_is_silent_for_safe_apps(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_multiprocess_safety(Holder(backend=NotLocal())) == []
    assert caplog.records == []
    assert capsys.readouterr().err == ""


def test_a_memory_hub_used_by_a_handler_is_found() -> None:
    from wskit.app import App
    from wskit.connection import WebSocket
    from wskit.pubsub.hub import Hub

    hub = Hub()  # the in-memory backend by default
    app = App()

    @app.websocket("/chat")
    async def chat(ws: WebSocket) -> None:  # pragma: no cover - never served
        await hub.publish("room", "hello")

    [found] = find_process_local(app)
    assert found.endswith(".handler.<closure hub> (Hub)")
