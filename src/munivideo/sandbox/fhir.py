"""The sandbox's FHIR R4 endpoint (``/fhir``): JSON only, every write validated with
fhir.resources, versioned with ETags, with the same fault injection as the ERP contracts.

Interactions (``[base]`` is ``http://host:port/fhir``):

=================================  ======================================  ====================
request                            interaction                             fault target
=================================  ======================================  ====================
GET    [base]/metadata             capabilities                            capabilities
POST   [base]  (Bundle transaction) transaction, all or nothing            transaction
GET    [base]/Type?params          search (see :mod:`.fhir_search`)        searchType
POST   [base]/Type                 create; ``If-None-Exist`` = conditional createType
PUT    [base]/Type/id              update; ``If-Match: W/"n"`` = locked    updateType
PUT    [base]/Type?params          conditional update                      updateType
GET    [base]/Type/id              read (``ETag``, ``Last-Modified``)      readType
GET    [base]/Type/id/_history/n   vread                                   vreadType
GET    [base]/Type[/id]/_history   history (``_since``, ``_count``)        historyType
=================================  ======================================  ====================

Errors are OperationOutcomes. The fault grammar is :mod:`munivideo.sandbox.faults`'s; a
``fault`` answers a 500 OperationOutcome (issue ``exception``), ``drop_after_commit`` commits
(the whole transaction) and closes the connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from werkzeug.wrappers import Request, Response

from munivideo.sandbox.context import Call, Context
from munivideo.sandbox.fhir_rules import RESOURCE_TYPES, validate
from munivideo.sandbox.fhir_search import search
from munivideo.sandbox.fhir_store import (
    FhirError,
    FhirStore,
    Resource,
    Version,
    instant,
    parse_if_match,
)
from munivideo.sandbox.responses import DropConnection, bad_gateway, truncated

PREFIX = "/fhir"
MEDIA_TYPE = "application/fhir+json"
_JSON_TYPES = ("application/fhir+json", "application/json")
FAULT_OUTCOMES: dict[str, tuple[int, str]] = {
    "ERRO_INTERNO": (500, "exception"),
    "INDISPONIVEL": (503, "transient"),
    "REQUISICAO_INVALIDA": (400, "invalid"),
    "NAO_ENCONTRADO": (404, "not-found"),
}
"""How the ``fault:CODE`` action answers on FHIR: (HTTP status, OperationOutcome issue type)."""


def is_fhir_path(path: str) -> bool:
    """True for ``/fhir`` and everything below it (the app's routing hook)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


# -- rendering ------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type=f"{MEDIA_TYPE}; charset=utf-8",
    )


