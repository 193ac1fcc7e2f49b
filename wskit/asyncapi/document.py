"""Build an AsyncAPI 3.0.0 document from an app, a router, a view or a handler.

The document describes what is really on the wire:

* one **channel** per WebSocket route, its ``address`` the route's path template
  (``/rooms/{room}``) with one ``parameters`` entry per path parameter;
* one **message** per envelope the channel carries: each operation's request, its reply, each
  declared server push and server request (with the client's answer), and the error envelope.
  A message's payload is the *whole envelope* (``type``, ``payload``, ``id``) with the
  operation's payload type inside, as a ``$ref`` to ``components.schemas``;
* a ``receive`` **operation** per client-to-server operation, with a ``reply`` when it answers;
  a ``send`` operation per server push (a ``reply`` when the server awaits an answer) and one
  for the error envelope;
* ``info`` (title, version, description, the tags of every operation), ``servers``, and
  summaries and descriptions taken from docstrings.

Operation and message names become document keys as they are when they fit AsyncAPI's key
pattern (``^[\\w\\d.\\-_]+$``), with other characters replaced by ``_``; a key used by two
channels gets the channel's name as a prefix.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Required, TypedDict, Unpack
from urllib.parse import urlsplit

from starlette import routing as starlette_routing

from ..app.routing import Mount, Route
from ..operations.envelope import EnvelopeFormat, ErrorPayload, accepts_none
from ..operations.router import OperationRouter
from ..operations.spec import Emit, Operation
from ..operations.views import WebSocketView
from .schema import SchemaSet

__all__ = ["ASYNCAPI_VERSION", "DocumentOptions", "build"]

#: The AsyncAPI version of the documents :func:`build` writes.
ASYNCAPI_VERSION: Final = "3.0.0"
_BAD_KEY: Final = re.compile(r"[^\w.\-]")
_ID_SCHEMA: Final = {
    "description": "Correlation id: a reply carries the id of its request.",
    "anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}],
    "examples": [1, "a1"],
}


@dataclass(frozen=True, slots=True)
class _Endpoint:
    address: str
    params: Mapping[str, str]
    handler: Any


def _kind(convertor: object) -> str:
    return type(convertor).__name__.removesuffix("Convertor").lower() or "string"


def _endpoints(source: Any, path: str) -> list[_Endpoint]:
    if isinstance(source, OperationRouter) or _is_view(source) or not hasattr(source, "routes"):
        if not callable(source):
            raise TypeError(f"cannot document {source!r}: not an app, a router or a handler")
        return [_Endpoint(path, {}, source)]
    return list(_walk(source.routes, "", {}))


def _walk(routes: Sequence[Any], prefix: str, outer: Mapping[str, str]) -> Iterator[_Endpoint]:
    for route in routes:
        if isinstance(route, Route):
            params = {name: _kind(conv) for name, conv in route.convertors.items()}
            yield _Endpoint(prefix + route.path_format, {**outer, **params}, route.handler)
        elif isinstance(route, starlette_routing.WebSocketRoute):
            params = {name: _kind(conv) for name, conv in route.param_convertors.items()}
            yield _Endpoint(prefix + route.path_format, {**outer, **params}, route.endpoint)
        elif isinstance(route, starlette_routing.Mount):
            params = {n: _kind(c) for n, c in route.param_convertors.items() if n != "path"}
            yield from _walk(route.routes, prefix + route.path, {**outer, **params})
        elif isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path, outer)


def _is_view(source: object) -> bool:
    return isinstance(source, type) and issubclass(source, WebSocketView)


def _unique(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not taken yet (and take it)."""
    key, index = base, 1
    while key in taken:
        index += 1
        key = f"{base}_{index}"
    taken.add(key)
    return key


def _key(name: str, taken: set[str], scope: str) -> str:
    key = _BAD_KEY.sub("_", name)
    return _unique(f"{scope}.{key}" if key in taken else key, taken)


def _channel_id(address: str, taken: set[str]) -> str:
    base = _BAD_KEY.sub("_", address.strip("/").replace("/", ".").replace("{", "").replace("}", ""))
    return _unique(base or "root", taken)


