"""AsyncAPI 3.0 documents from wskit apps, routers and views, served as JSON, YAML and HTML.

* :func:`build` writes the document (see :mod:`wskit.asyncapi.document` for what it holds);
* :func:`render_html` turns it into an offline HTML page (:mod:`wskit.asyncapi.html`);
* :class:`AsyncAPIApp` serves both (and YAML) as an ASGI app;
* ``wskit asyncapi module:app`` prints it (:mod:`wskit.asyncapi.cli`).
"""

from __future__ import annotations

from .document import ASYNCAPI_VERSION, build
from .html import render_html
from .serve import AsyncAPIApp, to_yaml

__all__ = ["ASYNCAPI_VERSION", "AsyncAPIApp", "build", "render_html", "to_yaml"]