def outcome(status: int, code: str, diagnostics: str, expression: str | None = None) -> Response:
    """An OperationOutcome with one error issue."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return _json({"resourceType": "OperationOutcome", "issue": [issue]}, status)


def _from_error(error: FhirError) -> Response:
    return outcome(error.status, error.code, error.diagnostics, error.expression)


def _with_version(response: Response, version: Version) -> Response:
    response.headers["ETag"] = version.etag
    response.headers["Last-Modified"] = version.last_updated.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response


def _resource(version: Version, status: int = 200, *, location: str | None = None) -> Response:
    response = _with_version(_json(version.resource, status), version)
    if location:
        response.headers["Location"] = location
    return response


def _status_line(status: int) -> str:
    return {200: "200 OK", 201: "201 Created"}.get(status, str(status))


# -- interactions ---------------------------------------------------------------------------------


class _Server:
    """One request's view of the FHIR server."""

    def __init__(self, call: Call, request: Request) -> None:
        self.call = call
        self.request = request
        self.store: FhirStore = call.ctx.fhir
        self.base = request.host_url.rstrip("/") + PREFIX

    def body(self) -> Any:
        kind = (self.request.mimetype or "").lower()
        if kind not in _JSON_TYPES:
            raise FhirError(415, "not-supported", "send application/fhir+json", "Content-Type")
        try:
            return json.loads(self.request.get_data(as_text=False) or b"null")
        except ValueError:
            raise FhirError(400, "structure", "the body is not JSON", "body") from None

    def resolve(self, ref: str) -> Version | None:
        type_, _, id_ = ref.partition("/")
        try:
            return self.store.read(type_, id_)
        except FhirError:
            return None

    def find(self, type_: str, query: str) -> list[Version]:
        params = parse_qsl(query, keep_blank_values=True)
        if not params:
            raise FhirError(400, "invalid", "a conditional interaction needs criteria", "url")
        params = [(k, v) for k, v in params if k != "_count"] + [("_count", "2")]
        return search(self.store.current(type_), type_, params, self.resolve).matches

    # -- single-resource interactions -----------------------------------------------------------

    def create(
        self, type_: str, resource: Resource, if_none_exist: str | None
    ) -> tuple[Version, int]:
        validate(resource, type_)
        self.call.before_write()
        with self.store.atomic():
            if if_none_exist:
                found = self.find(type_, if_none_exist)
                if len(found) > 1:
                    raise FhirError(
                        412, "duplicate", "If-None-Exist matches several", "If-None-Exist"
                    )
                if found:
                    return found[0], 200
            return self.store.create(type_, resource), 201

    def update(
        self, type_: str, id_: str | None, query: str, resource: Resource, if_match: str | None
    ) -> tuple[Version, int]:
        validate(resource, type_)
        version = parse_if_match(if_match) if if_match else None
        self.call.before_write()
        with self.store.atomic():
            if id_ is None:
                found = self.find(type_, query)
                if len(found) > 1:
                    raise FhirError(412, "duplicate", "the criteria match several", "url")
                if not found:
                    if "id" in resource:
                        raise FhirError(400, "invalid", "a conditional create has no id", "id")
                    return self.store.create(type_, resource), 201
                id_ = found[0].id
            if resource.get("id") not in (None, id_):
                raise FhirError(400, "invalid", f"the body's id is not {id_}", "id")
            stored, created = self.store.update(type_, id_, resource, if_match=version)
            return stored, 201 if created else 200

    def search_bundle(self, type_: str, params: list[tuple[str, str]]) -> Resource:
        result = search(self.store.current(type_), type_, params, self.resolve)
        query = [(k, v) for k, v in params if k != "_offset"]
        links = [{"relation": "self", "url": self._url(type_, params)}]
        if result.offset + result.count < result.total and result.count > 0:
            nxt = [*query, ("_offset", str(result.offset + result.count))]
            links.append({"relation": "next", "url": self._url(type_, nxt)})
        entries = [self._entry(v, "match") for v in result.matches]
        entries += [self._entry(v, "include") for v in result.includes]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": result.total,
            "link": links,
            "entry": entries,
        }

    def history_bundle(self, type_: str, id_: str | None, params: dict[str, str]) -> Resource:
        unknown = set(params) - {"_since", "_count"}
        if unknown:
            name = sorted(unknown)[0]
            raise FhirError(400, "not-supported", f"_history has no parameter {name!r}", name)
        since = None
        if "_since" in params:
            try:
                since = datetime.fromisoformat(params["_since"].replace("Z", "+00:00"))
            except ValueError:
                raise FhirError(400, "invalid", "_since is not an instant", "_since") from None
        versions = self.store.history(type_, id_, since)
        count = int(params["_count"]) if params.get("_count", "").isdigit() else 100
        entries = []
        for v in versions[:count]:
            url = f"{v.type}/{v.id}" if v.method == "PUT" else v.type
            entries.append(
                {
                    "fullUrl": f"{self.base}/{v.type}/{v.id}",
                    "resource": v.resource,
                    "request": {"method": v.method, "url": url},
                    "response": {
                        "status": "201 Created" if v.version == 1 else "200 OK",
                        "etag": v.etag,
                        "lastModified": instant(v.last_updated),
                    },
                }
            )
        return {
            "resourceType": "Bundle",
            "type": "history",
            "total": len(versions),
            "entry": entries,
        }

    def _url(self, type_: str, params: list[tuple[str, str]]) -> str:
        return f"{self.base}/{type_}" + (f"?{urlencode(params)}" if params else "")

    def _entry(self, version: Version, mode: str) -> Resource:
        return {
            "fullUrl": f"{self.base}/{version.type}/{version.id}",
            "resource": version.resource,
            "search": {"mode": mode},
        }

    # -- transaction ----------------------------------------------------------------------------

    def transaction(self, bundle: Any) -> Resource:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise FhirError(400, "structure", "POST [base] takes a Bundle", "resourceType")
        if bundle.get("type") != "transaction":
            raise FhirError(400, "not-supported", "only transaction bundles", "Bundle.type")
        entries: list[dict[str, Any]] = list(bundle.get("entry") or [])
        for n, entry in enumerate(entries):
            request = entry.get("request") or {}
            if request.get("method") not in ("POST", "PUT", "GET"):
                raise FhirError(
                    400, "not-supported", "POST, PUT or GET", f"Bundle.entry[{n}].request"
                )
            if request.get("method") != "GET":
                validate(entry.get("resource"))
        self.call.before_write()
        results: list[dict[str, Any] | None] = [None] * len(entries)
        with self.store.atomic():
            ids: dict[str, str] = {}
            fresh: dict[int, str] = {}
            for n, entry in enumerate(entries):  # POSTs first: they define the ids
                request = entry["request"]
                if request["method"] != "POST":
                    continue
                type_ = str(request.get("url", "")).strip("/")
                if type_ not in RESOURCE_TYPES:
                    raise FhirError(
                        404, "not-supported", f"no type {type_!r}", f"Bundle.entry[{n}]"
                    )
                found = (
                    self.find(type_, request["ifNoneExist"]) if request.get("ifNoneExist") else []
                )
                if len(found) > 1:
                    raise FhirError(
                        412, "duplicate", "ifNoneExist matches several", f"Bundle.entry[{n}]"
                    )
                if found:
                    results[n] = {"version": found[0], "status": 200}
                    target = found[0].id
                else:
                    target = fresh[n] = self.store.allocate_id(type_)
                if entry.get("fullUrl"):
                    ids[entry["fullUrl"]] = f"{type_}/{target}"
            for entry in entries:
                if "resource" in entry:
                    entry["resource"] = _rewrite(entry["resource"], ids)
            for n, id_ in fresh.items():
                type_ = entries[n]["request"]["url"].strip("/")
                results[n] = {
                    "version": self.store.create(type_, entries[n]["resource"], id_=id_),
                    "status": 201,
                }
            for n, entry in enumerate(entries):
                request = entry["request"]
                if request["method"] != "PUT":
                    continue
                path, _, query = str(request.get("url", "")).partition("?")
                type_, _, id_ = path.strip("/").partition("/")
                version, status = self._put_in_tx(n, type_, id_ or None, query, entry, request)
                results[n] = {"version": version, "status": status}
            for n, entry in enumerate(entries):
                if entry["request"]["method"] == "GET":
                    path = entry["request"].get("url", "")
                    type_, _, id_ = str(path).strip("/").partition("/")
                    results[n] = {"version": self.store.read(type_, id_), "status": 200}
        response_entries = []
        for result in results:
            assert result is not None
            version = result["version"]
            response_entries.append(
                {
                    "fullUrl": f"{self.base}/{version.type}/{version.id}",
                    "resource": version.resource,
                    "response": {
                        "status": _status_line(result["status"]),
                        "location": version.location,
                        "etag": version.etag,
                        "lastModified": instant(version.last_updated),
                    },
                }
            )
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": response_entries}

    def _put_in_tx(
        self,
        n: int,
        type_: str,
        id_: str | None,
        query: str,
        entry: dict[str, Any],
        request: dict[str, Any],
    ) -> tuple[Version, int]:
        if type_ not in RESOURCE_TYPES:
            raise FhirError(404, "not-supported", f"no type {type_!r}", f"Bundle.entry[{n}]")
        try:
            version = parse_if_match(request["ifMatch"]) if request.get("ifMatch") else None
            resource = entry["resource"]
            if id_ is None:
                found = self.find(type_, query)
                if len(found) > 1:
                    raise FhirError(412, "duplicate", "the criteria match several", "url")
                if not found:
                    return self.store.create(type_, resource), 201
                id_ = found[0].id
            stored, created = self.store.update(type_, id_, resource, if_match=version)
            return stored, 201 if created else 200
        except FhirError as exc:
            exc.expression = f"Bundle.entry[{n}]" + (
                f" ({exc.expression})" if exc.expression else ""
            )
            raise


