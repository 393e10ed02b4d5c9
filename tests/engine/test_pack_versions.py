"""A company with an alphanumeric CNPJ (IN RFB 2.229/2024) against ERPs on either pack version,
over HTTP, counted at the sandbox: on a v1 ERP its protocol is never sent, the row is a dead
letter naming the booking and the field (PackCannotCarryError), and the row behind it is
delivered; once the ERP speaks v2 (and ``pack_version = "v2"``), a replay delivers it once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from munivideo.engine import Engine, replay, writeback
from munivideo.models import AccessLevel, Applicant, Attendance, Outcome, ProtocolEntry
from munivideo.sandbox import Sandbox
from munivideo.store import OutboxState
from munivideo.store.records import Binding
from munivideo.values import Cnpj, Cpf

from .conftest import TENANT

COMPANY = Applicant(name="Padaria Pão de Mel Ltda", cnpj=Cnpj("12.ABC.345/01DE-35"))
WRITEBACK = {"lease_seconds": 60}  # outlasts one ERP call under the timeouts below
PERSON = Applicant(name="João da Conceição Araújo", cpf=Cpf("05278934123"))


def _erp(sb: Sandbox, dialect: str, pack_version: str) -> dict[str, Any]:
    user = sb.credentials[0]
    secret = {"env": "MV_TEST_ERP_SECRET"}  # conftest's environment: sandbox-secret
    common = {
        "base_url": sb.base_url,
        "pack_version": pack_version,
        # generous: two workers on a loaded machine must not turn a slow answer into a failure
        "timeouts": {"connect_seconds": 5, "read_seconds": 10, "total_seconds": 20},
        "retry": {
            "max_attempts": 2,
            "initial_backoff_seconds": 0.01,
            "max_backoff_seconds": 0.02,
            "max_retry_after_seconds": 0.1,
        },
    }
    if dialect == "soap":
        auth = {"scheme": "basic", "username": user, "password": secret}
        return {"adapter": "soap", "settings": {**common, "auth": auth}}
    auth = {"scheme": "oauth2", "client_id": user, "client_secret": secret}
    return {"adapter": "rest", "settings": {**common, "auth": {**auth, "token_url": sb.token_url}}}


def _enqueue(engine: Engine, booking_id: str, applicant: Applicant) -> tuple[int, str]:
    now = datetime.now(UTC)
    booking = engine.erp.get_booking(booking_id)
    engine.store.save_binding(
        Binding(
            tenant_id=TENANT,
            booking_id=booking_id,
            booking=booking,
            fingerprint="pack-versions",
            created_at=now,
            updated_at=now,
        )
    )
    entry = ProtocolEntry(
        external_reference=f"munivideo:{TENANT}:{booking_id}",
        tenant_id=TENANT,
        booking_id=booking_id,
        subject_code="ISS-VIDEO",
        applicant=applicant,
        department_code="SMF-FISC",
        opened_at=datetime(2031, 3, 5, 17, 35, tzinfo=UTC),
        summary="Atendimento por vídeo: ISS da empresa.",
        access_level=AccessLevel.INTERNAL,
        outcome=Outcome.ATTENDED,
    )
    attendance = Attendance(booking_id=booking_id, tenant_id=TENANT, outcome=Outcome.ATTENDED)
    item, _ = engine.store.enqueue(TENANT, attendance, entry, max_attempts=8, now=now)
    return item.id, entry.external_reference


def _creates(sb: Sandbox) -> dict[str, int]:
    """Creates the ERP executed, read over HTTP from ``GET /_sandbox/effects``."""
    report = requests.get(f"{sb.base_url}/_sandbox/effects", timeout=5).json()
    return {ref: steps["create"] for ref, steps in report["effects"].items() if "create" in steps}


@pytest.mark.parametrize("dialect", ["rest", "soap"])
def test_v1_erp_keeps_the_row_v2_erp_delivers_it(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    make_engine: Callable[..., Engine],
    dialect: str,
) -> None:
    v1 = munivideo_sandbox_factory(dialect=dialect, pack_version="v1")
    engine = make_engine(v1, erp=_erp(v1, dialect, "v1"), writeback=WRITEBACK)
    company_row, company_ref = _enqueue(engine, "AG-000001", COMPANY)
    person_row, person_ref = _enqueue(engine, "AG-000002", PERSON)
    # every criarProtocolo that reaches the ERP fires this (harmless) rule once
    v1.inject("criarProtocolo=latency:1ms")

    writeback(engine, wait_seconds=30)

    kept = engine.store.get_item(company_row)
    assert kept.state is OutboxState.FAILED, kept
    assert kept.last_error_type == "PackCannotCarryError"
    assert kept.last_error is not None
    assert "record AG-000001" in kept.last_error and "field applicant.cnpj" in kept.last_error
    assert f"erp-{dialect}/v1" in kept.last_error
    assert "12ABC34501DE35" not in kept.last_error  # redacted like every error
    assert engine.store.get_item(person_row).state is OutboxState.DELIVERED
    assert _creates(v1) == {person_ref: 1}
    assert v1.faults()["rules"][0]["fired"] == 1  # type: ignore[index]  # never sent

    # The city's ERP moves to v2; the operator sets pack_version = "v2" and replays the row.
    v2 = munivideo_sandbox_factory(dialect=dialect, pack_version="v2")
    upgraded = make_engine(
        v2, erp=_erp(v2, dialect, "v2"), store={"url": engine.config.store.url}, writeback=WRITEBACK
    )
    replay(upgraded, item_ids=[company_row], reason="ERP now on the v2 packs")
    writeback(upgraded, wait_seconds=30)

    assert upgraded.store.get_item(company_row).state is OutboxState.DELIVERED
    assert _creates(v2) == {company_ref: 1}
    (protocol,) = v2.protocols()
    assert protocol["requerentes"][0]["cpfCnpj"] == "12ABC34501DE35"
