"""Retry-After in every form RFC 9110 says a recipient must accept, capped, garbage ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from munivideo.errors import TransientError
from munivideo.transport import HttpStatusError, RetryPolicy, call_with_retry
from munivideo.transport.classify import (
    RETRY_AFTER_CAP_SECONDS,
    ErpFault,
    classify,
    retry_after_seconds,
    to_error,
)

NOW = datetime(1994, 11, 6, 8, 49, 7, tzinfo=UTC)  # 30 s before the RFC's example date


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime (no zone: GMT)
        "Sun, 06 Nov 1994 08:49:37 -0000",  # "-0000" (email.utils answers a naive datetime)
        "Sun, 06 Nov 1994 08:49:37",  # no zone at all
        "  30 ",  # delay-seconds
    ],
)
def test_every_rfc_9110_form(value: str) -> None:
    assert retry_after_seconds(value, now=NOW) == 30.0


@pytest.mark.parametrize(
    "value",
    ["soon", "-5", "1.5", "٣", "Sun, 99 Nov 1994 08:49:37 GMT", "Mon, 01 Jan 99999 00:00:00 GMT"],
)
def test_garbage_is_ignored(value: str) -> None:
    assert retry_after_seconds(value, now=NOW) is None


def test_capped_and_never_negative() -> None:
    assert retry_after_seconds("31536000") == RETRY_AFTER_CAP_SECONDS == 3600.0
    assert retry_after_seconds("31536000", cap=90) == 90.0
    assert retry_after_seconds("Sat, 05 Nov 1994 08:49:37 GMT", now=NOW) == 0.0
    assert retry_after_seconds("", now=NOW) is None


def test_the_error_carries_the_capped_wait_not_a_contract_violation() -> None:
    for value in ("Mon Nov 30 12:00:02 2026", "31536000", "garbage"):
        exc = HttpStatusError(503, headers={"Retry-After": value})
        error = to_error(exc, classify(exc), operation="op", record_id="r", safe=False)
        assert isinstance(error, TransientError)
        assert error.retry_after is None or 0 <= error.retry_after <= RETRY_AFTER_CAP_SECONDS
    fault = ErpFault("INDISPONIVEL", "busy", retry_after=10**9)
    error = to_error(fault, classify(fault), operation="op", record_id="r", safe=False)
    assert error.retry_after == RETRY_AFTER_CAP_SECONDS


def test_policy_cap_reaches_the_error_and_dates_are_retried() -> None:
    policy = RetryPolicy(
        max_attempts=2,
        initial_backoff_seconds=0.0,
        max_retry_after_seconds=0.5,
        retry_after_cap_seconds=120,
    )
    slept: list[float] = []
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        raise HttpStatusError(503, headers={"Retry-After": "Sun Nov  6 08:49:37 2101"})

    with pytest.raises(TransientError) as info:
        call_with_retry(fn, policy, operation="op", safe=False, sleep=slept.append)
    assert len(calls) == 2 and slept == [0.5]
    assert info.value.retry_after == 120.0
