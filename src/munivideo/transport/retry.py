"""The one retry policy (tenacity), driven only by :mod:`munivideo.transport.classify`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, stop_after_attempt, stop_after_delay
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from munivideo.errors import MunivideoError
from munivideo.transport.classify import (
    RETRY_AFTER_CAP_SECONDS,
    Action,
    classify,
    retry_after_seconds,
    to_error,
)
from munivideo.transport.deadline import remaining

T = TypeVar("T")
log = logging.getLogger("munivideo.transport")


class RetryPolicy(BaseModel):
    """Bounds of in-call retries. Settings table ``[erp.settings.retry]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=4, ge=1, le=20)
    max_total_seconds: float = Field(default=30.0, gt=0, le=600)
    initial_backoff_seconds: float = Field(default=0.2, ge=0, le=60)
    max_backoff_seconds: float = Field(default=5.0, ge=0, le=300)
    #: Waits a peer asks for (``Retry-After``) are capped at this; the total time still bounds
    #: the call, and the outbox retries later.
    max_retry_after_seconds: float = Field(default=30.0, ge=0, le=600)
    #: A peer's ``Retry-After`` is capped at this before it becomes the error's ``retry_after``
    #: (the earliest next attempt of the outbox row): a peer cannot park work for a year.
    retry_after_cap_seconds: float = Field(default=RETRY_AFTER_CAP_SECONDS, ge=0, le=86_400)


def _should_retry(safe: bool) -> Callable[[RetryCallState], bool]:
    def decide(state: RetryCallState) -> bool:
        if state.outcome is None or not state.outcome.failed:
            return False
        exc = state.outcome.exception()
        if exc is None or isinstance(exc, MunivideoError):
            return False
        action = classify(exc).action
        return action is Action.RETRY or (action is Action.AMBIGUOUS and safe)

    return decide


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(
        multiplier=policy.initial_backoff_seconds, max=policy.max_backoff_seconds, jitter=0.1
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        headers = getattr(exc, "headers", None)
        if asked is None and isinstance(headers, dict):
            asked = retry_after_seconds(headers.get("retry-after"))
        if isinstance(asked, int | float) and asked == asked:  # not NaN
            delay = float(min(max(0.0, asked), policy.max_retry_after_seconds))
        else:
            delay = float(backoff(state))
        left = remaining()  # never sleep past the enclosing deadline (a lease)
        return delay if left is None else max(0.0, min(delay, left))

    return wait


class stop_when(stop_base):
    """A tenacity stop condition from a predicate."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


def _deadline_passed(state: RetryCallState) -> bool:
    """Stop retrying once the enclosing deadline scope (a lease) has run out."""
    left = remaining()
    return left is not None and left <= 0


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    operation: str,
    safe: bool,
    record_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn``; retry what the table says; raise a :mod:`munivideo.errors` error otherwise.

    :param safe: the operation may run twice without harm (read, idempotent update); ambiguous
        failures are then retried too. Creates pass ``False``.
    :param sleep: injectable for tests.
    """
    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts)
        | stop_after_delay(policy.max_total_seconds)
        | stop_when(_deadline_passed),
        wait=_wait(policy),
        retry=_should_retry(safe),
        reraise=True,
        sleep=sleep,
        before_sleep=lambda state: log.info(
            "retrying %s after attempt %d (%s)",
            operation,
            state.attempt_number,
            classify(state.outcome.exception() or Exception()).reason
            if state.outcome is not None
            else "",
        ),
    )
    try:
        return retrying(fn)
    except MunivideoError:
        raise
    except Exception as exc:  # noqa: BLE001 - every raw failure goes through the table
        rule = classify(exc)
        raise to_error(
            exc,
            rule,
            operation=operation,
            record_id=record_id,
            safe=safe,
            retry_after_cap=policy.retry_after_cap_seconds,
        ) from None
