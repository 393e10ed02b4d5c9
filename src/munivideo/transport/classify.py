"""The one classification table: every transport failure -> what to do and which error to raise.

In the spirit of Airbyte's default error mapping, each HTTP status or exception maps to an action
(retry now, fail, or ambiguous) and a :mod:`munivideo.errors` type that carries the recovery for
the engine's outbox. The retry loop (:mod:`munivideo.transport.retry`) reads nothing else.

Only what was surely not processed is retried in-call: connection refused, DNS, connect timeout,
429 and 503. A read timeout, a connection dropped after sending, 502 and 504 are *ambiguous*:
a safe operation (read, idempotent update) may be retried, a create never is - the exactly-once
layer decides (:func:`munivideo.transport.create_exactly_once`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from munivideo.error_catalogue import coded
from munivideo.errors import (
    AmbiguousError,
    CapabilityMismatchError,
    ConfigurationError,
    ContractViolationError,
    MunivideoError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from munivideo.values import utcnow


class Action(StrEnum):
    """What the retry loop does with a failure, per :data:`RULES`: ``retry`` in-call
    (bounded; the request surely was not processed), ``fail`` at once (the error's recovery
    tells the engine what next), or ``ambiguous`` (maybe processed: only a safe operation is
    retried in-call)."""

    RETRY = "retry"  #: surely not processed: retry in-call, bounded
    FAIL = "fail"  #: never retried in-call; the error's recovery tells the engine what next
    AMBIGUOUS = "ambiguous"  #: maybe processed: retry only safe operations in-call


@dataclass(frozen=True)
class Rule:
    """One row of the classification table: what the engine does with a failure (``action``),
    the typed error it is raised as, and the reason shown to operators (a row of :data:`RULES`).
    """

    action: Action
    error: type[MunivideoError]
    reason: str


class HttpStatusError(Exception):
    """A non-success HTTP answer, before classification (carries what the table needs)."""

    def __init__(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        message: str = "",
        field: str | None = None,
        record_id: str | None = None,
    ) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.code = code
        self.message = message
        self.field = field
        self.record_id = record_id
        super().__init__(f"HTTP {status} {code or ''}".strip())


class ErpFault(Exception):
    """A fault the ERP itself declared (SOAP Fault, problem+json): it handled the request."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        record_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.field = field
        self.record_id = record_id
        self.retry_after = retry_after
        super().__init__(f"{code}: {message}")


class MalformedResponseError(Exception):
    """The peer answered, but not with what its contract allows (cut body, not XML/JSON, a
    result that is not a record, a page without its item list).

    Like :class:`HttpStatusError` and :class:`ErpFault` this is a raw failure *before*
    classification: raise it only inside a call run by
    :func:`munivideo.transport.call_with_retry`, which turns it into a
    :mod:`munivideo.errors` error through :func:`classify` and :func:`to_error`. A check made
    after the call returned raises :func:`malformed_answer` instead, so it never escapes an adapter.

    :param field: where in the answer the shape broke (a dotted path, a header name).
    :param record_id: the record the call was about, when the failure names one.
    """

    def __init__(
        self, message: str, *, field: str | None = None, record_id: str | None = None
    ) -> None:
        self.message = message
        self.field = field
        self.record_id = record_id
        super().__init__(message)


