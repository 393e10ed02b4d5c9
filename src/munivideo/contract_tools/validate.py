"""Validate one recorded request or response against a contract pack.

* SOAP: a SOAP 1.1/1.2 envelope; the operation is the Body's first element (``criarProtocolo`` is
  a request, ``criarProtocoloResposta`` its response, a ``Fault`` is checked by its ``detail``).
* REST: a recorded interaction as the packs' golden examples store it
  (``{"operationId", "request": {method, path, headers, body}, "response": {status, headers,
  body}}``), or a bare JSON body with the operation given on the command line or in a sidecar
  ``FILE.meta.json`` (``{"operationId" | "method"+"path", "kind", "status"}``).

Every violation names the failing path and the rule; values pass through
:func:`munivideo.redact.redact` so a CI log never shows a full CPF or a token.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
from lxml import etree

from munivideo.contract_tools.openapi_model import load_document, operations, resolve
from munivideo.contract_tools.safexml import element_path, local_name, parse_xml
from munivideo.contract_tools.sources import pack_contract
from munivideo.contract_tools.xsd_model import load_wsdl
from munivideo.errors import ConfigurationError, ContractViolationError
from munivideo.redact import redact

SOAP_ENVELOPES = (
    "http://schemas.xmlsoap.org/soap/envelope/",
    "http://www.w3.org/2003/05/soap-envelope",
)
_RESPONSE_SUFFIXES = ("Resposta", "Response")
KINDS = ("request", "response")


@dataclass(frozen=True)
class Violation:
    """One reason a recording breaks the contract.

    :ivar path: where: an element path (``/Envelope/Body/criarProtocolo/...``) for SOAP, a
        JSON pointer-like path (``/request/body/requerentes/0/cpfCnpj``,
        ``/request/query/limite``, ``/response/status``) for REST.
    :ivar rule: the failing check: an XSD facet or jsonschema keyword (``pattern``,
        ``maximum``, ``enum``, ``required``), or ``xml-safety``, ``envelope``, ``operation``,
        ``kind``, ``json``, ``security``, ``status``.
    :ivar message: what is wrong, values redacted (:func:`munivideo.redact.redact`).
    """

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (rule: {self.rule})"


@dataclass
class ValidationReport:
    """The outcome of validating one recording.

    :ivar source: the file (or label) validated.
    :ivar operation: the operation it was found or asserted to be (SOAP operation name or
        REST operationId).
    :ivar kind: ``request``, ``response``, or ``request+response`` for a whole REST
        interaction.
    :ivar violations: everything wrong, in order found; empty when valid.
    """

    source: str
    operation: str | None = None
    kind: str | None = None
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No violations (``munivideo contracts validate`` exits 0 only if every file is ok)."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``validate --json``): ``source``, ``operation``, ``kind``, ``ok`` and
        ``violations`` as ``[{"path", "rule", "message"}]``."""
        return {
            "source": self.source,
            "operation": self.operation,
            "kind": self.kind,
            "ok": self.ok,
            "violations": [vars(v) for v in self.violations],
        }


def _usage(message: str, field_name: str) -> ConfigurationError:
    return ConfigurationError(message, field=field_name)


# -- SOAP ------------------------------------------------------------------------------------


