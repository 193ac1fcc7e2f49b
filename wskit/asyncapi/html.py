"""Render an AsyncAPI document as one self-contained HTML page that works offline.

The page is plain HTML with inline CSS: no script, no font, no CDN, so it opens from a file,
behind a firewall or in a locked-down browser, and its text is searchable (and testable). It
lists the servers, then each channel with its address, path parameters and operations, client
to server first, each message with its envelope fields, an example and its replies; the payload
types follow, every ``$ref`` a link to its schema.

``render_html(doc, cdn=True)`` instead returns a page that loads the official AsyncAPI React
renderer from a CDN (``cdn_url``), for those who prefer it and are online.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any, Final

__all__ = ["CDN_URL", "render_html"]

#: The official renderer's standalone bundle (a pinned major version).
CDN_URL: Final = "https://unpkg.com/@asyncapi/react-component@3/browser/standalone/index.js"
_CDN_CSS: Final = "https://unpkg.com/@asyncapi/react-component@3/styles/default.min.css"
_REF: Final = "#/components/schemas/"
_MAX_DEPTH: Final = 6

_CSS: Final = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--recv:#1a7f37;--send:#0969da}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;
color:var(--fg)}header{padding:24px 32px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{margin:0 0 4px;font-size:26px}.version{font-size:15px;color:var(--muted);font-weight:400}
main{max-width:1100px;padding:8px 32px 48px}h2{margin-top:36px;border-bottom:1px solid var(--line)}
h3{margin-top:24px;color:var(--muted);font-size:14px;text-transform:uppercase;letter-spacing:.05em}
.desc{white-space:pre-wrap}code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
h2 code,h4 code{font-size:.95em}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto}
table{border-collapse:collapse;margin:8px 0;width:100%}td,th{border:1px solid var(--line);
padding:4px 8px;text-align:left;vertical-align:top}th{background:var(--bg);font-weight:600}
.op{border:1px solid var(--line);border-radius:8px;padding:4px 16px 12px;margin:14px 0}
.badge{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:12px;
font-weight:600;vertical-align:middle;margin-right:6px}.receive{background:var(--recv)}
.send{background:var(--send)}.req{color:#cf222e;font-size:12px}nav ul{margin:4px 0}
.muted{color:var(--muted)}a{color:var(--send)}
"""


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _anchor(kind: str, key: str) -> str:
    return f"{kind}-{key}".replace(" ", "_")


