"""The exactly-once matrix against the sandbox ERP over real HTTP, counted by the sandbox's own
effect counters (what it executed, whatever its unique constraints say):
{keys, lookup only, neither} x {drop before commit, commit then drop, commit after the client's
timeout, a broken answer after commit} x {create, attach, forward, status}. Lease loss, kill -9
and replay cells run against the in-process double (test_exactly_once) and in test_kill9.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from munivideo.engine import Engine, record, writeback
from munivideo.sandbox import Behaviour, Sandbox
from munivideo.store import OutboxState

from . import _play
from .conftest import TENANT

OPERATION = {
    "create": "criarProtocolo",
    "attach": "anexarDocumento",
    "forward": "tramitarProtocolo",
    "status": "atualizarSituacao",
}
FAULT = {
    "drop_before_commit": "drop#1",
    "commit_then_drop": "drop_after_commit#1",
    "commit_after_timeout": "timeout:2s#1",  # the client gives up after 1 s
    "bad_answer_after_commit": "malformed#1",
}
SETS: dict[str, tuple[str, dict[str, bool]]] = {
    # sandbox preset, what the adapter declares
    "keys": ("keys", {"honours_idempotency_key": True, "lookup_by_external_reference": False}),
    "lookup": (
        "lookup_only",
        {"honours_idempotency_key": False, "lookup_by_external_reference": True},
    ),
    "neither": (
        "neither",
        {"honours_idempotency_key": False, "lookup_by_external_reference": False},
    ),
}
DOCUMENT = _play.document("a.pdf")


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, Sandbox]]:
    """One sandbox per capability set for the module (reset per cell): starting one per cell
    would cost more than the cell."""
    started = {
        name: Sandbox(dialect="rest", behaviour=Behaviour.preset(preset)).start()
        for name, (preset, _) in SETS.items()
    }
    yield started
    for sb in started.values():
        sb.stop()


def _engine(sb: Sandbox, make_engine: Callable[..., Engine], declared: dict[str, bool]) -> Engine:
    settings: dict[str, Any] = dict(make_engine(sb).config.erp.settings)
    settings["capabilities"] = declared
    settings["timeouts"] = {"connect_seconds": 1, "read_seconds": 1, "total_seconds": 2}
    settings["retry"] = {
        "max_attempts": 2,
        "initial_backoff_seconds": 0.01,
        "max_backoff_seconds": 0.02,
        "max_retry_after_seconds": 0.1,
    }
    return make_engine(
        sb,
        erp={"settings": settings},
        writeback={"lease_seconds": 10, "settle_seconds": 2.5, "max_attempts": 12},
    )


@pytest.mark.parametrize("step", list(OPERATION))
@pytest.mark.parametrize("fault", list(FAULT))
@pytest.mark.parametrize("capability_set", list(SETS))
def test_matrix_counted_at_the_sandbox(
    sandboxes: dict[str, Sandbox],
    make_engine: Callable[..., Engine],
    capability_set: str,
    fault: str,
    step: str,
) -> None:
    _, declared = SETS[capability_set]
    sb = sandboxes[capability_set]
    sb.reset()
    recorder = make_engine(sb)
    booking = recorder.erp.get_booking("AG-000001")
    result = record(
        recorder,
        _play.attended(booking),
        _play.form(booking, documents=("a.pdf",), demands=(("SMF-DIV", "Parcelar."),)),
    )
    assert result.outbox_id is not None
    engine = _engine(sb, make_engine, declared)
    sb.inject(f"{OPERATION[step]}={FAULT[fault]}")
    started = time.monotonic()
    writeback(engine, wait_seconds=12)
    # a commit that lands after the client gave up must be counted too
    if fault == "commit_after_timeout":
        time.sleep(max(0.0, started + 2.3 - time.monotonic()))
    item = engine.store.get_item(result.outbox_id)
    ref = f"munivideo:{TENANT}:AG-000001"
    effects = sb.effects()
    done = {
        "create": effects.get(ref, {}).get("create", 0),
        "attach": effects.get(ref, {}).get(f"attach:{DOCUMENT.sha256}", 0),
        "forward": effects.get(ref, {}).get("forward:SMF-DIV", 0),
        "status": effects.get("AG-000001", {}).get("status:AT", 0),
    }
    assert sb.duplicates() == [], done
    assert max(done.values()) <= 1, done
    if item.state is OutboxState.DELIVERED:
        assert done == dict.fromkeys(OPERATION, 1), done
    else:
        # only an ERP that can neither deduplicate nor be asked leaves work for a person
        assert capability_set == "neither" and step != "status", (item.state, item.last_error)
        assert fault != "drop_before_commit" or done[step] == 0
        assert item.state is OutboxState.FAILED, item
        assert item.last_error is not None and "check" in item.last_error