class SoapPack:
    """The WSDL of a pack, loaded once: operation -> (request element, response element)."""

    def __init__(self, wsdl: Path) -> None:
        document = load_wsdl(wsdl)
        self.requests: dict[str, Any] = {}
        self.responses: dict[str, Any] = {}
        self.faults: dict[str, Any] = {}
        for port_type in document.port_types.values():
            for key, op in port_type.operations.items():
                name = key[0] if isinstance(key, tuple) else str(key)
                for target, message in (
                    (self.requests, op.input.message if op.input else None),
                    (self.responses, op.output.message if op.output else None),
                ):
                    parts = list(message.parts.values()) if message is not None else []
                    if parts:
                        target[name] = parts[0]
                for fault in op.faults.values():
                    for part in fault.message.parts.values():
                        self.faults[local_name(part.name)] = part

    def validate(
        self, data: bytes, source: str, operation: str | None, kind: str | None
    ) -> ValidationReport:
        """Validate a recorded SOAP 1.1 or 1.2 envelope against the WSDL's message elements.

        The Body's first element decides: ``op`` is a request, ``opResposta``/``opResponse`` a
        response, a ``Fault`` is checked by the fault elements in its ``detail``. Safety,
        envelope and operation problems are reported as violations, not raised.

        :param data: the envelope's bytes.
        :param source: the label violations are reported under (the file name).
        :param operation: assert the operation (a violation ``operation`` otherwise).
        :param kind: assert ``request`` or ``response`` (a violation ``kind`` otherwise).
        """
        report = ValidationReport(source=source, operation=operation, kind=kind)
        try:
            root = parse_xml(data, source=source)
        except ContractViolationError as exc:
            report.violations.append(Violation("/", "xml-safety", exc.message))
            return report
        if etree.QName(root).namespace not in SOAP_ENVELOPES or local_name(root.tag) != "Envelope":
            report.violations.append(
                Violation(element_path(root), "envelope", "not a SOAP envelope")
            )
            return report
        body = next((c for c in root if local_name(c.tag) == "Body"), None)
        children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
        if not children:
            report.violations.append(Violation("/Envelope/Body", "envelope", "empty SOAP Body"))
            return report
        payload = children[0]
        name = local_name(payload.tag)
        if name == "Fault":
            report.kind = kind or "response"
            return self._fault(payload, report)
        found_kind = "request"
        for suffix in _RESPONSE_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in self.responses:
                name, found_kind = name[: -len(suffix)], "response"
        if operation is not None and operation != name:
            report.violations.append(
                Violation(
                    element_path(payload),
                    "operation",
                    f"the body holds {name}, not {operation}",
                )
            )
            return report
        if kind is not None and kind != found_kind:
            report.violations.append(
                Violation(
                    element_path(payload), "kind", f"the body is a {found_kind}, not a {kind}"
                )
            )
            return report
        report.operation, report.kind = name, found_kind
        table = self.requests if found_kind == "request" else self.responses
        element = table.get(name)
        if element is None:
            report.violations.append(
                Violation(element_path(payload), "operation", f"the pack has no operation {name}")
            )
            return report
        report.violations += self._errors(element, payload)
        return report

    def _fault(self, fault: etree._Element, report: ValidationReport) -> ValidationReport:
        detail = next((c for c in fault if local_name(c.tag) == "detail"), None)
        for child in detail if detail is not None else []:
            element = self.faults.get(local_name(child.tag))
            if element is not None:
                report.violations += self._errors(element, child)
        return report

    @staticmethod
    def _errors(element: Any, payload: etree._Element) -> list[Violation]:
        out = []
        for error in element.iter_errors(payload):
            node = error.elem if isinstance(error.elem, etree._Element) else payload
            rule = type(error.validator).__name__.removeprefix("Xsd").removesuffix("Facets")
            value = (node.text or "").strip() if len(node) == 0 else None
            reason = str(error.reason or error.message)
            message = f"value {value!r}: {reason}" if value is not None else reason
            regexps = getattr(error.validator, "regexps", None)
            if rule == "Pattern" and regexps:
                # Same wording as the REST side, so CI logs read alike for both dialects.
                message = f"value {value!r} does not match pattern {'|'.join(regexps)}"
            path = element_path(node)
            expected = getattr(error, "expected", None)
            if rule == "Group" and expected:
                # A missing child is reported on its parent: name the child, as the ERP would.
                names = [local_name(getattr(e, "name", "")) for e in expected]
                names = [n for n in names if n]
                if names:
                    path, rule = f"{path}/{names[0]}", "required"
                    message = f"missing element {' or '.join(names)}"
            out.append(Violation(path, rule.lower() or "schema", redact(message)))
        return out


# -- REST ------------------------------------------------------------------------------------


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


