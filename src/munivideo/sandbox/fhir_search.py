"""The sandbox FHIR server's search: the parameters the FHIR adapter uses, nothing more.

A parameter the table does not list is refused (400), as a strict server does with
``Prefer: handling=strict``: a typo must not silently widen a search. Supported:

* token (``identifier``, ``status``): ``system|value``, ``|value``, ``value``; commas mean OR.
* reference (``patient``, ``actor``, ``slot``...): ``Type/id`` or a bare id.
* date (``date``, ``start``, ``_lastUpdated``): prefixes ``eq ge gt le lt``; a bare date
  (``2031-03-05``) with ``eq`` means that UTC day.
* ``_sort`` by a date parameter (``_lastUpdated``, ``date``, ``start``; ``-`` for descending;
  ties by id),
  ``_count`` (default 50, at most 500), ``_offset`` (paging links), ``_include``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from munivideo.sandbox.fhir_store import FhirError, Resource, Version

Kind = Literal["token", "reference", "date"]
Extract = Callable[[Resource], Iterable[Any]]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _identifiers(r: Resource) -> Iterable[tuple[str | None, str | None]]:
    return [(i.get("system"), i.get("value")) for i in _list(r.get("identifier"))]


def _code(field: str) -> Extract:
    return lambda r: [(None, r.get(field))] if r.get(field) is not None else []


def _refs(*paths: str) -> Extract:
    """References found at dotted ``paths`` (lists are walked)."""

    def extract(r: Resource) -> Iterable[str]:
        found: list[str] = []
        for path in paths:
            nodes: list[Any] = [r]
            for part in path.split("."):
                nodes = [x for n in nodes if isinstance(n, dict) for x in _list(n.get(part))]
            found += [n["reference"] for n in nodes if isinstance(n, dict) and "reference" in n]
        return found

    return extract


def _typed_refs(prefix: str, path: str) -> Extract:
    refs = _refs(path)
    return lambda r: [x for x in refs(r) if str(x).startswith(prefix + "/")]


def _when(*path: str) -> Extract:
    def extract(r: Resource) -> Iterable[str]:
        node: Any = r
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        return [node] if isinstance(node, str) else []

    return extract


@dataclass(frozen=True)
class Param:
    """One supported search parameter of a resource type (FHIR R4 search, section 3.1.1).

    :ivar kind: ``token``, ``reference`` or ``date``: how a query value is matched.
    :ivar extract: the values of a resource the parameter looks at (``(system, value)`` pairs
        for tokens, ``"Type/id"`` strings for references, timestamps for dates).
    """

    kind: Kind
    extract: Extract


_COMMON: dict[str, Param] = {
    "_id": Param("token", lambda r: [(None, r.get("id"))]),
    "_lastUpdated": Param("date", _when("meta", "lastUpdated")),
    "identifier": Param("token", _identifiers),
}

PARAMETERS: dict[str, dict[str, Param]] = {
    "Appointment": {
        "status": Param("token", _code("status")),
        "date": Param("date", _when("start")),
        "patient": Param("reference", _typed_refs("Patient", "participant.actor")),
        "practitioner": Param("reference", _typed_refs("Practitioner", "participant.actor")),
        "actor": Param("reference", _refs("participant.actor")),
        "slot": Param("reference", _refs("slot")),
        "supporting-info": Param("reference", _refs("supportingInformation")),
    },
    "Slot": {
        "status": Param("token", _code("status")),
        "start": Param("date", _when("start")),
        "schedule": Param("reference", _refs("schedule")),
    },
    "Schedule": {"actor": Param("reference", _refs("actor"))},
    "Patient": {},
    "Practitioner": {},
    "HealthcareService": {},
    "Encounter": {
        "status": Param("token", _code("status")),
        "date": Param("date", _when("period", "start")),
        "patient": Param("reference", _typed_refs("Patient", "subject")),
        "subject": Param("reference", _refs("subject")),
        "appointment": Param("reference", _refs("appointment")),
        "participant": Param("reference", _refs("participant.individual")),
    },
    "Consent": {
        "status": Param("token", _code("status")),
        "patient": Param("reference", _refs("patient")),
    },
    "DocumentReference": {"encounter": Param("reference", _refs("context.encounter"))},
    "ServiceRequest": {"encounter": Param("reference", _refs("encounter"))},
}
"""Search parameters per resource type (plus ``_id``, ``_lastUpdated``, ``identifier``)."""

CONTROL = frozenset({"_sort", "_count", "_offset", "_include", "_total", "_format"})
DEFAULT_COUNT = 50
MAX_COUNT = 500


def _parse_moment(text: str, name: str) -> tuple[datetime, datetime]:
    """The [start, end) an instant or a date stands for."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(400, "invalid", f"{text!r} is not a date", name) from None
    if moment.tzinfo is None:
        raise FhirError(400, "invalid", f"{text!r} needs a time zone", name)
    return moment, moment


