"""Serve an AsyncAPI document over HTTP: ``/asyncapi.json``, ``/asyncapi`` (HTML) and YAML.

:class:`AsyncAPIApp` is a small ASGI app. Give it what to document and mount it next to the
WebSocket routes, as ``App(http_app=...)``, ``app.mount("/docs", ...)`` or a Starlette
``Mount``. The document is built on the first request (so the app may gain routes after the
docs app is created) and kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from .._extras import require
from ..app.routing import route_path
from .document import DocumentOptions, build
from .html import render_html

if TYPE_CHECKING:
    from .._types import Receive, Scope, Send

__all__ = ["AsyncAPIApp", "to_yaml"]


def to_yaml(document: Mapping[str, Any]) -> str:
    """Dump ``document`` as YAML, keys in document order.

    Raises:
        MissingExtra: PyYAML is not installed (the ``yaml`` extra).
    """
    yaml = require("yaml", "AsyncAPI as YAML")
    text: str = yaml.safe_dump(
        json.loads(json.dumps(document)), sort_keys=False, allow_unicode=True
    )
    return text


class AsyncAPIApp:
    """An ASGI app serving the AsyncAPI document of ``source`` as JSON, YAML and HTML.

    Args:
        source: What to document: see :func:`~wskit.asyncapi.build`.
        json_path: Where the JSON document is served.
        html_path: Where the HTML page is served.
        yaml_path: Where the YAML document is served (``None``: not served).
        cdn: Serve the official renderer from a CDN instead of the offline page.
        **options: What the document says: the
            :class:`~wskit.asyncapi.document.DocumentOptions` (``title`` and ``version``
            required, ``description``, ``servers``, ``path``, ``default_content_type``).

    Other paths get 404, other methods than GET and HEAD get 405, and WebSocket connections
    are refused.
    """

    def __init__(
        self,
        source: Any,
        *,
        json_path: str = "/asyncapi.json",
        html_path: str = "/asyncapi",
        yaml_path: str | None = "/asyncapi.yaml",
        cdn: bool = False,
        **options: Unpack[DocumentOptions],
    ) -> None:
        self.source = source
        #: What the document says (see :class:`~wskit.asyncapi.document.DocumentOptions`).
        self.options = options
        #: Where the JSON document, the HTML page and the YAML document are served.
        self.json_path, self.html_path, self.yaml_path = json_path, html_path, yaml_path
        self.cdn = cdn
        self._document: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        """The document (built on the first call)."""
        if self._document is None:
            self._document = build(self.source, **self.options)
        return self._document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                phase = str(message["type"]).removeprefix("lifespan.")
                await send({"type": f"lifespan.{phase}.complete"})
                if phase == "shutdown":
                    return
        if kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1000})
            return
        path = route_path(scope)
        if path not in (self.json_path, self.html_path, self.yaml_path):
            await _respond(send, scope, 404, "text/plain; charset=utf-8", b"Not Found\n")
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _respond(
                send,
                scope,
                405,
                "text/plain; charset=utf-8",
                b"Method Not Allowed\n",
                [(b"allow", b"GET, HEAD")],
            )
            return
        document = self.document()
        if path == self.json_path:
            body = json.dumps(document, ensure_ascii=False).encode()
            await _respond(send, scope, 200, "application/json", body)
        elif path == self.html_path:
            root = str(scope.get("root_path") or "")
            page = render_html(document, json_url=root + self.json_path, cdn=self.cdn)
            await _respond(send, scope, 200, "text/html; charset=utf-8", page.encode())
        else:
            body = to_yaml(document).encode()
            await _respond(send, scope, 200, "application/yaml; charset=utf-8", body)


async def _respond(
    send: Send,
    scope: Scope,
    status: int,
    content_type: str,
    body: bytes,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    head = scope.get("method") == "HEAD"
    await send({"type": "http.response.body", "body": b"" if head else body, "more_body": False})