def _resolve(doc: Mapping[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _type_label(schema: Any) -> str:
    """A short HTML description of a schema's type, with links for references."""
    if not isinstance(schema, Mapping):
        return "any"
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(_REF)
        return f'<a href="#{_anchor("schema", name)}"><code>{_text(name)}</code></a>'
    if "const" in schema:
        return f"<code>{_text(json.dumps(schema['const']))}</code>"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{_text(json.dumps(v))}</code>" for v in schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            joiner = " &amp; " if key == "allOf" else " | "
            return joiner.join(_type_label(sub) for sub in schema[key])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, list):
            return "[" + ", ".join(_type_label(sub) for sub in items) + "]"
        return f"array of {_type_label(items)}" if items else "array"
    if kind == "object" and "additionalProperties" in schema and "properties" not in schema:
        return f"map of {_type_label(schema['additionalProperties'])}"
    if isinstance(kind, list):
        return " | ".join(_text(k) for k in kind)
    label = _text(kind or "any")
    if "format" in schema:
        label += f" <span class=muted>({_text(schema['format'])})</span>"
    return label


def _fields(schema: Any, depth: int = 0) -> str:
    """An object schema's properties as a table (nested inline objects as nested tables)."""
    if not isinstance(schema, Mapping) or "properties" not in schema or depth > _MAX_DEPTH:
        return ""
    required = set(schema.get("required", ()))
    rows = []
    for name, sub in schema["properties"].items():
        nested = _fields(sub, depth + 1)
        description = sub.get("description", "") if isinstance(sub, Mapping) else ""
        rows.append(
            f"<tr><td><code>{_text(name)}</code>"
            + (" <span class=req>required</span>" if name in required else "")
            + f"</td><td>{_type_label(sub)}{nested}</td><td>{_text(description)}</td></tr>"
        )
    return (
        "<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _example(doc: Mapping[str, Any], schema: Any, depth: int = 0) -> Any:
    """A plausible value for ``schema``, following references a few levels deep."""
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _example(doc, _resolve(doc, str(schema["$ref"])), depth + 1)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [
                s for s in schema[key] if not (isinstance(s, Mapping) and s.get("type") == "null")
            ]
            return _example(doc, (options or schema[key])[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {
            name: _example(doc, sub, depth + 1)
            for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, list):
            return [_example(doc, sub, depth + 1) for sub in items]
        return [_example(doc, items, depth + 1)] if items else []
    return {"string": "string", "integer": 0, "number": 0.0, "boolean": True}.get(str(kind))


def _message(doc: Mapping[str, Any], ref: str, title: str) -> str:
    message = _resolve(doc, ref)
    if "$ref" in message:
        message = _resolve(doc, str(message["$ref"]))
    payload = message.get("payload", {})
    name = message.get("name", ref.rsplit("/", 1)[-1])
    parts = [f"<p><b>{_text(title)}</b> <code>{_text(name)}</code></p>"]
    if message.get("description"):
        parts.append(f"<p class=desc>{_text(message['description'])}</p>")
    parts.append(_fields(payload) or f"<p>{_type_label(payload)}</p>")
    example = json.dumps(_example(doc, payload), indent=2, ensure_ascii=False)
    parts.append(f"<pre><code>{_text(example)}</code></pre>")
    return "".join(parts)


def _operation(doc: Mapping[str, Any], key: str, op: Mapping[str, Any]) -> str:
    action = str(op.get("action"))
    direction = "client → server" if action == "receive" else "server → client"
    parts = [
        f'<article class=op id="{_text(_anchor("op", key))}"><h4>'
        f'<span class="badge {_text(action)}">{_text(action)}</span><code>{_text(key)}</code> '
        f"<span class=muted>{direction}</span></h4>"
    ]
    summary, description = op.get("summary"), op.get("description")
    if summary and not (description and str(description).startswith(str(summary))):
        parts.append(f"<p>{_text(summary)}</p>")
    if description:
        parts.append(f"<p class=desc>{_text(description)}</p>")
    if op.get("tags"):
        parts.append(
            "<p class=muted>tags: " + ", ".join(_text(t["name"]) for t in op["tags"]) + "</p>"
        )
    for message in op.get("messages", ()):
        parts.append(_message(doc, message["$ref"], "Message"))
    reply = op.get("reply")
    if reply:
        for message in reply.get("messages", ()):
            parts.append(_message(doc, message["$ref"], "Reply"))
    parts.append("</article>")
    return "".join(parts)


def _servers(doc: Mapping[str, Any]) -> str:
    servers = doc.get("servers")
    if not servers:
        return ""
    rows = "".join(
        f"<tr><td>{_text(name)}</td><td><code>{_text(s.get('protocol', ''))}://"
        f"{_text(s.get('host', ''))}{_text(s.get('pathname', ''))}</code></td>"
        f"<td>{_text(s.get('description', ''))}</td></tr>"
        for name, s in servers.items()
    )
    return (
        '<h2 id="servers">Servers</h2><table><tr><th>Name</th><th>URL</th><th>Description</th></tr>'
        f"{rows}</table>"
    )


def _channel(doc: Mapping[str, Any], cid: str, channel: Mapping[str, Any]) -> str:
    address = _text(channel.get("address") or cid)
    parts = [f'<section id="{_text(_anchor("channel", cid))}"><h2><code>{address}</code></h2>']
    if channel.get("description"):
        parts.append(f"<p class=desc>{_text(channel['description'])}</p>")
    params = channel.get("parameters")
    if params:
        parts.append("<table><tr><th>Path parameter</th><th>Description</th></tr>")
        parts.extend(
            f"<tr><td><code>{_text(name)}</code></td>"
            f"<td>{_text(p.get('description', ''))}</td></tr>"
            for name, p in params.items()
        )
        parts.append("</table>")
    ops = [
        (key, op)
        for key, op in doc.get("operations", {}).items()
        if op.get("channel", {}).get("$ref") == f"#/channels/{cid}"
    ]
    for action, heading in (("receive", "Client → server"), ("send", "Server → client")):
        selected = [(key, op) for key, op in ops if op.get("action") == action]
        if selected:
            parts.append(f"<h3>{heading}</h3>")
            parts.extend(_operation(doc, key, op) for key, op in selected)
    parts.append("</section>")
    return "".join(parts)


def _schemas(doc: Mapping[str, Any]) -> str:
    schemas = doc.get("components", {}).get("schemas", {})
    if not schemas:
        return ""
    parts = ['<h2 id="schemas">Payload types</h2>']
    for name, schema in schemas.items():
        parts.append(
            f'<section id="{_text(_anchor("schema", name))}"><h4><code>{_text(name)}</code></h4>'
        )
        if isinstance(schema, Mapping) and schema.get("description"):
            parts.append(f"<p class=desc>{_text(schema['description'])}</p>")
        parts.append(_fields(schema) or f"<p>{_type_label(schema)}</p>")
        parts.append("</section>")
    return "".join(parts)


def _nav(doc: Mapping[str, Any]) -> str:
    items = [
        f'<li><a href="#{_text(_anchor("channel", cid))}">'
        f"<code>{_text(ch.get('address') or cid)}</code></a></li>"
        for cid, ch in doc.get("channels", {}).items()
    ]
    return "<nav><b>Channels</b><ul>" + "".join(items) + "</ul></nav>"


def render_html(
    document: Mapping[str, Any],
    *,
    json_url: str | None = "asyncapi.json",
    cdn: bool = False,
    cdn_url: str = CDN_URL,
) -> str:
    """Render ``document`` as a complete HTML page.

    Args:
        document: An AsyncAPI document (from :func:`~wskit.asyncapi.build`).
        json_url: Where the page links the raw document (``None``: no link).
        cdn: Load the official AsyncAPI renderer from ``cdn_url`` instead (needs network).
        cdn_url: The standalone bundle of ``@asyncapi/react-component``.
    """
    info = document.get("info", {})
    title = f"{info.get('title', 'AsyncAPI')} {info.get('version', '')}".strip()
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)} · AsyncAPI</title>"
    )
    if cdn:
        data = json.dumps(document).replace("</", "<\\/")
        return (
            f'{head}<link rel="stylesheet" href="{_text(_CDN_CSS)}"></head><body>'
            f'<div id="asyncapi"></div><script src="{_text(cdn_url)}"></script>'
            f"<script>AsyncApiStandalone.render({{schema: {data}, config: {{show: "
            f"{{sidebar: true}}}}}}, document.getElementById('asyncapi'));</script></body></html>"
        )
    link = f' · <a href="{_text(json_url)}">JSON</a>' if json_url else ""
    description = info.get("description")
    return (
        f"{head}<style>{_CSS}</style></head><body><header><h1>{_text(info.get('title', ''))} "
        f"<span class=version>{_text(info.get('version', ''))}</span></h1>"
        + (f"<p class=desc>{_text(description)}</p>" if description else "")
        + f"<p class=muted>AsyncAPI {_text(document.get('asyncapi', ''))} · "
        f"content type {_text(document.get('defaultContentType', ''))}{link}</p>"
        f"{_nav(document)}</header><main>{_servers(document)}"
        + "".join(_channel(document, cid, ch) for cid, ch in document.get("channels", {}).items())
        + _schemas(document)
        + "</main></body></html>"
    )
