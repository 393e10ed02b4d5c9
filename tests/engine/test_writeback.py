from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from munivideo.engine import Engine, record, replay, writeback
from munivideo.hookspecs import hookimpl
from munivideo.models import Booking, ProtocolEntry, ProtocolReceipt, Tenant
from munivideo.sandbox import Sandbox
from munivideo.store import OutboxState

from . import _play
from .conftest import SECRET_ENV, TENANT, plugins_for_tests

# Confirmed bookings of the tax-office seed with a servant assigned.
CONFIRMED = [f"AG-{n:06d}" for n in (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)]


def _booking(engine: Engine, booking_id: str) -> Booking:
    return engine.erp.get_booking(booking_id)


def _record_attended(engine: Engine, booking_id: str, **form: object) -> None:
    booking = _booking(engine, booking_id)
    result = record(engine, _play.attended(booking), _play.form(booking, **form))  # type: ignore[arg-type]
    assert result.ok, result.reason


def _by_reference(sb: Sandbox) -> Counter[str]:
    return Counter(p["referenciaExterna"] for p in sb.protocols())


class _Written:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def outcome_written(
        self, tenant: Tenant, entry: ProtocolEntry, receipt: ProtocolReceipt
    ) -> None:
        self.calls.append(entry.external_reference)


def test_writeback_creates_attaches_forwards_and_sets_status(
    sb: Sandbox, make_engine: Callable[..., Engine]
) -> None:
    written = _Written()
    engine = make_engine(sb, plugins=plugins_for_tests(("written", written)))
    _record_attended(
        engine,
        "AG-000001",
        documents=("iptu-2024.pdf", "escritura.pdf"),
        demands=(("SMF-CAD", "Atualizar a área construída do imóvel."),),
    )
    booking = _booking(engine, "AG-000002")
    no_show = record(engine, _play.citizen_no_show(booking), _play.form(booking))
    assert no_show.outcome is not None
    assert no_show.outcome.value == "citizen_no_show"

    result = writeback(engine)
    assert result.delivered == 2
    assert result.ok
    protocols = {p["idAgendamento"]: p for p in sb.protocols()}
    first = protocols["AG-000001"]
    assert first["codigoAssunto"] == "IPTU-VIDEO"
    assert first["codigoDepartamento"] == "SMF-FISC"
    assert first["resultadoAtendimento"] == "AT"
    assert [a["nome"] for a in first["anexos"]] == ["iptu-2024.pdf", "escritura.pdf"]
    assert [t["codigoDepartamentoDestino"] for t in first["tramitacoes"]] == ["SMF-CAD"]
    assert "Atualizar a área construída" in first["despacho"]
    assert protocols["AG-000002"]["resultadoAtendimento"] == "FA"
    assert sb.booking("AG-000001")["situacao"] == "AT"
    assert sb.booking("AG-000002")["situacao"] == "FA"
    assert sorted(written.calls) == ["munivideo:gravatai:AG-000001", "munivideo:gravatai:AG-000002"]

    (item,) = [i for i in engine.store.list_items(TENANT) if i.booking_id == "AG-000001"]
    assert item.state is OutboxState.DELIVERED
    assert list(item.steps) == [
        "create",
        f"attach:{item.entry.documents[0].sha256[:16]}",
        f"attach:{item.entry.documents[1].sha256[:16]}",
        "forward:0:SMF-CAD",
        "status",
    ]
    binding = engine.store.get_binding(TENANT, "AG-000001")
    assert binding is not None
    assert binding.protocol_label == f"{first['numero']}/{first['ano']}"

    # recording again keeps the first entry; a second run has nothing to do
    again = record(engine, [], _play.form(_booking(engine, "AG-000001"), summary="outra coisa"))
    assert not again.created
    assert writeback(engine).claimed == 0
    assert len(sb.protocols()) == 2


def _exactly_once(sb: Sandbox, engine: Engine, ids: list[str], docs: int, demands: int) -> None:
    counts = _by_reference(sb)
    assert counts == Counter({f"munivideo:{TENANT}:{i}": 1 for i in ids})
    for protocol in sb.protocols():
        assert len(protocol["anexos"]) == docs, protocol["referenciaExterna"]
        assert len(protocol["tramitacoes"]) == demands, protocol["referenciaExterna"]
    for booking_id in ids:
        assert sb.booking(booking_id)["situacao"] == "AT"
    states = Counter(i.state for i in engine.store.list_items(TENANT))
    assert states == Counter({OutboxState.DELIVERED: len(ids)})