def _rewrite(node: Any, ids: dict[str, str]) -> Any:
    """Replace ``urn:uuid:`` references with the ids the transaction assigned."""
    if isinstance(node, dict):
        out = {k: _rewrite(v, ids) for k, v in node.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in ids:
            out["reference"] = ids[ref]
        return out
    if isinstance(node, list):
        return [_rewrite(x, ids) for x in node]
    return node


def capability_statement(base: str) -> Resource:
    """What the sandbox serves, as a CapabilityStatement."""
    interactions = [{"code": c} for c in ("read", "vread", "update", "create", "search-type")]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementation": {"description": "munivideo sandbox FHIR R4", "url": base},
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}, {"code": "history-system"}],
                "resource": [
                    {
                        "type": t,
                        "versioning": "versioned-update",
                        "readHistory": True,
                        "conditionalCreate": True,
                        "conditionalUpdate": True,
                        "interaction": [*interactions, {"code": "history-instance"}],
                    }
                    for t in RESOURCE_TYPES
                ],
            }
        ],
    }


# -- routing --------------------------------------------------------------------------------------


def _route(method: str, parts: list[str]) -> tuple[str, str | None, str | None, int | None]:
    """(interaction, type, id, version) for a path below /fhir."""
    if not parts:
        if method == "POST":
            return "transaction", None, None, None
        raise FhirError(405, "not-supported", f"{method} [base] is not supported", "method")
    if parts == ["metadata"] and method == "GET":
        return "capabilities", None, None, None
    type_ = parts[0]
    if type_ not in RESOURCE_TYPES:
        raise FhirError(404, "not-supported", f"{type_} is not served here", "type")
    shapes: dict[tuple[int, str], str] = {
        (1, "GET"): "search",
        (1, "POST"): "create",
        (1, "PUT"): "update",
        (2, "GET"): "read",
        (2, "PUT"): "update",
    }
    if (len(parts) >= 2 and parts[-1] == "_history") or (
        len(parts) == 4 and parts[2] == "_history"
    ):
        if method != "GET":
            raise FhirError(405, "not-supported", "_history is read-only", "method")
        if len(parts) == 2:
            return "history", type_, None, None
        if len(parts) == 3:
            return "history", type_, parts[1], None
        if not parts[3].isdigit():
            raise FhirError(400, "invalid", "a version id is a number", "vid")
        return "vread", type_, parts[1], int(parts[3])
    interaction = shapes.get((len(parts), method))
    if interaction is None:
        raise FhirError(
            405, "not-supported", f"{method} {'/'.join(parts)} is not supported", "method"
        )
    return interaction, type_, parts[1] if len(parts) == 2 else None, None


