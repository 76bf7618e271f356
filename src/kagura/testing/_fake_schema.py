"""Structured answers of the fake server: a minimal instance of a requested JSON Schema, or broken JSON.

:func:`instance_of` builds the smallest value a schema accepts for the common keywords (types, required
properties, enums, consts, min lengths and items, numeric bounds, ``$ref`` into ``$defs``, ``anyOf``,
``oneOf``, ``allOf``), as pydantic's ``model_json_schema()`` writes them. :func:`invalid_json` is what an
answer looks like when a model breaks off mid-object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_of", "invalid_json", "json_schema_of", "structured_answer"]

_MAX_DEPTH = 32


def json_schema_of(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON Schema an OpenAI chat request asks for (``response_format`` json_schema), else None."""
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    return schema if isinstance(schema, Mapping) else {}


def structured_answer(schema: Mapping[str, Any], invalid: bool) -> str:
    """The text of an answer to ``schema``: a minimal instance as JSON, or that JSON broken off."""
    text = json.dumps(instance_of(schema))
    return invalid_json(text) if invalid else text


def invalid_json(text: str) -> str:
    """``text`` cut in the middle (never valid JSON: an opening brace or quote is left unclosed)."""
    return '{"answer": "' + text[: max(1, len(text) // 2)]


def instance_of(
    schema: Mapping[str, Any] | bool, root: Mapping[str, Any] | None = None, depth: int = 0
) -> Any:
    """The smallest value ``schema`` accepts (for the keywords listed in the module doc)."""
    if isinstance(schema, bool) or depth > _MAX_DEPTH:
        return None
    root = schema if root is None else root
    if "$ref" in schema:
        return instance_of(_resolve(root, str(schema["$ref"])), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if isinstance(schema.get("default"), str | int | float | bool) and "type" not in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            typed = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            return instance_of((typed or options)[0], root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(root, part["$ref"]) if isinstance(part, Mapping) and "$ref" in part else part
            if isinstance(part, Mapping):
                for k, v in part.items():
                    if k in ("properties", "$defs") and isinstance(merged.get(k), Mapping):
                        merged[k] = {**merged[k], **v}
                    elif k == "required":
                        merged[k] = [*merged.get(k, []), *v]
                    else:
                        merged.setdefault(k, v)
        return instance_of(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    return _of_type(str(kind), schema, root, depth)


def _of_type(kind: str, schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)
        return {name: instance_of(properties.get(name, {}), root, depth + 1) for name in required}
    if kind == "array":
        count = int(schema.get("minItems") or 0)
        items = schema.get("items")
        items = items if isinstance(items, Mapping) else {}
        return [instance_of(items, root, depth + 1) for _ in range(count)]
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength") or 1))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value: float = (
            0 if low is None else low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        )
        high = schema.get("maximum")
        if high is not None and value > high:
            value = high
        return math.ceil(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    return None


def _resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    """The schema a local ``$ref`` (``#/$defs/Name``) points to; ``{}`` when it cannot be found."""
    node: Any = root
    for part in ref.removeprefix("#").strip("/").split("/"):
        if not part:
            continue
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}
