"""What the docs promise beyond the happy path, checked: a Redis blip, the AsyncAPI command.

``tests/test_docs_examples.py`` runs every example as the page shows it; these tests run two of
them through what a reader meets next: Redis going away under tutorial 6's rooms, and
``wskit asyncapi`` on tutorial 4's app.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

import anyio
import pytest

from wskit.testing import TestClient

from ._services import timeout
from .test_docs_examples import EXAMPLES, load


async def test_tutorial_04_cli_prints_the_served_document(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``wskit asyncapi tutorial_04_operations:app`` prints what the app serves."""
    from wskit.asyncapi.cli import main

    mod = load("tutorial_04_operations")
    async with TestClient(mod.app) as client:
        served = (await client.http("GET", "/asyncapi.json")).json()
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delitem(sys.modules, "tutorial_04_operations", raising=False)
    assert main(["tutorial_04_operations:app"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == served
    assert printed["info"]["title"] == "Chat"  # not the module path, as it was
    assert main(["tutorial_04_operations:app", "--api-version", "2.0.0"]) == 0
    overridden = json.loads(capsys.readouterr().out)
    assert overridden["info"]["version"] == "2.0.0"
    assert overridden["servers"] == served["servers"]


class _OnRecord(logging.Handler):
    """Call ``callback`` when a record whose message contains ``text`` is logged."""

    def __init__(self, text: str, callback: Callable[[], object]) -> None:
        super().__init__()
        self.text = text
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.callback()


@pytest.mark.redis
async def test_tutorial_06_survives_a_redis_blip(caplog: pytest.LogCaptureFixture) -> None:
    """Redis dies under a room: the sender is told, the connection stays, one readable line."""
    from tests.pubsub.conftest import running_redis

    caplog.set_level(logging.INFO, logger="wskit")
    mod = load("tutorial_06_redis")
    with running_redis() as redis:
        app = mod.build_app(redis.url)
        async with TestClient(app) as client, client.websocket_connect("/rooms/r/ada") as ada:
            assert await ada.receive_json() == {"joined": "r"}
            link_down = anyio.Event()
            watch = _OnRecord("link is down", link_down.set)  # the backend's own loop logs it
            logging.getLogger("wskit").addHandler(watch)
            try:
                redis.kill()
                with anyio.fail_after(timeout(10)):  # the backend notices the link went down
                    await link_down.wait()
            finally:
                logging.getLogger("wskit").removeHandler(watch)
            for text in ("hello?", "still open"):  # publish fails at once; the handler goes on
                await ada.send_text(text)
                assert await ada.receive_json() == {"room": "r", "user": "ada", "text": text}
                assert await ada.receive_json() == {"undelivered": text}

    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    (record,) = [r for r in caplog.records if "link is down" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "\n" not in record.getMessage()
    assert "ExceptionGroup" not in record.getMessage()
    assert record.exc_info is None
