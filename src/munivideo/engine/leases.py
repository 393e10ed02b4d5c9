"""Write-back timing: the worst-case ERP call, the lease it needs, the settle window it implies.

A worker renews its lease on a row right before every ERP call (probe or write), so the lease
must outlast one call: ``lease_seconds`` shorter than the worst-case call time the transport
settings allow is refused. A probe's "not found" is trusted only ``settle_seconds`` after the
step was last sent, so a commit that lands after our timeout is still seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from munivideo.config import WritebackConfig
from munivideo.errors import ConfigurationError
from munivideo.ports import ErpAdapter
from munivideo.transport import RetryPolicy, Timeouts

#: Time a worker needs around one ERP call for its own store writes (fence, step record).
STORE_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class WritebackTiming:
    """The write-back's time budget for one tenant, in seconds."""

    call_seconds: float  #: worst case of one ERP call, in-call retries included
    lease_seconds: float
    settle_seconds: float


def worst_call_seconds(erp: ErpAdapter, configured: float | None = None) -> float:
    """Worst-case wall-clock time of one ERP call, in-call retries and their waits included.

    ``configured`` (``[writeback] erp_call_seconds``) wins. Otherwise the adapter's
    ``settings.timeouts`` (:class:`~munivideo.transport.Timeouts`) and ``settings.retry``
    (:class:`~munivideo.transport.RetryPolicy`) are read when it has them (adapters built on
    munivideo.transport), else the transport defaults are assumed; an ERP composed of a
    ``bookings`` and a ``protocols`` adapter takes the slower of the two. One attempt takes at most
    ``timeouts.total_seconds`` when the transport bounds the whole call, else connect + read;
    retries stop at ``retry.max_attempts`` or once ``retry.max_total_seconds`` has passed.
    """
    if configured is not None:
        return configured
    settings: Any = getattr(erp, "settings", None)
    parts = [getattr(erp, name, None) for name in ("bookings", "protocols")]
    if settings is None and all(isinstance(p, ErpAdapter) for p in parts):
        # bookings and protocols from two systems (munivideo.erp_sources.SplitErp)
        return max(worst_call_seconds(p) for p in parts if isinstance(p, ErpAdapter))
    timeouts = getattr(settings, "timeouts", None)
    retry = getattr(settings, "retry", None)
    if not isinstance(timeouts, Timeouts):
        timeouts = Timeouts()
    if not isinstance(retry, RetryPolicy):
        retry = RetryPolicy()
    total = getattr(timeouts, "total_seconds", None)
    attempt = float(total) if isinstance(total, int | float) else 0.0
    attempt = attempt or timeouts.connect_seconds + timeouts.read_seconds
    wait = max(retry.max_backoff_seconds, retry.max_retry_after_seconds)
    by_count = retry.max_attempts * attempt + (retry.max_attempts - 1) * wait
    by_time = retry.max_total_seconds + wait + attempt
    return min(by_count, by_time)


def timing(erp: ErpAdapter, config: WritebackConfig) -> WritebackTiming:
    """The tenant's :class:`WritebackTiming`; raises :class:`ConfigurationError` naming
    ``writeback.lease_seconds`` when the lease cannot outlast one ERP call."""
    call = worst_call_seconds(erp, config.erp_call_seconds)
    needed = call + STORE_MARGIN_SECONDS
    if config.lease_seconds < needed:
        raise ConfigurationError(
            f"lease_seconds {config.lease_seconds:g} is shorter than one ERP call may take "
            f"({call:g} s by the adapter's timeouts and retry settings, plus "
            f"{STORE_MARGIN_SECONDS:g} s): another worker could take the row while a call is "
            f"in flight; set it to at least {needed:g} or shorten the ERP timeouts",
            field="writeback.lease_seconds",
        )
    return WritebackTiming(
        call_seconds=call,
        lease_seconds=config.lease_seconds,
        settle_seconds=settle_seconds(erp, config, call),
    )


def settle_seconds(erp: ErpAdapter, config: WritebackConfig, call: float | None = None) -> float:
    """How long after a step was last sent a "not found" is trusted, in seconds:
    ``[writeback] settle_seconds``, else twice the worst-case ERP call (``call``, or
    :func:`worst_call_seconds`). Holds for the engine's probes and for a person's check alike
    (:func:`munivideo.engine.replay.replay` refuses an ``absent`` step inside it)."""
    if config.settle_seconds is not None:
        return config.settle_seconds
    return 2 * (call if call is not None else worst_call_seconds(erp, config.erp_call_seconds))