class _Builder:
    def __init__(self) -> None:
        self.schemas = SchemaSet()
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.tags: set[str] = set()
        self._op_keys: set[str] = set()
        self._channel_keys: set[str] = set()
        self._pending: list[tuple[dict[str, Any], str, object]] = []

    def payload(self, target: dict[str, Any], field: str, tp: object) -> None:
        """Fill ``target[field]`` with ``tp``'s schema once every type is known."""
        target[field] = None  # keeps the key's place in the document
        self._pending.append((target, field, tp))
        self.schemas.add([tp])

    def finish(self) -> dict[str, Any]:
        self.schemas.build()
        for target, field, tp in self._pending:
            target[field] = self.schemas.schema(tp)
        return self.schemas.components

    def envelope(
        self, env: EnvelopeFormat, name: str, tp: object, *, required: bool, with_id: bool = True
    ) -> dict[str, Any]:
        properties: dict[str, Any] = {env.type_field: {"type": "string", "const": name}}
        self.payload(properties, env.payload_field, tp)
        if with_id:
            properties[env.id_field] = dict(_ID_SCHEMA)
        names = [env.type_field, env.payload_field] if required else [env.type_field]
        return {"type": "object", "properties": properties, "required": names}

    def channel(self, endpoint: _Endpoint) -> tuple[str, dict[str, Any]]:
        cid = _channel_id(endpoint.address, self._channel_keys)
        channel: dict[str, Any] = {"address": endpoint.address, "messages": {}}
        if endpoint.params:
            channel["parameters"] = {
                name: {"description": f"Path parameter ({kind})."}
                for name, kind in endpoint.params.items()
            }
        self.channels[cid] = channel
        return cid, channel

    def operation(
        self,
        cid: str,
        name: str,
        action: str,
        message: str,
        *,
        summary: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
        reply: Sequence[str] = (),
    ) -> None:
        ref = {"$ref": f"#/channels/{cid}"}
        op: dict[str, Any] = {
            "action": action,
            "channel": ref,
            "messages": [{"$ref": f"#/channels/{cid}/messages/{message}"}],
        }
        if summary:
            op["summary"] = summary
        if description:
            op["description"] = description
        if tags:
            op["tags"] = [{"name": tag} for tag in dict.fromkeys(tags)]
            self.tags.update(tags)
        if reply:
            op["reply"] = {
                "channel": ref,
                "messages": [{"$ref": f"#/channels/{cid}/messages/{key}"} for key in reply],
            }
        self.operations[_key(name, self._op_keys, cid)] = op


def _message(name: str, payload: dict[str, Any], summary: str | None, doc: str | None) -> Any:
    message: dict[str, Any] = {"name": name, "title": name, "payload": payload}
    if summary:
        message["summary"] = summary
    if doc:
        message["description"] = doc
    return message


def _add_error(b: _Builder, cid: str, channel: dict[str, Any], env: EnvelopeFormat) -> str:
    key = _key(env.error_type, set(channel["messages"]), "wskit")
    payload = b.envelope(env, env.error_type, ErrorPayload, required=True)
    payload["required"].append(env.id_field)
    channel["messages"][key] = _message(
        env.error_type,
        payload,
        "A message could not be handled.",
        "Sent for bad input (malformed, unknown_operation, invalid_payload) and failed "
        "handlers (internal_error), with the correlation id of the request when it had one.",
    )
    b.operation(cid, env.error_type, "send", key, summary="Error replies.")
    return key


def _add_router(b: _Builder, cid: str, channel: dict[str, Any], router: OperationRouter) -> None:
    env = router.envelope
    messages: dict[str, Any] = channel["messages"]
    keys: dict[str, str] = {}

    def message(
        name: str,
        tp: object,
        *,
        required: bool = True,
        summary: str | None = None,
        doc: str | None = None,
        with_id: bool = True,
    ) -> str:
        if name not in keys:
            keys[name] = _key(name, set(messages), "message")
            payload = b.envelope(env, name, tp, required=required, with_id=with_id)
            messages[keys[name]] = _message(name, payload, summary, doc)
        return keys[name]

    def operation(spec: Operation | Emit, action: str, key: str) -> None:
        reply = () if spec.reply is None else (message(spec.reply, spec.reply_payload),)
        b.operation(
            cid,
            spec.name,
            action,
            key,
            summary=spec.summary,
            description=spec.description,
            tags=spec.tags,
            reply=reply,
        )

    for op in router.operations.values():
        required = (
            not accepts_none(op.payload) and op.plan.payload_default is inspect.Parameter.empty
        )
        operation(
            op, "receive", message(op.name, op.payload, required=required, summary=op.summary)
        )
    for emit in router.emitted.values():
        with_id = emit.reply is not None  # a server request: the client's answer carries its id
        key = message(
            emit.name, emit.payload, summary=emit.summary, doc=emit.description, with_id=with_id
        )
        operation(emit, "send", key)
    _add_error(b, cid, channel, env)