STATUS_TABLE: dict[int, Rule] = {
    400: Rule(Action.FAIL, RejectedError, "the ERP refused the request"),
    401: Rule(Action.FAIL, ConfigurationError, "the ERP refused our credentials"),
    403: Rule(Action.FAIL, ConfigurationError, "the ERP refused access"),
    404: Rule(Action.FAIL, NotFoundError, "the ERP has no such record"),
    405: Rule(Action.FAIL, RejectedError, "the ERP does not offer this operation here"),
    409: Rule(Action.FAIL, RejectedError, "the ERP reported a conflict"),
    413: Rule(Action.FAIL, RejectedError, "the request is too large for the ERP"),
    415: Rule(Action.FAIL, ContractViolationError, "the ERP refused our media type"),
    422: Rule(Action.FAIL, RejectedError, "the ERP could not process the request"),
    429: Rule(Action.RETRY, TransientError, "rate limited by the ERP"),
    500: Rule(Action.AMBIGUOUS, AmbiguousError, "the ERP failed with an internal error"),
    501: Rule(Action.FAIL, RejectedError, "the ERP does not implement this operation"),
    502: Rule(Action.AMBIGUOUS, AmbiguousError, "bad gateway in front of the ERP"),
    503: Rule(Action.RETRY, TransientError, "the ERP is unavailable"),
    504: Rule(Action.AMBIGUOUS, AmbiguousError, "gateway timeout in front of the ERP"),
}
"""HTTP statuses without an ERP-declared fault. Unlisted 4xx fail; unlisted 5xx are ambiguous."""

FAULT_TABLE: dict[str, Rule] = {
    "REQUISICAO_INVALIDA": Rule(Action.FAIL, RejectedError, "the ERP refused the request"),
    "XML_PROIBIDO": Rule(Action.FAIL, ContractViolationError, "the ERP refused our XML"),
    "NAO_AUTORIZADO": Rule(Action.FAIL, ConfigurationError, "the ERP refused our credentials"),
    "NAO_ENCONTRADO": Rule(Action.FAIL, NotFoundError, "the ERP has no such record"),
    "TRANSICAO_INVALIDA": Rule(Action.FAIL, RejectedError, "the ERP refused the status change"),
    "REFERENCIA_DUPLICADA": Rule(Action.FAIL, RejectedError, "duplicate external reference"),
    "CHAVE_AUSENTE": Rule(Action.FAIL, ContractViolationError, "idempotency key missing"),
    "CHAVE_EM_ANDAMENTO": Rule(
        Action.FAIL, AmbiguousError, "the same idempotency key is still being processed"
    ),
    "CHAVE_CONFLITANTE": Rule(
        Action.FAIL, ContractViolationError, "idempotency key reused with another payload"
    ),
    "TIPO_DE_MIDIA_NAO_SUPORTADO": Rule(
        Action.FAIL, ContractViolationError, "the ERP refused our media type"
    ),
    "LIMITE_EXCEDIDO": Rule(Action.RETRY, TransientError, "rate limited by the ERP"),
    # A declared fault means the ERP handled the call and did nothing: never retried in-call
    # (a SOAP 500 is not a transient HTTP error), but the outbox may try again later.
    "INDISPONIVEL": Rule(Action.FAIL, TransientError, "the ERP declared itself unavailable"),
    "ERRO_INTERNO": Rule(Action.FAIL, TransientError, "the ERP failed with an internal error"),
}
"""Codes of ERP-declared faults (SOAP ``falha/codigo``, problem+json ``codigo``)."""

UNKNOWN_FAULT = Rule(Action.FAIL, RejectedError, "the ERP declared a fault")


