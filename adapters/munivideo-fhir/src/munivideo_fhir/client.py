"""The FHIR REST client: JSON over requests, the shared retry policy and classification table,
OperationOutcomes turned into typed errors, ETags kept with what was read."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from munivideo.transport import (
    HttpStatusError,
    MalformedResponseError,
    RetryPolicy,
    call_with_retry,
    malformed_answer,
)
from munivideo_fhir.resources import Resource

MEDIA_TYPE = "application/fhir+json"

ISSUE_CODES: dict[str, str] = {
    "exception": "ERRO_INTERNO",
    "not-found": "NAO_ENCONTRADO",
    "deleted": "NAO_ENCONTRADO",
    "invalid": "REQUISICAO_INVALIDA",
    "structure": "REQUISICAO_INVALIDA",
    "required": "REQUISICAO_INVALIDA",
    "value": "REQUISICAO_INVALIDA",
    "code-invalid": "REQUISICAO_INVALIDA",
    "business-rule": "REQUISICAO_INVALIDA",
    "not-supported": "REQUISICAO_INVALIDA",
    "duplicate": "REQUISICAO_INVALIDA",
}
"""OperationOutcome issue type -> the fault code of munivideo's classification table (a server
that answers with an OperationOutcome handled the request: it is never retried in-call, except
429/503 which the status table retries)."""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, JSON body and the ETag (``W/"n"``) when given."""

    status: int
    body: Any
    etag: str | None


def _problem(response: requests.Response) -> HttpStatusError:
    code = message = field = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issue = (body.get("issue") or [{}])[0]
        code = ISSUE_CODES.get(str(issue.get("code")))
        message = str(issue.get("diagnostics") or issue.get("code") or "")
        expression = issue.get("expression") or []
        field = str(expression[0]) if expression else None
    return HttpStatusError(
        response.status_code,
        headers=dict(response.headers),
        code=code,
        message=message or response.reason or "",
        field=field,
    )


class FhirClient:
    """Calls one FHIR server's REST API. ``accept`` lists statuses returned, not raised
    (412 for an ``If-Match`` that lost the race)."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.retry = retry
        self._sleep = sleep

    def url(self, path: str) -> str:
        """An absolute URL for ``path`` (relative to the base) or ``path`` itself."""
        return path if path.startswith(("http://", "https://")) else f"{self.base}/{path}"

    def call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        safe: bool,
        record_id: str | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
    ) -> Answer:
        """One interaction with the retry policy (``safe``: may run twice) and the
        classification table; raises :mod:`munivideo.errors` errors naming ``record_id``."""
        sent = {"Accept": MEDIA_TYPE, **(headers or {})}
        if json is not None:
            sent["Content-Type"] = MEDIA_TYPE

        def attempt() -> Answer:
            response = self.session.request(
                method, self.url(path), params=params, json=json, headers=sent
            )
            if response.status_code in accept:
                return Answer(response.status_code, None, None)
            if response.status_code >= 400:
                raise _problem(response)
            try:
                body = response.json() if response.content else None
            except ValueError:
                raise MalformedResponseError(f"{operation}: body is not JSON") from None
            return Answer(response.status_code, body, response.headers.get("ETag"))

        return call_with_retry(
            attempt,
            self.retry,
            operation=operation,
            safe=safe,
            record_id=record_id,
            sleep=self._sleep,
        )

    def read(self, type_: str, id_: str, *, record_id: str | None = None) -> tuple[Resource, str]:
        """A resource and its ETag."""
        answer = self.call(
            "GET", f"{type_}/{id_}", operation=f"read{type_}", safe=True, record_id=record_id
        )
        if not isinstance(answer.body, dict) or answer.body.get("resourceType") != type_:
            raise malformed_answer(
                f"not a {type_}",
                operation=f"read{type_}",
                field="resourceType",
                record_id=record_id,
                safe=True,
            )
        meta = answer.body.get("meta") or {}
        return answer.body, answer.etag or f'W/"{meta.get("versionId", "")}"'

    def page(
        self,
        type_: str,
        url: str,
        params: Sequence[tuple[str, str]] | None,
        *,
        record_id: str | None = None,
    ) -> tuple[list[Resource], dict[str, Resource], str | None]:
        """One searchset page: matches, included resources by ``Type/id``, the next page's URL."""
        bundle = self.call(
            "GET", url, operation=f"search{type_}", safe=True, record_id=record_id, params=params
        ).body
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise malformed_answer(
                "not a Bundle",
                operation=f"search{type_}",
                field="resourceType",
                record_id=record_id,
                safe=True,
            )
        matches: list[Resource] = []
        included: dict[str, Resource] = {}
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") or {}
            mode = (entry.get("search") or {}).get("mode", "match")
            if mode == "match" and resource.get("resourceType") == type_:
                matches.append(resource)
            elif "resourceType" in resource and "id" in resource:
                included[f"{resource['resourceType']}/{resource['id']}"] = resource
        links = bundle.get("link") or []
        nxt = next((str(k["url"]) for k in links if k.get("relation") == "next"), None)
        return matches, included, nxt

    def search(
        self,
        type_: str,
        params: Sequence[tuple[str, str]],
        *,
        record_id: str | None = None,
        max_pages: int = 20,
    ) -> tuple[list[Resource], dict[str, Resource], bool]:
        """Matches (all pages up to ``max_pages``), included resources by ``Type/id``, and
        whether more pages were left unread."""
        matches: list[Resource] = []
        included: dict[str, Resource] = {}
        url: str | None = type_
        query: Sequence[tuple[str, str]] | None = params
        for _ in range(max_pages):
            if url is None:
                break
            found, extra, url = self.page(type_, url, query, record_id=record_id)
            matches += found
            included.update(extra)
            query = None
        return matches, included, url is not None

    def transaction(
        self, entries: list[Resource], *, record_id: str, accept: tuple[int, ...] = ()
    ) -> Answer:
        """POST a transaction Bundle (never retried in-call: the caller probes)."""
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        return self.call(
            "POST",
            self.base,
            operation="transaction",
            safe=False,
            record_id=record_id,
            json=bundle,
            accept=accept,
        )
