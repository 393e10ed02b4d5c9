"""The error tree names records and fields and never leaks secrets or personal data."""

from __future__ import annotations

import logging

import pytest

from munivideo.errors import (
    AmbiguousError,
    ConfigurationError,
    ContractViolationError,
    InvalidRecordError,
    Recovery,
    TransientError,
)
from munivideo.redact import RedactingFilter, install_log_redaction, redact


def test_errors_name_record_and_field_and_carry_the_recovery() -> None:
    error = InvalidRecordError("unknown status code 'XX'", record_id="AG-9", field="situacao")
    assert str(error) == "[record AG-9, field situacao] unknown status code 'XX'"
    assert error.recovery is Recovery.REJECT
    assert error.to_dict()["field"] == "situacao"
    assert TransientError("x").recovery is Recovery.RETRY
    assert AmbiguousError("x").recovery is Recovery.RETRY
    assert isinstance(AmbiguousError("x"), TransientError)
    assert ContractViolationError("x").recovery is Recovery.CONTRACT
    assert ConfigurationError("x").recovery is Recovery.CONFIGURE
    assert TransientError("slow down", retry_after=3.0).retry_after == 3.0


def test_messages_are_redacted() -> None:
    error = TransientError(
        "POST /token failed: client_secret=hunter2&x=1 Authorization: Bearer abc.def.ghijklmnop "
        "for CPF 529.982.247-25 / 52998224725 mail maria@example.com "
        "link https://m/r?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"
    )
    text = str(error)
    for secret in (
        "hunter2",
        "abc.def.ghijklmnop",
        "52998224725",
        "529.982.247-25",
        "maria@example.com",
        "eyJhbGciOiJIUzI1NiJ9",
    ):
        assert secret not in text
    assert "***.982.247-**" in text


def test_redact_keeps_ordinary_text() -> None:
    assert redact("protocolo 123/2026 criado") == "protocolo 123/2026 criado"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction("munivideo.test")
    install_log_redaction("munivideo.test")  # idempotent: one filter
    logger = logging.getLogger("munivideo.test")
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    with caplog.at_level("INFO", logger="munivideo.test"):
        logger.info("citizen %s token=%s", "529.982.247-25", "abcdef123456")
    assert "529.982.247-25" not in caplog.text
    assert "abcdef123456" not in caplog.text
    assert "***.982.247-**" in caplog.text


def test_pack_cannot_carry_is_a_rejection_naming_record_field_and_pack() -> None:
    from datetime import UTC, datetime

    from munivideo.errors import PackCannotCarryError, Recovery
    from munivideo.models import AccessLevel, Applicant, Outcome, ProtocolEntry
    from munivideo.packs import check_carried
    from munivideo.values import Cnpj, Cpf

    def entry(applicant: Applicant) -> ProtocolEntry:
        return ProtocolEntry(
            external_reference="munivideo:t:AG-1",
            tenant_id="t",
            booking_id="AG-1",
            subject_code="ISS",
            applicant=applicant,
            department_code="SMF",
            opened_at=datetime(2031, 1, 1, tzinfo=UTC),
            summary="",
            access_level=AccessLevel.INTERNAL,
            outcome=Outcome.ATTENDED,
        )

    company = entry(Applicant(name="Padaria", cnpj=Cnpj("12ABC34501DE35")))
    with pytest.raises(PackCannotCarryError) as info:
        check_carried(company, "erp-rest/v1")
    error = info.value
    assert error.recovery is Recovery.REJECT
    assert (error.record_id, error.field, error.contract) == (
        "AG-1",
        "applicant.cnpj",
        "erp-rest/v1",
    )
    assert "12ABC34501DE35" not in str(error)
    check_carried(company, "erp-soap/v2")
    for pack in ("erp-rest/v1", "erp-soap/v2"):
        check_carried(entry(Applicant(name="João", cpf=Cpf("05278934123"))), pack)
        check_carried(entry(Applicant(name="Loja", cnpj=Cnpj("11222333000181"))), pack)