FAULTS = (
    "criarProtocolo=drop_after_commit@0.3,criarProtocolo=error:502@0.1,"
    "anexarDocumento=drop_after_commit@0.3,tramitarProtocolo=drop_after_commit@0.3,"
    "atualizarSituacao=drop@0.2,*=unavailable:0@0.1"
)


def test_faults_including_commit_then_drop_lose_nothing_and_duplicate_nothing(
    munivideo_sandbox_factory: Callable[..., Sandbox], make_engine: Callable[..., Engine]
) -> None:
    sb = munivideo_sandbox_factory(dialect="rest")
    engine = make_engine(sb)
    for booking_id in CONFIRMED:
        _record_attended(
            engine,
            booking_id,
            documents=("a.pdf", "b.pdf"),
            demands=(("SMF-DIV", "Parcelar a dívida ativa."),),
        )
    sb.inject(FAULTS, seed=7)
    result = writeback(engine, wait_seconds=30)
    assert result.ok, result
    assert result.retrying > 0  # the faults did bite
    fired = {r["rule"]: r["fired"] for r in sb.faults()["rules"]}  # type: ignore[index, union-attr]
    assert fired["criarProtocolo=drop_after_commit@0.3"] > 0
    sb.inject("")
    _exactly_once(sb, engine, CONFIRMED, docs=2, demands=1)


def test_an_erp_without_idempotency_keys_is_probed_by_reference(
    munivideo_sandbox_factory: Callable[..., Sandbox], make_engine: Callable[..., Engine]
) -> None:
    sb = munivideo_sandbox_factory(dialect="rest")
    engine = make_engine(sb)
    settings = dict(engine.config.erp.settings)
    settings["capabilities"] = {"honours_idempotency_key": False}
    engine = make_engine(sb, erp={"settings": settings})
    assert not engine.erp.capabilities.honours_idempotency_key
    ids = CONFIRMED[:6]
    for booking_id in ids:
        _record_attended(engine, booking_id)
    sb.inject("criarProtocolo=drop_after_commit@0.5", seed=3)
    assert writeback(engine, wait_seconds=20).ok
    sb.inject("")
    _exactly_once(sb, engine, ids, docs=0, demands=0)


