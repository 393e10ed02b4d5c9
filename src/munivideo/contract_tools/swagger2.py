"""Swagger 2.0 -> the OpenAPI 3.0 shape the contract tools read.

Many municipal ERPs still publish Swagger 2.0. Rather than a second reader, the document is
rewritten in memory: ``definitions`` become ``components.schemas`` (and every ``$ref`` with
them), a ``body`` parameter becomes the ``requestBody``, ``formData`` parameters a form body,
other parameters get their type under ``schema``, and response ``schema`` moves under
``content``. What Swagger cannot say (several media types per body) is not invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_REFS = {
    "#/definitions/": "#/components/schemas/",
    "#/parameters/": "#/components/parameters/",
    "#/responses/": "#/components/responses/",
}
_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "pattern",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def is_swagger2(doc: Any) -> bool:
    """True for a Swagger 2.0 document (``swagger: "2.0"``)."""
    return isinstance(doc, Mapping) and str(doc.get("swagger", "")).startswith("2")


def _refs(node: Any) -> Any:
    if isinstance(node, Mapping):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                for old, new in _REFS.items():
                    if value.startswith(old):
                        value = new + value[len(old) :]
                out[key] = value
            else:
                out[key] = _refs(value)
        return out
    if isinstance(node, list):
        return [_refs(v) for v in node]
    return node


def _media(doc: Mapping[str, Any], op: Mapping[str, Any], key: str) -> str:
    types = op.get(key) or doc.get(key) or ["application/json"]
    return str(types[0]) if isinstance(types, list) and types else "application/json"


def _parameter(param: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return dict(param)
    out = {k: v for k, v in param.items() if k not in _SCHEMA_KEYS}
    out["schema"] = {k: param[k] for k in _SCHEMA_KEYS if k in param}
    return out


def _operation(doc: Mapping[str, Any], op: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in op.items() if k not in ("parameters", "responses", "consumes")}
    params: list[Any] = []
    form: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for raw in op.get("parameters", []):
        if not isinstance(raw, Mapping):
            continue
        where = raw.get("in")
        if where == "body":
            out["requestBody"] = {
                "required": bool(raw.get("required", False)),
                "content": {_media(doc, op, "consumes"): {"schema": raw.get("schema", {})}},
            }
        elif where == "formData":
            form["properties"][raw["name"]] = {k: raw[k] for k in _SCHEMA_KEYS if k in raw}
            if raw.get("required"):
                form["required"].append(raw["name"])
        else:
            params.append(_parameter(raw))
    if form["properties"]:
        out["requestBody"] = {
            "required": bool(form["required"]),
            "content": {"application/x-www-form-urlencoded": {"schema": form}},
        }
    if params:
        out["parameters"] = params
    responses: dict[str, Any] = {}
    for status, response in (op.get("responses") or {}).items():
        if isinstance(response, Mapping) and "schema" in response:
            rest = {k: v for k, v in response.items() if k != "schema"}
            rest["content"] = {_media(doc, op, "produces"): {"schema": response["schema"]}}
            responses[str(status)] = rest
        else:
            responses[str(status)] = response
    out["responses"] = responses
    return out


def to_openapi3(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0 form of a Swagger 2.0 document (a new dict; ``doc`` is untouched)."""
    source: dict[str, Any] = _refs(doc)
    base = str(source.get("basePath") or "")
    paths: dict[str, Any] = {}
    for url, item in (source.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        converted: dict[str, Any] = {}
        for key, value in item.items():
            if key in METHODS and isinstance(value, Mapping):
                converted[key] = _operation(source, value)
            elif key == "parameters":
                converted[key] = [
                    _parameter(p) for p in value if isinstance(p, Mapping) and p.get("in") != "body"
                ]
            else:
                converted[key] = value
        paths[base.rstrip("/") + str(url) if base else str(url)] = converted
    components: dict[str, Any] = {}
    if "definitions" in source:
        components["schemas"] = source["definitions"]
    if "parameters" in source:
        components["parameters"] = {
            k: _parameter(v) for k, v in source["parameters"].items() if isinstance(v, Mapping)
        }
    if "responses" in source:
        components["responses"] = {
            k: _operation(source, {"responses": {"x": v}})["responses"]["x"]
            for k, v in source["responses"].items()
        }
    return {
        "openapi": "3.0.3",
        "info": source.get("info", {"title": "converted from Swagger 2.0", "version": "0"}),
        "paths": paths,
        "components": components,
        "x-munivideo-converted-from": "swagger 2.0",
    }
