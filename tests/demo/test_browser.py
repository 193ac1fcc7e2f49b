"""The demo in a real browser: headless Chromium, driven by Playwright, against ``wskit demo``.

Two browser contexts (two users, separate storage) open the page served by a real
``python -m wskit demo`` process, pick names, join rooms, see each other in the presence list
and the typing indicator, and chat; markup typed as a message stays text. Then the server is
restarted: both pages show the drop, reconnect by themselves (back-off with jitter) and re-join
their rooms, and chat goes on. A screenshot is saved as ``artifacts/demo.png``.

This is a plain synchronous test (Playwright's sync API runs its own event loop), so it does
not get the asyncio/trio parametrisation. Without Chromium or Playwright it skips with the
reason, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from tests._services import REPO_ROOT, free_port, require_binary, timeout, unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "artifacts"
#: Milliseconds Playwright waits for each expectation.
EXPECT_MS = int(timeout(10) * 1000)


class DemoServer:
    """``python -m wskit demo --port PORT`` in a subprocess, which can be stopped and started."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WSKIT_")}
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "wskit", "demo", "--port", str(self.port), "--no-status"]
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*command, "--log-level", "warning", "--graceful-timeout", "2"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout(20)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"wskit demo exited with {self.process.returncode}:\n{self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"wskit demo did not listen on {self.port}:\n{self.log}")

    def stop(self) -> int:
        """SIGTERM (the graceful drain) and wait; return the exit status."""
        process = self.process
        if process is None:
            return 0
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout(15))
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
        return process.returncode

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def chromium() -> str:
    path = require_binary("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - installed with the test extras
        unavailable("Playwright for Python is not installed (pip install playwright)")
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    demo = DemoServer(free_port(), tmp_path / "demo.log")
    demo.start()
    try:
        yield demo
    finally:
        demo.stop()
        print(f"--- wskit demo output ---\n{demo.log}")  # shown when the test fails


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def console_error(errors: list[str], name: str, message: Any) -> None:
    # While the server restarts, Chromium logs each refused reconnection attempt: expected.
    if message.type == "error" and "ERR_CONNECTION_REFUSED" not in message.text:
        errors.append(f"{name}: {message.text}")


def open_chat(browser: Browser, url: str, name: str, errors: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1180, "height": 720}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(EXPECT_MS)
    page.on("pageerror", lambda exc: errors.append(f"{name}: {exc}"))
    page.on("console", lambda msg: console_error(errors, name, msg))
    page.goto(url)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Start chatting").click()
    return page


def join(page: Page, room: str) -> None:
    page.get_by_label("Join a room").fill(room)
    page.get_by_role("button", name="Join", exact=True).click()


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def test_two_browsers_chat_see_presence_and_survive_a_restart(
    browser: Browser, server: DemoServer
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_MS)
    errors: list[str] = []
    alice = open_chat(browser, server.url, "alice", errors)
    bob = open_chat(browser, server.url, "bob", errors)
    status = {page: page.locator("#connection-status") for page in (alice, bob)}
    for page in (alice, bob):
        expect(status[page]).to_have_text("Connected")
        expect(page.locator("#room-title")).to_have_text("#lobby")  # joined on start
        join(page, "random")
        expect(page.locator("#room-title")).to_have_text("#random")

    # Presence: both names, in both pages, with "(you)" on one's own.
    for page, me in ((alice, "alice"), (bob, "bob")):
        people = page.locator("#presence li")
        expect(people).to_have_count(2)
        expect(people.filter(has_text="alice")).to_have_count(1)
        expect(people.filter(has_text="bob")).to_have_count(1)
        expect(people.filter(has_text="(you)")).to_have_text(f"{me}(you)")

    # Typing indicator, then the message itself; markup stays text.
    alice.get_by_label("Message", exact=True).fill("hello")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    hostile = "<b>hi bob</b> <img src=x onerror=window.pwned=1> & 'quotes'"
    send(alice, hostile)
    for page in (alice, bob):
        last = page.locator("#messages li").last
        expect(last.locator(".author")).to_have_text("alice")
        expect(last.locator(".text")).to_have_text(hostile)
        assert last.locator("img, b").count() == 0
    expect(bob.locator("#typing")).to_have_text("")
    assert bob.evaluate("window.pwned") is None
    send(bob, "hi alice! ça va? — Zoë")
    expect(alice.locator("#messages li").last.locator(".text")).to_have_text(
        "hi alice! ça va? — Zoë"
    )

    # A message in a room the other page is not looking at shows as unread there.
    alice.locator(".room-button", has_text="#lobby").click()
    send(alice, "anyone in the lobby?")
    expect(bob.locator(".room-button", has_text="#lobby").locator(".badge")).to_have_text("1")

    # Restart the server: both pages notice, reconnect by themselves and re-join their rooms.
    assert server.stop() == 0
    for page in (alice, bob):
        expect(status[page]).to_contain_text("Reconnecting in")
        expect(page.get_by_role("button", name="Send")).to_be_disabled()
        expect(page.locator("#presence li")).to_have_count(0)  # unknown while offline
    server.start()
    for page in (alice, bob):
        expect(status[page]).to_have_text("Connected", timeout=int(timeout(20) * 1000))
        expect(page.locator("#presence li")).to_have_count(2)
    send(bob, "back again")  # in #random, while alice looks at #lobby
    random_badge = alice.locator(".room-button", has_text="#random").locator(".badge")
    expect(random_badge).to_have_text("1")
    alice.locator(".room-button", has_text="#random").click()
    expect(random_badge).to_have_text("")
    expect(alice.locator("#messages li").last.locator(".text")).to_have_text("back again")

    # The picture for the CI artifact: bob's view, with alice typing.
    bob.get_by_label("Message", exact=True).fill("")
    alice.get_by_label("Message", exact=True).fill("typing something…")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    ARTIFACTS.mkdir(exist_ok=True)
    bob.screenshot(path=str(ARTIFACTS / "demo.png"))
    assert errors == [], errors


def test_pages_and_docs_are_served(browser: Browser, server: DemoServer) -> None:
    """The AsyncAPI page renders offline, and the page refuses nothing it needs (CSP)."""
    errors: list[str] = []
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda msg: console_error(errors, "docs", msg))
    page.goto(server.url + "/asyncapi")
    from playwright.sync_api import expect

    expect(page.locator("h1")).to_contain_text("wskit demo chat")
    for name in ("room.join", "message.send", "message.new", "presence", "typing", "history"):
        assert page.get_by_text(name, exact=True).count() > 0, name
    response: Any = page.goto(server.url + "/asyncapi.json")
    assert response is not None
    assert response.json()["asyncapi"] == "3.0.0"
    assert errors == [], errors