def test_a_refused_entry_is_a_dead_letter_until_replayed(
    sb: Sandbox, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(sb)
    # AG-000007 has no servant yet (status AG): the ERP refuses to mark it attended
    booking = _booking(engine, "AG-000007")
    result = record(engine, [], None, booking_id=booking.id)
    assert result.outbox_id is not None
    first = writeback(engine)
    assert first.dead_lettered == 1
    assert not first.ok
    item = engine.store.get_item(result.outbox_id)
    assert item.state is OutboxState.FAILED
    assert item.last_error_type in ("RejectedError", "LifecycleError")
    assert item.last_error
    assert "create" in item.steps  # the protocol exists; only the status step failed
    assert writeback(engine).claimed == 0  # a dead letter is not retried on its own

    sb.set_booking_status("AG-000007", "CF")  # an operator fixes the ERP side
    replayed = replay(engine, reason="booking confirmed in the ERP", actor="ana")
    assert replayed.replayed == [result.outbox_id]
    assert writeback(engine).delivered == 1
    assert _by_reference(sb) == Counter({f"munivideo:{TENANT}:AG-000007": 1})
    trail = engine.store.audit_trail(result.outbox_id)
    assert [(a.from_state, a.to_state) for a in trail] == [
        (None, OutboxState.PENDING),
        (OutboxState.PENDING, OutboxState.IN_FLIGHT),
        (OutboxState.IN_FLIGHT, OutboxState.FAILED),
        (OutboxState.FAILED, OutboxState.PENDING),
        (OutboxState.PENDING, OutboxState.IN_FLIGHT),
        (OutboxState.IN_FLIGHT, OutboxState.DELIVERED),
    ]
    assert trail[3].actor == "ana"


def test_out_of_attempts_goes_to_dead_letters(
    sb: Sandbox, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(
        sb,
        writeback={
            "max_attempts": 2,
            "lease_seconds": 15,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.02,
        },
    )
    _record_attended(engine, "AG-000001")
    sb.inject("criarProtocolo=unavailable:0")
    result = writeback(engine, wait_seconds=5)
    assert result.retrying == 1
    assert result.dead_lettered == 1
    (item,) = engine.store.list_items(TENANT)
    assert item.state is OutboxState.FAILED
    assert item.attempts == 2
    assert item.last_error_type == "TransientError"
    assert sb.protocols() == []


def test_a_stale_lease_is_requeued_and_finished(
    sb: Sandbox, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(sb)
    _record_attended(engine, "AG-000001")
    ghost = engine.store.claim("ghost-worker", limit=1, lease_seconds=5, now=engine.now())
    assert len(ghost) == 1
    assert writeback(engine).claimed == 0  # the lease is still valid
    later = engine.now() + timedelta(seconds=6)
    engine.clock = lambda: later
    result = writeback(engine)
    assert result.requeued_stale == 1
    assert result.delivered == 1
    assert len(sb.protocols()) == 1


def test_concurrent_workers_share_the_outbox_without_duplicates(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    make_engine: Callable[..., Engine],
    tmp_path: Path,
) -> None:
    sb = munivideo_sandbox_factory(dialect="rest")
    first = make_engine(sb)
    for booking_id in CONFIRMED:
        _record_attended(engine=first, booking_id=booking_id, documents=("a.pdf",))
    sb.inject("criarProtocolo=drop_after_commit@0.2,*=latency:5ms", seed=11)
    workers = [make_engine(sb) for _ in range(4)]
    results = []
    errors: list[BaseException] = []

    def run(engine: Engine) -> None:
        try:
            results.append(writeback(engine, batch=1, wait_seconds=20))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.delivered for r in results) == len(CONFIRMED)
    assert sum(1 for r in results if r.delivered) >= 2  # the work was really shared
    sb.inject("")
    _exactly_once(sb, first, CONFIRMED, docs=1, demands=0)


def test_events_from_webhooks_wait_for_the_form_and_bad_payloads_are_quarantined(
    sb: Sandbox, make_engine: Callable[..., Engine]
) -> None:
    import pytest

    from munivideo.engine import ingest_events, ingest_webhook
    from munivideo.errors import ContractViolationError
    from munivideo.store import QuarantineKind

    video = make_engine(sb).config.video
    engine = make_engine(
        sb,
        video={
            "provider": video.provider,
            "settings": {**video.settings, "webhook_secret": {"env": "MV_TEST_JITSI_SECRET"}},
        },
    )
    booking = _booking(engine, "AG-000001")
    events = _play.attended(booking)
    assert ingest_events(engine, events[:2]) == 2
    assert ingest_events(engine, events) == 2  # a webhook retry repeats events: stored once
    # the servant's form comes later, without events: the stored ones are used
    result = record(engine, [], _play.form(booking))
    assert result.outcome is not None
    assert result.outcome.value == "attended"
    item = engine.store.get_item(result.outbox_id or 0)
    assert item.entry.outcome.value == "attended"

    with pytest.raises(ContractViolationError):
        ingest_webhook(
            engine,
            {
                "Authorization": f"Bearer {SECRET_ENV['MV_TEST_JITSI_SECRET']}",
                "Content-Type": "a/json",
            },
            b"{not json",
        )
    (bad,) = engine.store.list_quarantine(TENANT)
    assert bad.kind is QuarantineKind.ATTENDANCE
    assert bad.record_id.startswith("webhook:")
    assert bad.raw == "{not json"


def test_an_erp_that_cannot_dedupe_or_look_up_gets_no_blind_retry(
    munivideo_sandbox_factory: Callable[..., Sandbox], make_engine: Callable[..., Engine]
) -> None:
    sb = munivideo_sandbox_factory(dialect="rest")
    settings = dict(make_engine(sb).config.erp.settings)
    settings["capabilities"] = {
        "honours_idempotency_key": False,
        "lookup_by_external_reference": False,
    }
    engine = make_engine(sb, erp={"settings": settings})
    _record_attended(engine, "AG-000001")
    sb.inject("criarProtocolo=drop_after_commit#1")
    result = writeback(engine, wait_seconds=2)
    assert result.dead_lettered == 1
    (item,) = engine.store.list_items(TENANT)
    assert item.state is OutboxState.FAILED
    assert item.last_error_type == "UnverifiableCreateError"
    assert len(sb.protocols()) == 1  # it did land once, and was not created again
