"""Resources at the adapter edge: fhir.resources (R4B models, which read R4 JSON) validates the
structure, :data:`munivideo_fhir.codes.REQUIRED_CODES` the codes the library lets through."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from munivideo.errors import ContractViolationError, InvalidRecordError, MunivideoError
from munivideo_fhir.codes import REQUIRED_CODES

Resource = dict[str, Any]


def _values(node: Any, path: list[str]) -> list[Any]:
    nodes = [node]
    for part in path:
        nxt: list[Any] = []
        for n in nodes:
            value = n.get(part) if isinstance(n, dict) else None
            nxt += value if isinstance(value, list) else ([] if value is None else [value])
        nodes = nxt
    return nodes


def problems(resource: Resource) -> tuple[str, str] | None:
    """The first (field, reason) that makes ``resource`` invalid, or None."""
    type_ = resource.get("resourceType")
    if not isinstance(type_, str):
        return "resourceType", "not a FHIR resource"
    try:
        get_fhir_model_class(type_).model_validate(resource)
    except ValueError as exc:  # unknown type, or pydantic's ValidationError (a ValueError)
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return f"{type_}.{where}" if where else type_, str(first["msg"])
        return "resourceType", str(exc)
    for (rtype, path), codes in REQUIRED_CODES.items():
        if rtype == type_:
            allowed = {c.value for c in codes}
            for value in _values(resource, path.split(".")):
                if value not in allowed:
                    return f"{rtype}.{path}", f"{value!r} is not a {rtype}.{path} code"
    return None


def checked_in(resource: Resource, record_id: str) -> Resource:
    """A resource read from the server, validated: :class:`InvalidRecordError` if not."""
    return _check(resource, record_id, InvalidRecordError)


def checked_out(resource: Resource, record_id: str) -> Resource:
    """A resource we are about to write, validated: writing an invalid one is our bug
    (:class:`ContractViolationError`)."""
    return _check(resource, record_id, ContractViolationError)


def _check(resource: Resource, record_id: str, error: type[MunivideoError]) -> Resource:
    found = problems(resource)
    if found is not None:
        field, reason = found
        raise error(reason, record_id=record_id, field=field)
    return resource
