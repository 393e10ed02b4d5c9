"""The worst-case ERP call the lease must outlast, from the adapter's transport settings."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from munivideo.config import WritebackConfig
from munivideo.engine.leases import timing, worst_call_seconds
from munivideo.errors import ConfigurationError
from munivideo.transport import RetryPolicy, Timeouts


def _erp(**settings: Any) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(**settings))


def test_whole_call_budget_times_attempts_plus_waits() -> None:
    erp = _erp(
        timeouts=Timeouts(connect_seconds=2, read_seconds=5, total_seconds=7),
        retry=RetryPolicy(max_attempts=3, max_backoff_seconds=1, max_retry_after_seconds=2),
    )
    assert worst_call_seconds(erp) == 3 * 7 + 2 * 2


def test_the_retry_time_limit_caps_it() -> None:
    erp = _erp(
        timeouts=Timeouts(total_seconds=60),
        retry=RetryPolicy(max_attempts=10, max_total_seconds=30, max_retry_after_seconds=5),
    )
    assert worst_call_seconds(erp) == 30 + 5 + 60


def test_unknown_adapters_use_the_transport_defaults_or_the_configured_value() -> None:
    bare = SimpleNamespace()
    assert worst_call_seconds(bare) == worst_call_seconds(  # type: ignore[arg-type]
        _erp(timeouts=Timeouts(), retry=RetryPolicy())
    )
    assert worst_call_seconds(bare, 4.0) == 4.0  # type: ignore[arg-type]


def test_a_short_lease_is_refused_naming_the_field() -> None:
    erp = _erp(timeouts=Timeouts(total_seconds=10), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ConfigurationError) as info:
        timing(erp, WritebackConfig(lease_seconds=10))
    assert info.value.field == "writeback.lease_seconds"
    assert "11" in info.value.message
    budget = timing(erp, WritebackConfig(lease_seconds=11))
    assert budget.settle_seconds == 20  # default: twice the worst call
    assert timing(erp, WritebackConfig(lease_seconds=11, settle_seconds=3)).settle_seconds == 3