def _connect_failed(exc: requests.ConnectionError) -> bool:
    """True when the request never reached the peer (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | NameResolutionError | ConnectionRefusedError):
            return True
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
    return False


RETRY_AFTER_CAP_SECONDS = 3600.0
"""Default cap on a peer's ``Retry-After`` (one hour): a peer cannot park our work for longer
(``RetryPolicy.retry_after_cap_seconds`` changes it per ERP)."""


def retry_after_seconds(
    value: str | None, *, cap: float = RETRY_AFTER_CAP_SECONDS, now: datetime | None = None
) -> float | None:
    """``Retry-After`` as seconds in ``[0, cap]``; None when absent or unreadable.

    Accepts every form RFC 9110 (section 10.2.3, 5.6.7) says a recipient must: delay-seconds
    (ASCII digits), IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), the obsolete RFC 850 form
    (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime (``Sun Nov  6 08:49:37 1994``). A date
    without a zone or with ``-0000`` is UTC (HTTP dates are always GMT). A date in the past is 0.
    Anything else is ignored (None), never an exception: a peer's garbage must not turn a
    transient failure into a contract violation.

    :param cap: the largest wait returned, in seconds.
    :param now: the current time (UTC); for tests.
    """
    if not value:
        return None
    value = value.strip()
    seconds: float
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utcnow())).total_seconds()
    return min(max(0.0, seconds), max(0.0, cap))


def classify(exc: BaseException) -> Rule:
    """The table row for one raw failure (requests/zeep exception, status or fault)."""
    if isinstance(exc, ErpFault):
        return FAULT_TABLE.get(exc.code, UNKNOWN_FAULT)
    if isinstance(exc, HttpStatusError):
        if exc.code in FAULT_TABLE and exc.status not in (429, 503):
            return FAULT_TABLE[exc.code]
        if exc.status in STATUS_TABLE:
            return STATUS_TABLE[exc.status]
        if exc.status >= 500:
            return Rule(Action.AMBIGUOUS, AmbiguousError, f"HTTP {exc.status} from the ERP")
        return Rule(Action.FAIL, RejectedError, f"HTTP {exc.status} from the ERP")
    if isinstance(exc, requests.ConnectionError) and _connect_failed(exc):
        return Rule(Action.RETRY, TransientError, "could not connect to the ERP")
    if isinstance(exc, requests.ReadTimeout):
        return Rule(Action.AMBIGUOUS, AmbiguousError, "the ERP did not answer in time")
    if isinstance(exc, requests.ConnectionError):
        return Rule(Action.AMBIGUOUS, AmbiguousError, "the connection dropped after sending")
    if isinstance(exc, MalformedResponseError):
        return Rule(Action.AMBIGUOUS, AmbiguousError, "the ERP answered with a malformed body")
    if isinstance(exc, requests.RequestException):
        return Rule(Action.FAIL, ConfigurationError, "the request could not be built")
    return Rule(Action.FAIL, ContractViolationError, "unexpected failure talking to the ERP")


def to_error(
    exc: BaseException,
    rule: Rule,
    *,
    operation: str,
    record_id: str | None,
    safe: bool,
    retry_after_cap: float = RETRY_AFTER_CAP_SECONDS,
) -> MunivideoError:
    """The :mod:`munivideo.errors` instance for a classified failure (message redacted).

    An ambiguous failure on a safe operation is reported as transient (nothing was created),
    a malformed answer to a safe operation as a contract violation. A wait the peer asked for
    (``Retry-After``, a fault's retry hint) is capped at ``retry_after_cap`` seconds.
    """
    error_type = rule.error
    if isinstance(exc, MalformedResponseError) and safe:
        error_type = ContractViolationError
    elif rule.action is Action.AMBIGUOUS and safe:
        error_type = TransientError
    field = getattr(exc, "field", None)
    rid = getattr(exc, "record_id", None) or record_id
    detail = getattr(exc, "message", "") or type(exc).__name__
    values = {"operation": operation, "reason": rule.reason, "detail": detail}
    retry_after: float | None = getattr(exc, "retry_after", None)
    if isinstance(exc, HttpStatusError):
        retry_after = retry_after_seconds(exc.headers.get("retry-after"), cap=retry_after_cap)
    elif isinstance(retry_after, int | float) and retry_after == retry_after:  # not NaN
        retry_after = min(max(0.0, float(retry_after)), retry_after_cap)
    else:
        retry_after = None
    error = coded(error_type, "erp.failure", record_id=rid, field=field, **values)
    if isinstance(error, TransientError):
        error.retry_after = retry_after
    return error


def peer_failure(
    exc: BaseException, message: str, *, record_id: str | None, field: str | None = None
) -> MunivideoError:
    """The typed error the table gives ``exc`` when the peer is not the ERP (a video provider,
    a notifier's gateway): the same :func:`classify` row, so the same fault classifies the same
    everywhere - refused, DNS or connect timeout -> :class:`~munivideo.errors.TransientError`;
    a read timeout or a connection dropped after the request was sent ->
    :class:`~munivideo.errors.AmbiguousError`; for an :class:`HttpStatusError` the
    ``STATUS_TABLE`` row, with ``retry_after`` from its ``Retry-After`` (capped at
    :data:`RETRY_AFTER_CAP_SECONDS`).

    :param exc: a ``requests`` exception or an :class:`HttpStatusError`.
    :param message: what the caller was doing, naming the peer (``BBB create: ...``).
    """
    rule = classify(exc)
    if issubclass(rule.error, TransientError):
        retry_after = (
            retry_after_seconds(exc.headers.get("retry-after"))
            if isinstance(exc, HttpStatusError)
            else None
        )
        return rule.error(message, record_id=record_id, field=field, retry_after=retry_after)
    return rule.error(message, record_id=record_id, field=field)


def malformed_answer(
    message: str,
    *,
    operation: str,
    field: str | None,
    record_id: str | None,
    safe: bool,
) -> MunivideoError:
    """The typed error for an answer whose shape an adapter checked after the call returned
    (a result that is not a record, a page without its item list, a count that is not a number,
    a ``Link`` to another host): the same row of the table a malformed body meets inside the
    call, so the same fault classifies the same wherever it is found. A read (``safe``) gets a
    :class:`~munivideo.errors.ContractViolationError` (a write-back row dead-letters, a sync
    stops with its cursor kept); a write (``safe=False``: a create whose answer lacks the
    receipt) gets an :class:`~munivideo.errors.AmbiguousError` (it may have landed; the
    exactly-once layer looks it up).

    :param message: what is wrong, prefixed by nothing (``operation`` is added).
    :param operation: the ERP operation that answered (``get_booking``, ``listarAlterados``).
    :param field: where in the answer the shape broke: a dotted path, ``$`` for the whole
        answer (RFC 9535's root), or a header name such as ``Link``.
    :param record_id: the record the call was about.
    """
    exc = MalformedResponseError(message, field=field, record_id=record_id)
    return to_error(exc, classify(exc), operation=operation, record_id=record_id, safe=safe)


LOOKUP_FAILURES: tuple[tuple[type[MunivideoError], bool], ...] = (
    # (what a lookup the tenant declared raised, does it mean the ERP lacks the lookup?)
    (TransientError, False),  # busy, unavailable, ambiguous: ask again later
    (ContractViolationError, False),  # it answered, wrongly: a developer looks
    (ConfigurationError, False),  # credentials and the like: already an operator's
    (RejectedError, True),  # 404/405/501, "unknown operation", a refused request
)
"""How a failed lookup by external reference (``find_protocol``: the probe that decides
whether a step landed) is read. The request is ours and read-only, and "found nothing" is an
empty answer, so a refusal means the ERP does not offer the lookup the configuration declares:
:class:`~munivideo.errors.CapabilityMismatchError`, never retried. Checked in order; the first
matching type decides."""


def lookup_failure(error: MunivideoError, *, setting: str, record_id: str | None) -> MunivideoError:
    """What a failed declared lookup becomes (:data:`LOOKUP_FAILURES`): ``error`` itself, or a
    :class:`~munivideo.errors.CapabilityMismatchError` naming ``setting`` (the configuration
    key that declared the lookup) and ``record_id``."""
    for kind, missing in LOOKUP_FAILURES:
        if isinstance(error, kind):
            if not missing:
                return error
            return coded(
                CapabilityMismatchError,
                "config.lookup_missing",
                record_id=record_id or error.record_id,
                field=setting,
                cause=error.message,
                setting=setting,
            )
    return error