def _add_view(
    b: _Builder, cid: str, channel: dict[str, Any], view: type[WebSocketView[Any, Any]]
) -> None:
    name = view.__name__
    doc = inspect.cleandoc(view.__doc__) if view.__doc__ else None
    for suffix, action, tp in (("in", "receive", view.in_type), ("out", "send", view.out_type)):
        key = _key(f"{name}.{suffix}", set(channel["messages"]), "message")
        message = _message(f"{name}.{suffix}", {}, None, None)
        b.payload(message, "payload", tp)
        channel["messages"][key] = message
        b.operation(cid, f"{name}.{action}", action, key, description=doc)
    _add_error(b, cid, channel, view.envelope)


class DocumentOptions(TypedDict, total=False):
    """What a document says besides what its source serves: the keywords of :func:`build` and
    of :class:`~wskit.asyncapi.AsyncAPIApp`.

    Attributes:
        title: ``info.title`` (required).
        version: ``info.version``, your API's version, not AsyncAPI's (required).
        description: ``info.description``.
        servers: Server objects by name, or URLs (``"wss://example.com/base"``).
        path: The channel address when the source is not an app (default ``"/"``).
        default_content_type: ``defaultContentType`` (default ``"application/json"``;
            MessagePack connections carry the same envelopes in ``application/msgpack``).
    """

    title: Required[str]
    version: Required[str]
    description: str | None
    servers: Mapping[str, Mapping[str, Any]] | Sequence[str] | None
    path: str
    default_content_type: str


def build(source: Any, **options: Unpack[DocumentOptions]) -> dict[str, Any]:
    """Build the AsyncAPI 3.0.0 document of ``source``.

    Args:
        source: A :class:`wskit.App` or Starlette app (every WebSocket route, through Starlette
            ``Mount``\\ s), an :class:`~wskit.operations.OperationRouter`, a
            :class:`~wskit.operations.views.WebSocketView` class, or a handler.
        **options: The :class:`DocumentOptions`: ``title`` and ``version`` (required),
            ``description``, ``servers``, ``path``, ``default_content_type``.

    Returns:
        The document, as JSON-ready dicts and lists.

    Raises:
        TypeError: ``source`` is none of the above, or a payload type has no JSON Schema.
    """
    b = _Builder()
    for endpoint in _endpoints(source, options.get("path", "/")):
        cid, channel = b.channel(endpoint)
        handler = endpoint.handler
        if isinstance(handler, OperationRouter):
            if handler.description:
                channel["description"] = handler.description
            _add_router(b, cid, channel, handler)
        elif _is_view(handler):
            if handler.__doc__:
                channel["description"] = inspect.cleandoc(handler.__doc__)
            _add_view(b, cid, channel, handler)
        elif inspect.isfunction(handler) and handler.__doc__:
            channel["description"] = inspect.cleandoc(handler.__doc__)
    components = b.finish()
    info: dict[str, Any] = {"title": options["title"], "version": options["version"]}
    description = options.get("description")
    if description:
        info["description"] = description
    if b.tags:
        info["tags"] = [{"name": tag} for tag in sorted(b.tags)]
    document: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION, "info": info}
    servers = options.get("servers")
    if servers:
        document["servers"] = _servers(servers)
    document["defaultContentType"] = options.get("default_content_type", "application/json")
    document["channels"] = b.channels
    document["operations"] = b.operations
    if components:
        document["components"] = {"schemas": components}
    return document


def _servers(servers: Mapping[str, Mapping[str, Any]] | Sequence[str]) -> dict[str, Any]:
    if isinstance(servers, Mapping):
        return {str(name): dict(server) for name, server in servers.items()}
    out: dict[str, Any] = {}
    for index, url in enumerate(servers):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(f"a server URL must look like ws://host[:port][/path], got {url!r}")
        server: dict[str, Any] = {"host": parts.netloc, "protocol": parts.scheme}
        if parts.path not in ("", "/"):
            server["pathname"] = parts.path
        out["default" if index == 0 else f"server{index + 1}"] = server
    return out
