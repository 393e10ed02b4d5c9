"""The console's pages through Starlette's TestClient, with the real engine, store and the
sandbox ERP on loopback: effects are counted in the ERP and the store, not in mocks."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.conftest import TENANT, make_config, plugins_for_tests
from starlette.testclient import TestClient

from munivideo.api import Munivideo
from munivideo.console import create_app
from munivideo.console.i18n import MESSAGES
from munivideo.console.users import Authenticator
from munivideo.console.web import ConsoleSettings
from munivideo.store import OutboxState, QuarantineKind

from .conftest import FAST_HASHER, WEBHOOK_AUTH, ConsoleEnv, sign_in

PDF = b"%PDF-1.4\n% certidao negativa de debitos\n" + bytes(range(256)) * 40


def _record_attended(client: TestClient, token: str, booking: str = "AG-000001") -> None:
    answer = client.post(
        f"/bookings/{booking}/outcome",
        data={
            "csrf_token": token,
            "outcome": "attended",
            "summary": "Dúvidas sobre o IPTU 2026 esclarecidas.",
            "doc_name": ["Certidão negativa", "Matrícula do imóvel"],
            "doc_kind": ["outro", "matricula-imovel"],
            "doc_sha256": ["", "ab" * 32],
            "demand_department": ["SMF-DIV"],
            "demand_description": ["Parcelamento do débito de 2025"],
        },
        files=[
            ("doc_file", ("certidao.pdf", PDF, "application/pdf")),
            ("doc_file", ("", b"", "application/octet-stream")),
        ],
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def test_outcome_form_to_a_protocol_in_the_erp(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    token = sign_in(client, "ana")
    page = client.get("/bookings/AG-000001")
    assert page.status_code == 200
    assert 'id="outcome-form"' in page.text
    _record_attended(client, token)

    (item,) = console_env.mv.outbox()
    assert item.state is OutboxState.PENDING
    uploaded, referenced = item.entry.documents
    assert uploaded.sha256 == hashlib.sha256(PDF).hexdigest()
    assert uploaded.size == len(PDF)
    assert referenced.sha256 == "ab" * 32
    assert [d.department_code for d in item.entry.forwards] == ["SMF-DIV"]
    assert "Enviando ao ERP" in client.get("/bookings/AG-000001/writeback").text
    # the same form again keeps the first entry (record is idempotent), no second row
    assert 'id="outcome-form"' not in client.get("/bookings/AG-000001").text

    result = console_env.mv.writeback()
    assert result.delivered == 1
    (protocol,) = console_env.sb.protocols()
    assert protocol["idAgendamento"] == "AG-000001"
    assert sorted(a["sha256"] for a in protocol["anexos"]) == sorted(
        [hashlib.sha256(PDF).hexdigest(), "ab" * 32]
    )
    assert [t["codigoDepartamentoDestino"] for t in protocol["tramitacoes"]] == ["SMF-DIV"]
    label = f"{protocol['numero']}/{protocol['ano']}"
    panel = client.get("/bookings/AG-000001/writeback").text
    assert f"Protocolo {label} registrado no ERP" in panel
    assert "hx-trigger" not in panel  # polling stops once it landed
    assert f"protocolo {label}" in client.get("/agenda?day=" + _day(console_env)).text


def _day(env: ConsoleEnv) -> str:
    """AG-000001's day in the tenant's zone."""
    binding = env.mv.engine.store.get_binding(TENANT, "AG-000001")
    assert binding is not None
    zone = ZoneInfo(env.mv.engine.config.tenant.timezone)
    return binding.booking.start.astimezone(zone).date().isoformat()


def test_form_problems_are_shown_and_nothing_is_recorded(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    token = sign_in(client, "ana")
    answer = client.post(
        "/bookings/AG-000001/outcome",
        data={
            "csrf_token": token,
            "outcome": "attended",
            "doc_name": ["RG"],
            "doc_kind": ["identidade"],
            "doc_sha256": ["12" * 32],
            "demand_department": ["NOPE"],
            "demand_description": ["x"],
        },
        files=[("doc_file", ("rg.pdf", b"other bytes", "application/pdf"))],
    )
    assert answer.status_code == 422
    assert "não confere com o arquivo" in answer.text
    assert "escolha um departamento" in answer.text
    assert console_env.mv.outbox() == []


def test_agenda_shows_the_days_bookings_in_the_tenants_zone(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    sign_in(client, "ana")
    day = _day(console_env)
    page = client.get(f"/agenda?day={day}").text
    assert "AG-000001" in page
    assert "09:00–09:30" in page  # the seed's local slot, not UTC (12:00)
    assert "***." in page  # CPF masked
    assert "Entrar na sala" in page and "jwt=" in page  # the servant's own (moderator) link
    assert "AG-000002" not in page  # another servant's booking
    assert "Nenhum atendimento" in client.get("/agenda?day=2001-01-01").text


def test_operator_replays_a_dead_letter_with_a_reason(console_env: ConsoleEnv) -> None:
    servant = TestClient(console_env.app)
    _record_attended(servant, sign_in(servant, "ana"))
    console_env.sb.inject("criarProtocolo=fault:REQUISICAO_INVALIDA#1")
    assert console_env.mv.writeback().dead_lettered == 1
    (item,) = console_env.mv.outbox()

    operator = TestClient(console_env.app)
    token = sign_in(operator, "rui")
    listing = operator.get(f"/outbox?tenant={TENANT}&state=failed").text
    assert f"/outbox/{item.id}?tenant={TENANT}" in listing
    assert operator.get(f"/outbox?tenant={TENANT}&state=delivered").text.count("/outbox/") == 0
    page = operator.get(f"/outbox/{item.id}?tenant={TENANT}").text
    assert 'id="replay-form"' in page
    assert "Maria" not in page and "João" in page  # applicant shown as initials
    no_reason = operator.post(
        f"/outbox/{item.id}/replay", data={"csrf_token": token, "tenant": TENANT, "reason": ""}
    )
    assert no_reason.status_code == 422
    assert console_env.mv.outbox()[0].state is OutboxState.FAILED
    done = operator.post(
        f"/outbox/{item.id}/replay",
        data={"csrf_token": token, "tenant": TENANT, "reason": "assunto corrigido no ERP"},
    )
    assert done.status_code == 200
    assert "voltou para a fila" in done.text
    trail = console_env.mv.audit_trail(item.id)
    assert trail[-1].actor == f"console:{TENANT}/rui"
    assert trail[-1].reason == "replay: assunto corrigido no ERP"
    assert console_env.mv.writeback().delivered == 1
    assert len(console_env.sb.protocols()) == 1


def test_operator_requeues_and_marks_done_elsewhere(console_env: ConsoleEnv) -> None:
    servant = TestClient(console_env.app)
    token = sign_in(servant, "ana")
    _record_attended(servant, token)
    operator = TestClient(console_env.app)
    op_token = sign_in(operator, "rui")
    (item,) = console_env.mv.outbox()
    requeued = operator.post(
        f"/outbox/{item.id}/requeue",
        data={"csrf_token": op_token, "tenant": TENANT, "reason": "ERP voltou"},
    )
    assert requeued.status_code == 200
    assert console_env.mv.audit_trail(item.id)[-1].reason == "requeue: ERP voltou"
    # done elsewhere is for dead letters only
    refused = operator.post(
        f"/outbox/{item.id}/done",
        data={"csrf_token": op_token, "tenant": TENANT, "reason": "feito", "protocol": "9/2026"},
    )
    assert refused.status_code == 422
    console_env.sb.inject("criarProtocolo=fault:REQUISICAO_INVALIDA#1")
    console_env.mv.writeback()
    bad = operator.post(
        f"/outbox/{item.id}/done",
        data={"csrf_token": op_token, "tenant": TENANT, "reason": "feito", "protocol": "nove"},
    )
    assert bad.status_code == 422
    marked = operator.post(
        f"/outbox/{item.id}/done",
        data={
            "csrf_token": op_token,
            "tenant": TENANT,
            "reason": "criado à mão",
            "protocol": "9/2026",
        },
    )
    assert marked.status_code == 200
    after = console_env.mv.engine.store.get_item(item.id)
    assert after.state is OutboxState.DELIVERED
    assert after.receipt is not None and after.receipt.label == "9/2026"
    assert "protocolo 9/2026" in client_agenda(servant, console_env)
    assert console_env.sb.protocols() == []  # nothing was sent to the ERP


def client_agenda(client: TestClient, env: ConsoleEnv) -> str:
    return client.get("/agenda?day=" + _day(env)).text


def test_quarantine_masks_the_payload_and_readmits(console_env: ConsoleEnv) -> None:
    # an attendance refused earlier (say, by a plugin's veto since removed), kept raw
    mv = console_env.mv
    mv.engine.store.quarantine(
        TENANT,
        QuarantineKind.ATTENDANCE,
        "AG-000001",
        field="form",
        reason="veto by a plugin",
        error_type="VetoedError",
        raw=json.dumps(
            {
                "events": [],
                "form": {
                    "booking_id": "AG-000001",
                    "servant_registration": "AF-0001",
                    "outcome": "attended",
                    "summary": "CPF 529.982.247-25 conferido, e-mail maria@example.com",
                },
            }
        ),
        now=mv.engine.now(),
    )
    operator = TestClient(console_env.app)
    token = sign_in(operator, "rui")
    page = operator.get("/quarantine").text
    assert "AG-000001" in page
    assert "529.982.247-25" not in page and "***.982.247-**" in page
    assert "maria@example.com" not in page
    (entry,) = mv.quarantine()
    answer = operator.post(
        f"/quarantine/{entry.id}/readmit", data={"csrf_token": token, "tenant": TENANT}
    )
    assert answer.status_code == 200
    assert "readmitido" in answer.text
    assert mv.quarantine() == []
    (item,) = mv.outbox()
    assert item.booking_id == "AG-000001"


def test_health_per_city(console_env: ConsoleEnv) -> None:
    servant = TestClient(console_env.app)
    _record_attended(servant, sign_in(servant, "ana"))
    operator = TestClient(console_env.app)
    sign_in(operator, "rui")
    page = operator.get("/health").text
    assert "Prefeitura Municipal de Gravataí" in page
    assert re.search(r"<td>1</td><td>0</td><td>0</td>", page)  # pending, in flight, stale


JOINED = json.dumps(
    {
        "event_name": "muc-occupant-joined",
        "room_name": "sala",
        "occupant": {
            "id": "mv1|AG-000001|servant|AF-0001",
            "occupant_jid": "ana@meet/abc",
            "joined_at": 1_900_000_000,
        },
    }
).encode()
"""A Jitsi event_sync call: the servant joined AG-000001's room."""


