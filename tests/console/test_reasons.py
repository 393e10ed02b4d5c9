"""Dead-letter and quarantine reasons in the reader's language: the typed errors carry a code and
params; the console renders a stored (English) reason from the catalogue in pt-BR by default,
English on request; logs and the CLI keep the English message."""

from __future__ import annotations

import string

import pytest
import requests
from engine.conftest import TENANT
from starlette.testclient import TestClient

from munivideo.error_catalogue import ERP_REASONS, REASONS, coded, localized, parse
from munivideo.errors import (
    InvalidRecordError,
    NotFoundError,
    RejectedError,
)
from munivideo.models import Locale
from munivideo.transport.classify import (
    FAULT_TABLE,
    STATUS_TABLE,
    UNKNOWN_FAULT,
    ErpFault,
    HttpStatusError,
    MalformedResponseError,
    classify,
    lookup_failure,
    to_error,
)

from .conftest import ConsoleEnv, sign_in

SAMPLE = {
    "sent_at": "2026-11-30 08:00:00 UTC",
    "id": "17",
    "step": "create",
    "reference": "munivideo:gravatai:AG-000001",
    "booking": "AG-000001",
    "protocol": "12/2026",
    "document": "comprovante (1).pdf",
    "sha256": "ab" * 32,
    "department": "SMF-DIV",
    "times": "2",
    "dispatch": "Inscrever em dívida: ver (anexo).",
    "source": "buscarPorReferenciaExterna",
    "label": "13/2026",
    "other": "AG-000002",
    "asked": "12/2026",
    "cause": "buscarPorReferenciaExterna: the ERP does not offer this operation here (no)",
    "setting": "erp.settings.capabilities.lookup_by_external_reference",
    "operation": "criarProtocolo",
    "reason": "the ERP refused the request",
    "detail": "assunto inexistente (IPTU-X)",
    "kind": "booking",
    "service": "ALVARA",
    "count": "2",
    "tenant": "gravatai",
    "pack": "erp-rest/v1",
    "pattern": "^([0-9]{11}|[0-9]{14})$",
}
ERROR_OF = {
    "writeback.unverifiable_create": "UnverifiableCreateError",
    "writeback.unverifiable_attach": "UnverifiableStepError",
    "writeback.unverifiable_forward": "UnverifiableStepError",
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_reason_round_trips_and_reads_in_both_languages(code: str) -> None:
    reason = REASONS[code]
    assert _fields(reason.pt_br) == _fields(reason.en), code
    params = {name: SAMPLE[name] for name in _fields(reason.en)}
    error_type = ERROR_OF.get(code, sorted(reason.types)[0])
    cls = type(error_type, (RejectedError,), {})
    error = coded(cls, code, record_id="munivideo:gravatai:AG-000001", field="x", **params)
    assert (error.code, dict(error.params)) == (code, params)
    assert error.message == reason.en.format(**params)  # logs and the CLI: English
    assert parse(error_type, str(error)) == (code, params)  # stored with its prefix
    pt = localized(error_type, str(error), Locale.PT_BR)
    assert pt.startswith("[registro munivideo:gravatai:AG-000001, campo x] ")
    assert pt != str(error)
    assert localized(error_type, str(error), Locale.EN) == str(error)


def test_a_reason_outside_the_catalogue_is_shown_as_stored() -> None:
    assert localized("VetoedError", "veto by a plugin", Locale.PT_BR) == "veto by a plugin"
    assert localized("InvalidRecordError", "unknown: x", Locale.PT_BR) == "unknown: x"


def test_every_transport_reason_has_its_portuguese() -> None:
    rules = [*STATUS_TABLE.values(), *FAULT_TABLE.values(), UNKNOWN_FAULT]
    for raw in (
        requests.ConnectionError(ConnectionRefusedError()),
        requests.ReadTimeout(),
        requests.ConnectionError("reset"),
        MalformedResponseError("cut"),
        requests.RequestException(),
        ValueError(),
    ):
        rules.append(classify(raw))
    missing = {r.reason for r in rules} - set(ERP_REASONS)
    assert missing == set()


def test_engine_errors_render_in_portuguese() -> None:
    fault = ErpFault("REQUISICAO_INVALIDA", "assunto inexistente", field="codigoAssunto")
    refused = to_error(
        fault, classify(fault), operation="criarProtocolo", record_id="ref-1", safe=False
    )
    assert refused.code == "erp.failure"
    assert str(refused) == (
        "[record ref-1, field codigoAssunto] criarProtocolo: the ERP refused the request "
        "(assunto inexistente)"
    )
    assert localized(type(refused).__name__, str(refused), "pt-BR") == (
        "[registro ref-1, campo codigoAssunto] criarProtocolo: o ERP recusou o pedido "
        "(assunto inexistente)"
    )
    missing = HttpStatusError(405, message="Method Not Allowed")
    lookup = to_error(
        missing,
        classify(missing),
        operation="buscarPorReferenciaExterna",
        record_id=None,
        safe=True,
    )
    mismatch = lookup_failure(lookup, setting=SAMPLE["setting"], record_id="ref-1")
    text = localized(type(mismatch).__name__, mismatch.message, "pt-BR")
    assert text.startswith(
        "o ERP recusou a consulta por referência externa (buscarPorReferenciaExterna: o ERP não "
        "oferece esta operação aqui (Method Not Allowed)), mas a configuração diz que ela existe"
    )


def test_a_field_error_from_the_mapping_renders_in_portuguese() -> None:
    error = coded(
        InvalidRecordError,
        "record.invalid_field",
        record_id="AG-BAD",
        field="cidadao.cpfCnpj",
        kind="booking",
        detail="Value error, invalid CPF",
    )
    assert localized("InvalidRecordError", error.message, "pt-BR") == (
        "agendamento: dado inválido: Value error, invalid CPF"
    )
    assert isinstance(NotFoundError("x"), RejectedError)


def test_the_console_shows_a_dead_letter_reason_in_the_readers_language(
    console_env: ConsoleEnv,
) -> None:
    from munivideo.models import Outcome, OutcomeForm

    mv = console_env.mv
    mv.record(
        [],
        OutcomeForm(
            booking_id="AG-000001", servant_registration="AF-0001", outcome=Outcome.ATTENDED
        ),
    )
    console_env.sb.inject("criarProtocolo=fault:REQUISICAO_INVALIDA#1")
    assert mv.writeback().dead_lettered == 1
    (item,) = mv.outbox()
    assert item.last_error is not None and "the ERP refused the request" in item.last_error
    operator = TestClient(console_env.app)
    token = sign_in(operator, "rui")
    page = operator.get(f"/outbox/{item.id}?tenant={TENANT}").text
    assert "criarProtocolo: o ERP recusou o pedido (injected fault REQUISICAO_INVALIDA)" in page
    assert "the ERP refused the request" not in page
    english = operator.post(
        "/lang",
        data={"csrf_token": token, "lang": "en", "next": f"/outbox/{item.id}?tenant={TENANT}"},
    ).text
    assert "criarProtocolo: the ERP refused the request (injected fault REQUISICAO_INVALIDA)" in (
        english
    )


def test_the_quarantine_shows_its_reasons_in_the_readers_language(
    console_env: ConsoleEnv,
) -> None:
    from munivideo.engine.sync import sync
    from munivideo.store import QuarantineKind

    doc = console_env.sb.booking("AG-000001")
    doc.update({"id": "AG-000099", "codigoServico": "ALVARA"})
    del doc["dataAtualizacao"]
    console_env.sb.add_booking(doc)
    sync(console_env.mv.engine)
    (entry,) = [q for q in console_env.mv.quarantine() if q.record_id == "AG-000099"]
    assert entry.kind is QuarantineKind.BOOKING
    assert entry.reason == "service 'ALVARA' is not configured for this tenant"  # stored: en
    operator = TestClient(console_env.app)
    sign_in(operator, "rui")
    page = operator.get(f"/quarantine?tenant={TENANT}").text
    assert "o serviço &#39;ALVARA&#39; não está configurado para este município" in page
