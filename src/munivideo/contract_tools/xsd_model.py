"""WSDL 1.1 / XSD -> :class:`ContractModel`.

Schemas load with xmlschema in ``defuse="always"`` mode and ``allow="local"`` (no remote
fetches: published contracts from a URL are first copied locally by :mod:`.sources`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xmlschema
from xmlschema.extras.wsdl import Wsdl11Document
from xmlschema.validators import XsdAnyElement, XsdGroup

from munivideo.contract_tools.model import ContractModel, FieldShape, Flavor, Operation
from munivideo.errors import ConfigurationError

_RESPONSE_SUFFIXES = ("Resposta", "Response")
_MAX_DEPTH = 12  # recursive types (a protocol holding protocols) stop here


def load_schema(path: Path) -> xmlschema.XMLSchema:
    """An XSD 1.0 schema, loaded defused (no DTD or entities) and with local imports only.

    :raises ConfigurationError: (``field="schema"``) unreadable, invalid, or importing a
        remote schema.
    """
    try:
        return xmlschema.XMLSchema(str(path.resolve()), defuse="always", allow="local")
    except (xmlschema.XMLSchemaException, OSError) as exc:
        raise ConfigurationError(f"cannot load schema {path}: {exc}", field="schema") from None


def load_wsdl(path: Path) -> Any:
    """A WSDL 1.1 document (``xmlschema``'s ``Wsdl11Document``) with its schemas, loaded
    defused and with local imports only.

    :raises ConfigurationError: (``field="wsdl"``) unreadable, invalid, or importing a remote
        file.
    """
    try:
        return Wsdl11Document(  # type: ignore[no-untyped-call]
            str(path.resolve()), defuse="always", allow="local"
        )
    except (xmlschema.XMLSchemaException, OSError) as exc:
        raise ConfigurationError(f"cannot load WSDL {path}: {exc}", field="wsdl") from None


def _simple_types(xsd_type: Any) -> frozenset[str]:
    if xsd_type.is_complex():
        if xsd_type.has_simple_content():
            return _simple_types(xsd_type.content)
        return frozenset({"complex"})
    primitive = getattr(xsd_type, "primitive_type", None)
    if primitive is not None and getattr(primitive, "local_name", None):
        return frozenset({str(primitive.local_name)})
    member_types = getattr(xsd_type, "member_types", None)
    if member_types:
        out: set[str] = set()
        for member in member_types:
            out |= _simple_types(member)
        return frozenset(out)
    return frozenset({str(getattr(xsd_type, "local_name", None) or "anySimpleType")})


def _facets(xsd_type: Any) -> tuple[frozenset[str] | None, str | None]:
    if xsd_type.is_complex():
        if xsd_type.has_simple_content():
            return _facets(xsd_type.content)
        return None, None
    enum = getattr(xsd_type, "enumeration", None)
    patterns = getattr(xsd_type, "patterns", None)
    regexps = getattr(patterns, "regexps", None) if patterns is not None else None
    return (
        frozenset(str(v) for v in enum) if enum else None,
        "|".join(str(r) for r in regexps) if regexps else None,
    )


def _children(group: Any, optional: bool = False) -> list[tuple[Any, bool]]:
    """Child elements of a model group, each with "optional because of its group": a member of
    an ``xs:choice`` or of a group with ``minOccurs="0"`` may be absent however it is declared."""
    out: list[tuple[Any, bool]] = []
    for item in group:
        if isinstance(item, XsdGroup):
            nested = optional or item.model == "choice" or item.min_occurs == 0
            out += _children(item, nested)
        elif not isinstance(item, XsdAnyElement):
            out.append((item, optional))
    return out


def element_fields(element: Any) -> dict[str, FieldShape]:
    """Every descendant of a global element, by path relative to it."""
    out: dict[str, FieldShape] = {}

    def walk(node: Any, prefix: str, depth: int, seen: tuple[Any, ...]) -> None:
        node_type = node.type
        if depth > _MAX_DEPTH or not node_type.is_complex() or node_type in seen:
            return
        content = node_type.content
        if not isinstance(content, XsdGroup):
            return
        top_optional = content.model == "choice" or content.min_occurs == 0
        for child, optional in _children(content, top_optional):
            name = child.local_name or child.name
            if name is None:
                continue
            path = f"{prefix}{name}"
            enum, pattern = _facets(child.type)
            out[path] = FieldShape(
                path=path,
                types=_simple_types(child.type),
                required=child.min_occurs > 0 and not optional,
                enum=enum,
                pattern=pattern,
            )
            walk(child, path + "/", depth + 1, (*seen, node_type))
        for attribute in getattr(node_type, "attributes", {}).values():
            if attribute.local_name is None:
                continue
            path = f"{prefix}@{attribute.local_name}"
            enum, pattern = _facets(attribute.type)
            out[path] = FieldShape(
                path=path,
                types=_simple_types(attribute.type),
                required=attribute.use == "required",
                enum=enum,
                pattern=pattern,
            )

    walk(element, "", 0, ())
    return out


def from_wsdl(path: Path) -> ContractModel:
    """A WSDL 1.1 document as a :class:`ContractModel`: one :class:`Operation` per portType
    operation (key and label: its name), the input message's element fields as the request,
    the output message's as response ``output``. Fields are paths below the wrapper element
    (``protocolo/requerentes/requerente/cpfCnpj``, attributes as ``@name``); an element is
    required when ``minOccurs > 0`` and no enclosing ``xs:choice`` or optional group makes it
    optional; recursive types stop at 12 levels.

    :raises ConfigurationError: the WSDL does not load (see :func:`load_wsdl`).
    """
    wsdl = load_wsdl(path)
    model = ContractModel(flavor=Flavor.SOAP, source=str(path))
    for port_type in wsdl.port_types.values():
        for key, op in port_type.operations.items():
            name = key[0] if isinstance(key, tuple) else str(key)
            operation = Operation(key=name, label=name)
            if op.input is not None and op.input.message is not None:
                for part in op.input.message.parts.values():
                    if hasattr(part, "type") and hasattr(part, "min_occurs"):
                        operation.request.update(element_fields(part))
            if op.output is not None and op.output.message is not None:
                fields: dict[str, FieldShape] = {}
                for part in op.output.message.parts.values():
                    if hasattr(part, "type") and hasattr(part, "min_occurs"):
                        fields.update(element_fields(part))
                operation.responses["output"] = fields
            model.operations[name] = operation
    return model


def from_xsd(path: Path) -> ContractModel:
    """A bare schema: global elements pair up as ``op`` (request) and ``opResposta`` (response)."""
    schema = load_schema(path)
    model = ContractModel(flavor=Flavor.SOAP, source=str(path))
    elements = {e.local_name: e for e in schema.elements.values()}
    for name, element in sorted(elements.items()):
        base = next((name[: -len(s)] for s in _RESPONSE_SUFFIXES if name.endswith(s)), None)
        if base is not None and base in elements:
            continue
        operation = Operation(key=name, label=name, request=element_fields(element))
        for suffix in _RESPONSE_SUFFIXES:
            if name + suffix in elements:
                operation.responses["output"] = element_fields(elements[name + suffix])
        model.operations[name] = operation
    return model
