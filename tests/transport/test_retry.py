"""The one retry policy: bounded, honours Retry-After, retries only what the table allows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from munivideo.errors import AmbiguousError, RejectedError, TransientError
from munivideo.transport import HttpStatusError, RetryPolicy, call_with_retry

FAST = RetryPolicy(max_attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)


def _failing(*errors: Exception, result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


def test_retries_transient_then_succeeds_honouring_retry_after() -> None:
    slept: list[float] = []
    fn, calls = _failing(HttpStatusError(503, headers={"Retry-After": "2"}), HttpStatusError(429))
    assert call_with_retry(fn, FAST, operation="op", safe=False, sleep=slept.append) == "ok"
    assert len(calls) == 3
    assert slept[0] == 2.0 and slept[1] <= 0.05


def test_retry_after_is_capped() -> None:
    slept: list[float] = []
    policy = FAST.model_copy(update={"max_retry_after_seconds": 1.5})
    fn, _ = _failing(HttpStatusError(503, headers={"Retry-After": "600"}))
    call_with_retry(fn, policy, operation="op", safe=True, sleep=slept.append)
    assert slept == [1.5]


def test_attempts_are_bounded() -> None:
    fn, calls = _failing(*[HttpStatusError(503)] * 10)
    with pytest.raises(TransientError):
        call_with_retry(fn, FAST, operation="op", safe=True, sleep=lambda _: None)
    assert len(calls) == 4


def test_total_time_is_bounded() -> None:
    policy = RetryPolicy(max_attempts=20, max_total_seconds=0.05, initial_backoff_seconds=0.02)
    fn, calls = _failing(*[HttpStatusError(503)] * 30)
    with pytest.raises(TransientError):
        call_with_retry(fn, policy, operation="op", safe=True)
    assert 1 <= len(calls) < 20


def test_ambiguous_is_not_retried_on_a_create() -> None:
    fn, calls = _failing(requests.ReadTimeout())
    with pytest.raises(AmbiguousError):
        call_with_retry(fn, FAST, operation="criarProtocolo", safe=False, sleep=lambda _: None)
    assert len(calls) == 1


def test_ambiguous_is_retried_on_a_safe_call() -> None:
    fn, calls = _failing(requests.ReadTimeout(), HttpStatusError(502))
    assert call_with_retry(fn, FAST, operation="get", safe=True, sleep=lambda _: None) == "ok"
    assert len(calls) == 3


def test_rejections_are_not_retried() -> None:
    fn, calls = _failing(HttpStatusError(422, code="CHAVE_CONFLITANTE"), HttpStatusError(400))
    with pytest.raises(Exception) as info:
        call_with_retry(fn, FAST, operation="op", safe=True, sleep=lambda _: None)
    assert len(calls) == 1
    assert not isinstance(info.value, TransientError)
    fn2, calls2 = _failing(HttpStatusError(400, field="cpfCnpj", record_id="AG-9"))
    with pytest.raises(RejectedError) as rejected:
        call_with_retry(fn2, FAST, operation="op", safe=True, sleep=lambda _: None)
    assert (rejected.value.record_id, rejected.value.field) == ("AG-9", "cpfCnpj")
    assert len(calls2) == 1


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
