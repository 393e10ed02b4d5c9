"""Replay: move dead letters back to ``pending`` (with an audit entry naming who and why)."""

from __future__ import annotations

from collections.abc import Sequence

from munivideo.engine.context import Engine
from munivideo.engine.results import ReplayResult


def replay(
    engine: Engine,
    *,
    item_ids: Sequence[int] | None = None,
    actor: str = "operator",
    reason: str = "replayed",
) -> ReplayResult:
    items = engine.store.replay(
        tenant_id=engine.tenant_id, item_ids=item_ids, actor=actor, reason=reason, now=engine.now()
    )
    return ReplayResult(tenant_id=engine.tenant_id, replayed=[i.id for i in items])