def _date_matches(values: Iterable[str], prefix: str, low: datetime, high: datetime) -> bool:
    for raw in values:
        value, _ = _parse_moment(raw, "value")
        if (
            (prefix == "eq" and (low <= value < high if high > low else value == low))
            or (prefix == "ge" and value >= low)
            or (prefix == "gt" and value > (high if high > low else low))
            or (prefix == "le" and value <= low)
            or (prefix == "lt" and value < low)
        ):
            return True
    return False


def _token_matches(values: Iterable[tuple[str | None, str | None]], wanted: str) -> bool:
    for alternative in wanted.split(","):
        if "|" in alternative:
            system, _, code = alternative.partition("|")
            if any((system == "" or s == system) and v == code for s, v in values):
                return True
        elif any(v == alternative for _, v in values):
            return True
    return False


def _reference_matches(values: Iterable[str], wanted: str) -> bool:
    refs = list(values)
    for alternative in wanted.split(","):
        if any(r == alternative or r.rsplit("/", 1)[-1] == alternative for r in refs):
            return True
    return False


def _matches(resource: Resource, param: Param, name: str, wanted: str) -> bool:
    values = param.extract(resource)
    if param.kind == "token":
        return _token_matches(values, wanted)
    if param.kind == "reference":
        return _reference_matches(values, wanted)
    prefix = wanted[:2] if wanted[:2] in ("eq", "ge", "gt", "le", "lt") else "eq"
    text = wanted[2:] if wanted[:2] == prefix else wanted
    low, high = _parse_moment(text, name)
    return _date_matches(values, prefix, low, high)


@dataclass(frozen=True)
class SearchResult:
    """One page of a search, for the ``searchset`` Bundle.

    :ivar matches: the resources on this page, sorted.
    :ivar total: how many matched in all (``Bundle.total``).
    :ivar includes: resources ``_include`` pulled in, once each (``search.mode = include``).
    :ivar offset: the page's first index (``_offset``).
    :ivar count: the page size asked for (``_count``, default 50, at most 500).
    """

    matches: list[Version]
    total: int
    includes: list[Version]
    offset: int
    count: int


_NEVER = datetime.min.replace(tzinfo=UTC)


def _sort_key(table: dict[str, Param], name: str) -> Callable[[Version], tuple[datetime, int, str]]:
    """Sort by a date parameter of the type (``_lastUpdated``, ``date``, ``start``), then id."""
    param = table.get(name)
    if param is None or param.kind != "date":
        raise FhirError(400, "not-supported", f"cannot sort by {name!r}", "_sort")
    extract = param.extract

    def key(v: Version) -> tuple[datetime, int, str]:
        assert v.resource is not None
        found = list(extract(v.resource))
        stamp = _parse_moment(found[0], name)[0] if found else _NEVER
        return (stamp, int(v.id) if v.id.isdigit() else 0, v.id)

    return key


def _int(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise FhirError(400, "invalid", f"{name} must be a number in [{low}, {high}]", name)
    return int(text)


def search(
    candidates: list[Version],
    type_: str,
    params: list[tuple[str, str]],
    resolve: Callable[[str], Version | None],
) -> SearchResult:
    """Filter, sort, page and include. ``resolve`` finds a referenced resource ("Type/id")."""
    table = {**_COMMON, **PARAMETERS.get(type_, {})}
    found = list(candidates)
    sort = "_id"
    count, offset = DEFAULT_COUNT, 0
    includes: list[str] = []
    for name, wanted in params:
        if name in CONTROL:
            if name == "_sort":
                sort = wanted
            elif name == "_count":
                count = _int(wanted, "_count", 0, MAX_COUNT)
            elif name == "_offset":
                offset = _int(wanted, "_offset", 0, 10_000_000)
            elif name == "_include":
                includes.append(wanted)
            continue
        param = table.get(name)
        if param is None:
            raise FhirError(400, "not-supported", f"{type_} has no search parameter {name!r}", name)
        found = [v for v in found if v.resource and _matches(v.resource, param, name, wanted)]
    if sort != "_id":
        descending = sort.startswith("-")
        found.sort(key=_sort_key(table, sort.lstrip("-")), reverse=descending)
    page = found[offset : offset + count]
    included: dict[str, Version] = {}
    for spec in includes:
        source, _, name = spec.partition(":")
        param = table.get(name) if source == type_ else None
        if param is None or param.kind != "reference":
            raise FhirError(400, "not-supported", f"cannot _include {spec!r}", "_include")
        for v in page:
            assert v.resource is not None
            for ref in param.extract(v.resource):
                target = resolve(str(ref))
                if target is not None:
                    included.setdefault(f"{target.type}/{target.id}", target)
    return SearchResult(page, len(found), list(included.values()), offset, count)
