"""OpenAPI 3.x -> :class:`ContractModel`.

Only local references (``#/...``) are followed: a published contract that points elsewhere is
copied and vendored first, so loading never touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from munivideo.contract_tools.model import (
    ContractModel,
    FieldShape,
    Flavor,
    Operation,
    Parameter,
)
from munivideo.contract_tools.safeyaml import load_yaml
from munivideo.contract_tools.swagger2 import is_swagger2, to_openapi3
from munivideo.errors import ConfigurationError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_MAX_DEPTH = 12


def load_document(path: Path) -> dict[str, Any]:
    """An OpenAPI 3 document, or a Swagger 2.0 one rewritten in the OpenAPI 3 shape
    (:mod:`munivideo.contract_tools.swagger2`)."""
    doc = load_yaml(path, field="openapi")
    if is_swagger2(doc) and isinstance(doc.get("paths"), dict):
        return to_openapi3(doc)
    if not isinstance(doc, dict) or "openapi" not in doc or "paths" not in doc:
        raise ConfigurationError(
            f"{path} is not an OpenAPI 3 or Swagger 2.0 document", field="openapi"
        )
    return doc


def resolve(doc: Mapping[str, Any], node: Any) -> Any:
    """Follow ``$ref`` chains inside ``doc`` (JSON Pointer, RFC 6901: ``~1`` is ``/``, ``~0``
    is ``~``) until a node that is not a reference.

    :raises ConfigurationError: (``field="$ref"``) a reference outside the document, a cycle,
        or a pointer to nothing.
    """
    seen: set[str] = set()
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ConfigurationError(f"unsupported or circular $ref {ref!r}", field="$ref")
        seen.add(ref)
        target: Any = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise ConfigurationError(f"dangling $ref {ref!r}", field="$ref")
            target = target[part]
        node = target
    return node


def _types(schema: Mapping[str, Any]) -> frozenset[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        out = {declared}
    elif isinstance(declared, list):
        out = {str(t) for t in declared}
    elif "properties" in schema:
        out = {"object"}
    elif "items" in schema:
        out = {"array"}
    else:
        out = {"any"}
    if schema.get("nullable") is True:  # OpenAPI 3.0 spelling of "or null"
        out.add("null")
    return frozenset(out)


REQUIRED_IN = "x-munivideo-required-in"
"""Key of a merged schema: property name -> the ``oneOf[i]``/``anyOf[i]`` members requiring it."""


def _merged(doc: Mapping[str, Any], schema: Any) -> dict[str, Any]:
    """A schema with ``$ref`` followed and ``allOf`` folded in; ``oneOf``/``anyOf`` members
    contribute their properties as optional ones and their types as alternatives, and what
    each member requires is kept under :data:`REQUIRED_IN` (a member's ``required`` list is a
    contract too)."""
    schema = resolve(doc, schema)
    if not isinstance(schema, Mapping):
        return {}
    out: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("allOf", "oneOf", "anyOf")}
    for member in schema.get("allOf", []):
        part = _merged(doc, member)
        out.setdefault("properties", {}).update(part.get("properties", {}))
        out["required"] = [*out.get("required", []), *part.get("required", [])]
        for key in ("type", "enum", "pattern", "items"):
            if key in part and key not in out:
                out[key] = part[key]
        for name, labels in part.get(REQUIRED_IN, {}).items():
            out.setdefault(REQUIRED_IN, {}).setdefault(name, []).extend(labels)
    alternatives = [
        (f"{keyword}[{index}]", member)
        for keyword in ("oneOf", "anyOf")
        for index, member in enumerate(schema.get(keyword, []))
    ]
    if alternatives:
        types: set[str] = set(_types(out)) - {"any"} if "type" in out else set()
        for label, member in alternatives:
            part = _merged(doc, member)
            types |= _types(part)
            for name in part.get("required", []):
                out.setdefault(REQUIRED_IN, {}).setdefault(name, []).append(label)
            for name, prop in part.get("properties", {}).items():
                out.setdefault("properties", {}).setdefault(name, prop)
            if "items" in part:
                out.setdefault("items", part["items"])
        out["type"] = sorted(types)
    return out


def schema_fields(doc: Mapping[str, Any], schema: Any, root: str = "") -> dict[str, FieldShape]:
    """Every property under ``schema``, by path (``requerentes[]/cpfCnpj``)."""
    out: dict[str, FieldShape] = {}

    def shape(
        path: str, node: Mapping[str, Any], required: bool, required_in: Any = ()
    ) -> FieldShape:
        enum = node.get("enum")
        if enum is None and "const" in node:
            enum = [node["const"]]
        return FieldShape(
            path=path,
            types=_types(node),
            required=required,
            required_in=frozenset(str(label) for label in required_in),
            enum=frozenset(str(v) for v in enum) if isinstance(enum, list) else None,
            pattern=str(node["pattern"]) if "pattern" in node else None,
        )

    def walk(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        required = set(node.get("required", []))
        required_in = node.get(REQUIRED_IN, {})
        for name, prop in (node.get("properties") or {}).items():
            child = _merged(doc, prop)
            path = f"{prefix}{name}"
            out[path] = shape(path, child, name in required, required_in.get(name, ()))
            walk(child, path + "/", depth + 1)
            items_of(child, path, depth)

    def items_of(node: Mapping[str, Any], path: str, depth: int) -> None:
        if "items" in node and isinstance(node["items"], Mapping | dict):
            items = _merged(doc, node["items"])
            item_path = f"{path}[]"
            out[item_path] = shape(item_path, items, True)
            walk(items, item_path + "/", depth + 1)
            items_of(items, item_path, depth + 1)

    top = _merged(doc, schema)
    if root:
        out[root] = shape(root, top, True)
    walk(top, f"{root}/" if root else "", 0)
    items_of(top, root, 0)
    return out


def _body_schema(doc: Mapping[str, Any], holder: Any) -> Any:
    holder = resolve(doc, holder)
    content = holder.get("content") if isinstance(holder, Mapping) else None
    if not isinstance(content, Mapping) or not content:
        return None
    for media_type in ("application/json", "application/problem+json"):
        if media_type in content:
            return resolve(doc, content[media_type]).get("schema")
    return resolve(doc, next(iter(content.values()))).get("schema")


def operations(doc: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any], list[Any]]]:
    """``(method, path, operation, path-level parameters)`` for every operation."""
    found = []
    for path, item in (doc.get("paths") or {}).items():
        item = resolve(doc, item)
        shared = list(item.get("parameters", []))
        for method in METHODS:
            if isinstance(item.get(method), Mapping):
                found.append((method, str(path), item[method], shared))
    return found


def from_openapi(path: Path) -> ContractModel:
    """An OpenAPI 3.x document (or Swagger 2.0, converted first) as a :class:`ContractModel`.

    One :class:`Operation` per path and method, keyed ``METHOD /path`` and labelled by its
    ``operationId``; parameters keyed ``<in>:<name>`` (header names lower-cased, path parameters
    required unless stated); the JSON request body's fields (``request_body_required`` from
    ``requestBody.required``); each response status's body fields (``application/json`` first,
    then ``application/problem+json``, then the first media type). Only local ``$ref`` are
    followed; ``allOf`` is folded in, ``oneOf``/``anyOf`` members give alternative types and
    optional fields (see OpenAPI 3.1 / JSON Schema 2020-12 for the keywords).

    :param path: a YAML or JSON file.
    :raises ConfigurationError: the file cannot be read, is not safe YAML, is neither OpenAPI 3
        nor Swagger 2.0, or holds a non-local, circular or dangling ``$ref``.
    """
    doc = load_document(path)
    model = ContractModel(flavor=Flavor.REST, source=str(path))
    for method, url, op, shared in operations(doc):
        key = f"{method.upper()} {url}"
        operation = Operation(key=key, label=str(op.get("operationId") or key))
        for raw in [*shared, *op.get("parameters", [])]:
            param = resolve(doc, raw)
            location = str(param.get("in", "query"))
            name = str(param.get("name", ""))
            name = name.lower() if location == "header" else name
            schema = _merged(doc, param.get("schema", {}))
            enum = schema.get("enum")
            operation.parameters[f"{location}:{name}"] = Parameter(
                key=f"{location}:{name}",
                required=bool(param.get("required", location == "path")),
                types=_types(schema),
                enum=frozenset(str(v) for v in enum) if isinstance(enum, list) else None,
            )
        body = op.get("requestBody")
        if body is not None:
            body = resolve(doc, body)
            operation.request_body_required = bool(body.get("required", False))
            schema = _body_schema(doc, body)
            if schema is not None:
                operation.request = schema_fields(doc, schema)
        for status, response in (op.get("responses") or {}).items():
            schema = _body_schema(doc, response)
            operation.responses[str(status)] = (
                schema_fields(doc, schema) if schema is not None else {}
            )
        model.operations[key] = operation
    return model