def _dispatch(
    server: _Server, interaction: str, type_: str | None, id_: str | None, vid: int | None
) -> Response:
    request = server.request
    params = list(parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True))
    if interaction == "capabilities":
        return _json(validate(capability_statement(server.base)))
    if interaction == "transaction":
        return _json(server.transaction(server.body()))
    assert type_ is not None
    handlers: dict[str, Callable[[], Response]] = {
        "search": lambda: _json(server.search_bundle(type_, params)),
        "read": lambda: _resource(server.store.read(type_, str(id_))),
        "vread": lambda: _resource(server.store.vread(type_, str(id_), int(vid or 0))),
        "history": lambda: _json(server.history_bundle(type_, id_, dict(params))),
    }
    if interaction in handlers:
        return handlers[interaction]()
    body = server.body()
    if interaction == "create":
        version, status = server.create(type_, body, request.headers.get("If-None-Exist"))
        return _resource(version, status, location=f"{server.base}/{version.location}")
    query = request.query_string.decode("latin-1")
    version, status = server.update(type_, id_, query, body, request.headers.get("If-Match"))
    return _resource(version, status, location=f"{server.base}/{version.location}")


def handle(ctx: Context, request: Request) -> Response:
    """Answer one request below ``/fhir`` (fault injection first, as the ERP front ends do)."""
    parts = [p for p in request.path[len(PREFIX) :].split("/") if p]
    try:
        interaction, type_, id_, vid = _route(request.method, parts)
    except FhirError as exc:
        return _from_error(exc)
    operation = interaction if type_ is None else f"{interaction}{type_}"
    call = Call(ctx, operation, ctx.decide(operation))
    ctx.sleep(call.decision.delay)
    rule = call.decision.action
    if rule is not None:
        if rule.action == "drop":
            raise DropConnection
        if rule.action == "error":
            return bad_gateway(rule.status)
        if rule.action in ("unavailable", "ratelimit"):
            status = 503 if rule.action == "unavailable" else 429
            response = outcome(
                status, "transient" if status == 503 else "throttled", "try again later"
            )
            response.headers["Retry-After"] = str(int(rule.seconds))
            return response
        if rule.action == "fault":
            status, code = FAULT_OUTCOMES.get(rule.code, (500, "exception"))
            return outcome(status, code, f"injected fault {rule.code}")
    try:
        response = _dispatch(_Server(call, request), interaction, type_, id_, vid)
    except FhirError as exc:
        response = _from_error(exc)
    if rule is not None and rule.action == "drop_after_commit":
        raise DropConnection
    if rule is not None and rule.action == "malformed":
        return truncated(response)
    return response