class RestPack:
    """The OpenAPI document of a pack, loaded once."""

    def __init__(self, openapi: Path) -> None:
        self.doc = load_document(openapi)
        self.ops = operations(self.doc)

    @cached_property
    def _by_id(self) -> dict[str, tuple[str, str, Mapping[str, Any], list[Any]]]:
        return {str(op.get("operationId")): (m, p, op, s) for m, p, op, s in self.ops}

    def find(
        self, operation: str | None, method: str | None, path: str | None
    ) -> tuple[str, str, Mapping[str, Any], list[Any], dict[str, str]]:
        """The OpenAPI operation a recording belongs to, by ``operationId`` or else by method
        and concrete path (``/api/v1/protocolos/2026/17`` matches ``/{ano}/{numero}``).

        :param operation: an ``operationId``; wins when given.
        :param method: the HTTP method, any case.
        :param path: the request path, query string allowed.
        :returns: ``(method, path template, operation object, path-level parameters, path
            parameter values)``; values are ``{}`` when only the operationId was known.
        :raises ConfigurationError: (``field="operation"``) an unknown operationId, no
            operation for the method and path, or neither given.
        """
        if operation is not None:
            if operation not in self._by_id:
                raise _usage(f"the pack has no operation {operation}", "operation")
            m, p, op, shared = self._by_id[operation]
            params: dict[str, str] = {}
            if path is not None:
                match = _template_regex(p).match(urlsplit(path).path)
                params = match.groupdict() if match else {}
            return m, p, op, shared, params
        if method is None or path is None:
            raise _usage("name the operation (--operation or a sidecar)", "operation")
        concrete = urlsplit(path).path
        for m, p, op, shared in self.ops:
            match = _template_regex(p).match(concrete)
            if m == method.lower() and match:
                return m, p, op, shared, match.groupdict()
        raise _usage(f"the pack has no operation {method.upper()} {concrete}", "operation")

    def _schema_errors(self, schema: Any, instance: Any, prefix: str) -> list[Violation]:
        wrapped = dict(schema) if isinstance(schema, Mapping) else {}
        # Local $refs (#/components/...) resolve against the document root: embed it.
        wrapped["components"] = self.doc.get("components", {})
        validator = jsonschema.Draft202012Validator(
            wrapped, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        out = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path)):
            where = prefix + "".join(f"/{p}" for p in error.absolute_path)
            rule = str(error.validator)
            if rule == "pattern":
                message = f"value {error.instance!r} does not match pattern {error.validator_value}"
            elif rule == "enum":
                message = f"value {error.instance!r} is not one of {error.validator_value}"
            else:
                message = error.message
            out.append(Violation(where or "/", rule, redact(message)))
        return out

    @staticmethod
    def _content_schema(doc: Mapping[str, Any], holder: Any, content_type: str | None) -> Any:
        content = holder.get("content") if isinstance(holder, Mapping) else None
        if not isinstance(content, Mapping) or not content:
            return None
        media = (content_type or "").split(";")[0].strip().lower()
        chosen = content.get(media) if media else None
        if chosen is None:
            chosen = content.get("application/json") or next(iter(content.values()))
        return resolve(doc, chosen).get("schema")

    def validate(
        self,
        interaction: Mapping[str, Any],
        source: str,
        operation: str | None,
        kind: str | None,
    ) -> ValidationReport:
        """Validate a recorded REST interaction against the OpenAPI document.

        Request: path, query and header parameters (integers parsed from text), security
        (a credential present where the operation requires one), the body against the schema of
        its ``Content-Type`` (form fields recorded under ``form`` count as the body). Response:
        the status must be declared (exactly, as ``2XX``-style range or ``default``), required
        headers present, the body valid. Schemas are checked with jsonschema draft 2020-12,
        formats on.

        :param interaction: ``{"operationId"?, "request"?: {method, path, headers, query, body |
            form}, "response"?: {status, headers, body}}``.
        :param source: the label violations are reported under.
        :param operation: the operationId, when the interaction does not name it.
        :param kind: check only ``request`` or ``response``; default: the parts present.
        :raises ConfigurationError: the operation cannot be identified (see :meth:`find`).
        """
        raw_request, raw_response = interaction.get("request"), interaction.get("response")
        request: Mapping[str, Any] = raw_request if isinstance(raw_request, Mapping) else {}
        response: Mapping[str, Any] = raw_response if isinstance(raw_response, Mapping) else {}
        operation = operation or interaction.get("operationId")
        _, path, op, shared, path_params = self.find(
            operation,
            request.get("method") or interaction.get("method"),
            request.get("path") or interaction.get("path"),
        )
        report = ValidationReport(source=source, operation=str(op.get("operationId") or path))
        kinds = [kind] if kind else [k for k in KINDS if k in interaction]
        report.kind = "+".join(kinds)
        if "request" in kinds:
            report.violations += self._request(request, op, shared, path_params)
        if "response" in kinds:
            report.violations += self._response(response, op)
        return report

    def _request(
        self,
        request: Mapping[str, Any],
        op: Mapping[str, Any],
        shared: list[Any],
        path_params: Mapping[str, str],
    ) -> list[Violation]:
        out: list[Violation] = []
        headers = {str(k).lower(): v for k, v in (request.get("headers") or {}).items()}
        query: dict[str, Any] = dict(parse_qsl(urlsplit(str(request.get("path", ""))).query))
        query.update(request.get("query") or {})
        for raw in [*shared, *op.get("parameters", [])]:
            param = resolve(self.doc, raw)
            location, name = str(param.get("in")), str(param.get("name"))
            values = {"header": headers, "query": query, "path": path_params}.get(location)
            if values is None:
                continue
            key = name.lower() if location == "header" else name
            where = f"/request/{location}/{name}"
            if key not in values:
                if param.get("required"):
                    out.append(
                        Violation(where, "required", f"required {location} parameter missing")
                    )
                continue
            value: Any = values[key]
            schema = resolve(self.doc, param.get("schema", {}))
            if isinstance(schema, Mapping) and schema.get("type") == "integer":
                with contextlib.suppress(TypeError, ValueError):
                    value = int(value)  # paths and query strings carry text
            out += self._schema_errors(param.get("schema", {}), value, where)
        out += self._security(op, headers, query)
        body_spec = resolve(self.doc, op.get("requestBody")) if op.get("requestBody") else None
        if body_spec is not None:
            if request.get("body") is None and isinstance(request.get("form"), Mapping):
                request = {**request, "body": request["form"]}  # form-encoded, recorded as fields
            if "body" not in request or request.get("body") is None:
                if body_spec.get("required"):
                    out.append(Violation("/request/body", "required", "request body missing"))
            else:
                schema = self._content_schema(self.doc, body_spec, headers.get("content-type"))
                if schema is not None:
                    out += self._schema_errors(schema, request["body"], "/request/body")
        return out

    def _security(
        self, op: Mapping[str, Any], headers: Mapping[str, Any], query: Mapping[str, Any]
    ) -> list[Violation]:
        requirements = op.get("security", self.doc.get("security", []))
        if not requirements:
            return []
        schemes = (self.doc.get("components") or {}).get("securitySchemes") or {}

        def present(name: str) -> bool:
            scheme = resolve(self.doc, schemes.get(name, {}))
            if scheme.get("type") == "apiKey":
                where = headers if scheme.get("in") == "header" else query
                key = str(scheme.get("name", ""))
                return (key.lower() if scheme.get("in") == "header" else key) in where
            return "authorization" in headers

        if any(all(present(n) for n in requirement) for requirement in requirements):
            return []
        names = " or ".join("+".join(r) or "none" for r in requirements)
        return [
            Violation("/request/headers/Authorization", "security", f"no credentials for {names}")
        ]

    def _response(self, response: Mapping[str, Any], op: Mapping[str, Any]) -> list[Violation]:
        status = str(response.get("status", ""))
        responses = op.get("responses") or {}
        spec = responses.get(status) or responses.get(f"{status[:1]}XX") or responses.get("default")
        if spec is None:
            return [
                Violation(
                    "/response/status",
                    "status",
                    f"status {status or '?'} is not declared "
                    f"(declared: {', '.join(map(str, responses))})",
                )
            ]
        spec = resolve(self.doc, spec)
        headers = {str(k).lower(): v for k, v in (response.get("headers") or {}).items()}
        out: list[Violation] = []
        for name, header in (spec.get("headers") or {}).items():
            header = resolve(self.doc, header)
            if header.get("required") and name.lower() not in headers:
                out.append(Violation(f"/response/headers/{name}", "required", "header missing"))
        schema = self._content_schema(self.doc, spec, headers.get("content-type"))
        if schema is not None and "body" in response:
            out += self._schema_errors(schema, response["body"], "/response/body")
        return out


