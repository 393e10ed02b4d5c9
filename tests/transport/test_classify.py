"""The one classification table: what is retried, what fails, what is ambiguous."""

from __future__ import annotations

import socket
from datetime import timedelta
from email.utils import format_datetime

import pytest
import requests

from munivideo.errors import (
    AmbiguousError,
    ConfigurationError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from munivideo.transport import Action, ErpFault, HttpStatusError, classify
from munivideo.transport.classify import retry_after_seconds, to_error
from munivideo.values import utcnow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_retried() -> None:
    with pytest.raises(requests.ConnectionError) as info:
        requests.get(f"http://127.0.0.1:{_free_port()}/", timeout=2)
    rule = classify(info.value)
    assert rule.action is Action.RETRY and rule.error is TransientError


def test_dns_failure_is_retried() -> None:
    with pytest.raises(requests.ConnectionError) as info:
        requests.get("http://does-not-exist.invalid/", timeout=2)
    assert classify(info.value).action is Action.RETRY


def test_read_timeout_and_reset_after_send_are_ambiguous() -> None:
    assert classify(requests.ReadTimeout()).action is Action.AMBIGUOUS
    dropped = requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    assert classify(dropped).action is Action.AMBIGUOUS


@pytest.mark.parametrize(
    ("status", "action", "error"),
    [
        (429, Action.RETRY, TransientError),
        (503, Action.RETRY, TransientError),
        (502, Action.AMBIGUOUS, AmbiguousError),
        (504, Action.AMBIGUOUS, AmbiguousError),
        (500, Action.AMBIGUOUS, AmbiguousError),
        (400, Action.FAIL, RejectedError),
        (401, Action.FAIL, ConfigurationError),
        (404, Action.FAIL, NotFoundError),
        (418, Action.FAIL, RejectedError),
        (599, Action.AMBIGUOUS, AmbiguousError),
    ],
)
def test_http_statuses(status: int, action: Action, error: type[Exception]) -> None:
    rule = classify(HttpStatusError(status))
    assert (rule.action, rule.error) == (action, error)


def test_declared_faults_are_never_retried_in_call() -> None:
    for code in ("ERRO_INTERNO", "INDISPONIVEL", "REQUISICAO_INVALIDA", "NAO_ENCONTRADO", "XYZ"):
        assert classify(ErpFault(code, "m")).action is Action.FAIL
    assert classify(ErpFault("NAO_ENCONTRADO", "m")).error is NotFoundError
    # A problem+json 500 with a declared code is a declared fault, not an ambiguous 500.
    assert classify(HttpStatusError(500, code="ERRO_INTERNO")).action is Action.FAIL


def test_ambiguous_on_a_safe_operation_is_plain_transient() -> None:
    exc = HttpStatusError(504)
    rule = classify(exc)
    unsafe = to_error(exc, rule, operation="criarProtocolo", record_id="AG-1", safe=False)
    safe = to_error(exc, rule, operation="obterAgendamento", record_id="AG-1", safe=True)
    assert isinstance(unsafe, AmbiguousError)
    assert isinstance(safe, TransientError) and not isinstance(safe, AmbiguousError)
    assert unsafe.record_id == "AG-1"


def test_errors_are_redacted() -> None:
    exc = HttpStatusError(400, message="cpf 052.789.341-23 token=abc123secret", field="cpfCnpj")
    error = to_error(exc, classify(exc), operation="op", record_id="AG-1", safe=True)
    assert "052.789.341-23" not in str(error) and "abc123secret" not in str(error)
    assert error.field == "cpfCnpj"


def test_retry_after_forms() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = format_datetime(utcnow() + timedelta(seconds=30), usegmt=True)
    seconds = retry_after_seconds(later)
    assert seconds is not None and 25 <= seconds <= 31
    exc = HttpStatusError(503, headers={"Retry-After": "3"})
    error = to_error(exc, classify(exc), operation="op", record_id=None, safe=True)
    assert isinstance(error, TransientError) and error.retry_after == 3.0
