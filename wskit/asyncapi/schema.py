"""JSON Schemas for AsyncAPI: msgspec's output, translated to AsyncAPI's Schema Object dialect.

msgspec writes JSON Schema 2020-12 (:func:`msgspec.json.schema_components`). An AsyncAPI 3.0
Schema Object is a superset of JSON Schema *Draft 07*, with a few keywords of its own. The
differences that matter for what msgspec emits, each fixed here:

* ``prefixItems`` (tuples) does not exist in Draft 07: it becomes the array form of ``items``,
  and 2020-12's ``items`` next to it (the schema of any extra item) becomes ``additionalItems``.
* ``discriminator`` is an object (OpenAPI style) in msgspec's output and a plain string (the
  property name) in AsyncAPI.
* Draft 07 ignores every keyword next to a ``$ref``; a ``$ref`` with siblings (a field's
  ``description`` or ``title``) is wrapped as ``{"allOf": [{"$ref": ...}], ...siblings}``.
* ``$defs`` becomes ``definitions``; ``dependentRequired`` becomes ``dependencies``.

Component names need no change: msgspec already writes names that fit AsyncAPI's key pattern
(``^[\\w\\d.\\-_]+$``): ``Page[int]`` is ``Page_int_``, a clash is module-qualified.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

__all__ = ["REF_PREFIX", "SchemaSet", "normalise"]

#: Where payload schemas live in the document.
REF_PREFIX: Final = "#/components/schemas/"


def normalise(schema: Any) -> Any:
    """Return ``schema`` (2020-12, as msgspec writes it) as an AsyncAPI 3.0 Schema Object.

    Args:
        schema: A JSON Schema value (a dict, or a list / scalar inside one).
    """
    if isinstance(schema, list):
        return [normalise(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            target = "definitions" if key == "$defs" else key
            out[target] = {name: normalise(sub) for name, sub in value.items()}
        elif key == "discriminator" and isinstance(value, dict):
            out[key] = value.get("propertyName", "")
        elif key == "dependentRequired":
            out["dependencies"] = dict(value)
        elif key in ("$ref", "enum", "const", "examples", "default", "required"):
            out[key] = value  # data, not schemas: never rewritten
        else:
            out[key] = normalise(value)
    if "prefixItems" in out:
        extra = out.pop("items", None)
        out["items"] = out.pop("prefixItems")
        if extra is not None:
            out["additionalItems"] = extra
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


class SchemaSet:
    """The payload schemas of one document: every type converted once, components shared.

    Collect types with :meth:`add`, then call :meth:`build` once; afterwards :meth:`schema`
    returns the (normalised) schema of a type, usually a ``$ref`` into ``components``.
    """

    def __init__(self) -> None:
        self._types: list[object] = []
        self._index: dict[object, int] = {}
        self._schemas: list[Any] = []
        self.components: dict[str, Any] = {}

    def add(self, types: Iterable[object]) -> None:
        """Register types whose schemas the document needs (duplicates are ignored)."""
        for tp in types:
            key = _key(tp)
            if key not in self._index:
                self._index[key] = len(self._types)
                self._types.append(tp)

    def build(self) -> None:
        """Generate every schema in one msgspec call and normalise them.

        Raises:
            TypeError: A type has no JSON Schema (msgspec's message names it).
        """
        schemas, components = msgspec.json.schema_components(
            self._types, ref_template=REF_PREFIX + "{name}"
        )
        self.components = {name: normalise(schema) for name, schema in sorted(components.items())}
        self._schemas = [normalise(schema) for schema in schemas]

    def schema(self, tp: object) -> Any:
        """The normalised schema of ``tp`` (registered with :meth:`add`, after :meth:`build`)."""
        return self._schemas[self._index[_key(tp)]]


def _key(tp: object) -> object:
    try:
        hash(tp)
    except TypeError:  # pragma: no cover - typing objects are hashable
        return id(tp)
    return tp