def test_webhook_events_reach_the_booking_page(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    url = f"/webhooks/{TENANT}/jitsi"
    store = console_env.mv.engine.store
    assert client.post(url, content=JOINED).status_code == 401  # no secret: nothing kept
    forged = {"Authorization": "Bearer not-the-secret"}
    assert client.post(url, content=JOINED, headers=forged).status_code == 401
    assert store.events_for(TENANT, "AG-000001") == []
    assert console_env.mv.quarantine() == []  # a forged body is not even quarantined
    answer = client.post(url, content=JOINED, headers=WEBHOOK_AUTH)
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 1}
    assert client.post(url, content=JOINED, headers=WEBHOOK_AUTH).json() == {"accepted": 0}
    assert client.post(f"/webhooks/{TENANT}/bbb", content=JOINED).status_code == 404
    assert client.post(url, content=b"{nope", headers=WEBHOOK_AUTH).status_code == 400
    assert len(console_env.mv.quarantine()) == 1  # the authenticated bad body, kept raw
    assert len(store.events_for(TENANT, "AG-000001")) == 1
    sign_in(client, "ana")
    assert "entrou" in client.get("/bookings/AG-000001").text


def test_a_tenant_without_a_webhook_secret_refuses_every_call(
    console_env: ConsoleEnv, tmp_path: Path
) -> None:
    config = make_config(console_env.sb, tmp_path)  # no webhook_secret
    with Munivideo.from_config(config, plugins=plugins_for_tests()) as mv:
        auth = Authenticator(console_env.users, hasher=FAST_HASHER)
        app = create_app({TENANT: mv}, auth, ConsoleSettings(session_secret="s" * 40))
        client = TestClient(app)
        url = f"/webhooks/{TENANT}/jitsi"
        assert client.post(url, content=JOINED, headers=WEBHOOK_AUTH).status_code == 503
        assert mv.engine.store.events_for(TENANT, "AG-000001") == []