# -- entry points ----------------------------------------------------------------------------


class PackValidator:
    """Validates recordings against one pack; build it once, validate many files."""

    def __init__(self, pack: str | None = None, *, contract: Path | None = None) -> None:
        """``pack`` (``NAME/VERSION``) or ``contract``: the tenant's own WSDL, OpenAPI 3 or
        Swagger 2.0 document (a recording is checked against what that ERP publishes)."""
        if (pack is None) == (contract is None):
            raise _usage("give a pack or a contract file (one of them)", "pack")
        self.pack = pack or str(contract)
        if contract is None:
            assert pack is not None
            contract = pack_contract(pack)
        elif not contract.is_file():
            raise _usage(f"contract {contract} does not exist", "contract")
        self.soap = SoapPack(contract) if contract.suffix == ".wsdl" else None
        self.rest = None if self.soap is not None else RestPack(contract)

    def validate_bytes(
        self,
        data: bytes,
        *,
        source: str,
        operation: str | None = None,
        kind: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ValidationReport:
        """Validate one recording held in memory.

        SOAP packs read an envelope (:meth:`SoapPack.validate`). REST packs read JSON: a
        recorded interaction (has ``request`` or ``response``), or a bare body described by
        ``kind``/``meta``; a file that is not JSON is a violation ``json``.

        :param data: the recording's bytes.
        :param source: the label violations are reported under.
        :param operation: assert (SOAP) or name (REST) the operation.
        :param kind: ``request`` or ``response``.
        :param meta: a sidecar's content for a bare REST body: ``operationId`` or ``method`` and
            ``path``, ``kind``, ``status`` (default 200), ``headers``.
        :raises ConfigurationError: ``kind`` is not request/response, a bare JSON body has no
            kind, or its operation cannot be identified.
        """
        if kind is not None and kind not in KINDS:
            raise _usage(f"kind must be request or response, not {kind!r}", "kind")
        if self.soap is not None:
            return self.soap.validate(data, source, operation, kind)
        assert self.rest is not None
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            report = ValidationReport(source=source, operation=operation, kind=kind)
            report.violations.append(
                Violation("/", "json", f"not JSON: {exc.msg if hasattr(exc, 'msg') else exc}")
            )
            return report
        meta = dict(meta or {})
        if isinstance(document, Mapping) and ("request" in document or "response" in document):
            interaction: Mapping[str, Any] = document
        else:
            # A bare body: the sidecar (or the command line) says what it is.
            side_kind = kind or meta.get("kind")
            if side_kind not in KINDS:
                raise _usage("a bare JSON body needs --kind request|response", "kind")
            part: dict[str, Any] = {"body": document}
            if side_kind == "request":
                part.update(method=meta.get("method"), path=meta.get("path"))
                part["headers"] = meta.get("headers", {})
            else:
                part["status"] = meta.get("status", 200)
                part["headers"] = meta.get("headers", {})
            interaction = {
                "operationId": meta.get("operationId"),
                "method": meta.get("method"),
                "path": meta.get("path"),
                side_kind: part,
            }
            kind = side_kind
        return self.rest.validate(interaction, source, operation, kind)

    def validate_file(
        self,
        path: Path,
        *,
        operation: str | None = None,
        kind: str | None = None,
        status: int | None = None,
    ) -> ValidationReport:
        """Validate one recorded file, reading its sidecar ``FILE.meta.json`` (or
        ``FILE`` with its suffix replaced by ``.meta.json``) when there is one.

        :param path: the recording.
        :param operation: as in :meth:`validate_bytes`.
        :param kind: as in :meth:`validate_bytes`.
        :param status: the response status of a bare REST body (overrides the sidecar's).
        :raises ConfigurationError: (``field="file"``) the file cannot be read, or as
            :meth:`validate_bytes`.
        """
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _usage(f"cannot read {path}: {exc.strerror}", "file") from None
        sidecar = path.with_name(path.name + ".meta.json")
        if not sidecar.is_file():
            sidecar = path.with_suffix(".meta.json")
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        if status is not None:
            meta["status"] = status
        return self.validate_bytes(
            data, source=str(path), operation=operation, kind=kind, meta=meta
        )


def validate_file(
    path: Path, pack: str, *, operation: str | None = None, kind: str | None = None
) -> ValidationReport:
    """Validate one recorded file against ``pack`` (``NAME/VERSION``)."""
    return PackValidator(pack).validate_file(path, operation=operation, kind=kind)
