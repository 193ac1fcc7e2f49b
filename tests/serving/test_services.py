"""The shared service helpers in ``tests/_services.py`` behave as other tests rely on."""

from __future__ import annotations

import socket

import pytest

from tests._services import free_port, redis_server, require_binary


def _ping(address: str | tuple[str, int]) -> bytes:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(address)
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def test_require_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_binary("wskit-no-such-binary")


def test_require_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_binary("wskit-no-such-binary")


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.redis
def test_redis_server_over_tcp() -> None:
    with redis_server() as url:
        host, port = url.removeprefix("redis://").split(":")
        assert _ping((host, int(port))) == b"+PONG\r\n"
    with pytest.raises(OSError):
        _ping((host, int(port)))  # stopped


@pytest.mark.redis
def test_redis_server_over_a_unix_socket() -> None:
    with redis_server(unix_socket=True) as url:
        assert url.startswith("unix://")
        assert _ping(url.removeprefix("unix://")) == b"+PONG\r\n"