def test_english_is_one_click_away(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    token = sign_in(client, "ana")
    assert "Agenda" in client.get("/agenda").text and "Sair" in client.get("/agenda").text
    answer = client.post("/lang", data={"csrf_token": token, "lang": "en", "next": "/agenda"})
    assert "Sign out" in answer.text


def test_every_message_id_used_has_both_languages() -> None:
    folder = Path(__file__).parents[2] / "src" / "munivideo" / "console"
    used: set[str] = set()
    prefixes: set[str] = set()
    for path in [*folder.glob("templates/*.html"), *folder.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\(\"([a-z_.]+[a-z_])\"", text))
        used |= set(re.findall(r"translate\(locale, \"([a-z_.]+)\"", text))
        prefixes |= set(re.findall(r"\bt\(\"([a-z_.]+\.)\" *\+", text))
    assert used - set(MESSAGES) == set()
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in MESSAGES), prefix
    assert all(pt and en for pt, en in MESSAGES.values())


def test_an_event_for_a_booking_unknown_then_is_readmitted_once_synced(
    console_env: ConsoleEnv,
) -> None:
    from munivideo.engine.operate import readmit
    from munivideo.engine.sync import sync_bookings

    client = TestClient(console_env.app)
    body = JOINED.replace(b"AG-000001", b"AG-000020")  # not synced in this store yet
    answer = client.post(f"/webhooks/{TENANT}/jitsi", content=body, headers=WEBHOOK_AUTH)
    assert answer.json() == {"accepted": 0}
    (entry,) = console_env.mv.quarantine()
    assert entry.record_id == "AG-000020"
    engine = console_env.mv.engine
    early = readmit(engine, entry.id)
    assert not early.admitted
    assert "sync it first" in early.reason
    sync_bookings(engine, [engine.erp.get_booking("AG-000020")])
    assert readmit(engine, entry.id).admitted
    assert len(engine.store.events_for(TENANT, "AG-000020")) == 1
    assert console_env.mv.quarantine() == []
