"""Exactly-once creation: deterministic keys; re-send with the key, or look up first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from munivideo.errors import AmbiguousError, RejectedError
from munivideo.models import ProtocolEntry, ProtocolReceipt
from munivideo.ports import ErpCapabilities
from munivideo.transport import create_exactly_once, idempotency_key

ENTRY = ProtocolEntry(
    external_reference="munivideo:t:AG-1",
    tenant_id="t",
    booking_id="AG-1",
    subject_code="IPTU-REV",
    applicant={"name": "A", "cpf": "05278934123"},
    department_code="SMF-FISC",
    opened_at=datetime(2024, 3, 5, 17, 35, tzinfo=UTC),
    summary="s",
    outcome="attended",
)


class FlakyErp:
    """An ERP double for the strategy only: commits, then may lose the answer."""

    name = "flaky"

    def __init__(self, capabilities: ErpCapabilities, lose_answers: int) -> None:
        self.capabilities = capabilities
        self.lose_answers = lose_answers
        self.protocols: list[ProtocolReceipt] = []
        self.by_key: dict[str, ProtocolReceipt] = {}
        self.keys: list[str] = []
        self.lookups = 0

    def create_protocol(self, entry: ProtocolEntry, key: str) -> ProtocolReceipt:
        self.keys.append(key)
        if key in self.by_key and self.capabilities.honours_idempotency_key:
            receipt = self.by_key[key]
        else:
            receipt = ProtocolReceipt(
                external_reference=entry.external_reference,
                number=len(self.protocols) + 1,
                year=2024,
                created_at=datetime(2024, 3, 5, tzinfo=UTC),
            )
            self.protocols.append(receipt)
            self.by_key[key] = receipt
        if self.lose_answers:
            self.lose_answers -= 1
            raise AmbiguousError("dropped after commit")
        return receipt

    def find_protocol(self, reference: str) -> ProtocolReceipt | None:
        self.lookups += 1
        return next((r for r in self.protocols if r.external_reference == reference), None)

    def distinct(self) -> int:
        return len(self.protocols)


def test_keys_are_deterministic_and_distinct() -> None:
    key = idempotency_key("gravatai", "AG-1", "criarProtocolo")
    assert key == idempotency_key("gravatai", "AG-1", "criarProtocolo")
    assert key != idempotency_key("gravatai", "AG-1", "anexarDocumento")
    assert key != idempotency_key("cachoeirinha", "AG-1", "criarProtocolo")
    assert key == "gravatai:AG-1:criarProtocolo"  # what the engine's write-back sends
    assert idempotency_key("gravatai", "AG-1", "tramitarProtocolo", "2").endswith(":2")
    long = idempotency_key("gravatai", "AG-1", "anexarDocumento", "x" * 300)
    other = idempotency_key("gravatai", "AG-1", "anexarDocumento", "y" * 300)
    assert long != other and len(long) <= 200 and long.startswith("gravatai:AG-1:anexarDocumento:")


def test_resends_with_the_same_key_when_honoured() -> None:
    erp = FlakyErp(ErpCapabilities(), lose_answers=2)
    receipt = create_exactly_once(erp, ENTRY, "k", sleep=lambda _: None)  # type: ignore[arg-type]
    assert erp.keys == ["k", "k", "k"] and erp.distinct() == 1 and receipt.number == 1
    assert erp.lookups == 0


def test_looks_up_before_recreating_without_key_support() -> None:
    caps = ErpCapabilities(honours_idempotency_key=False)
    erp = FlakyErp(caps, lose_answers=1)
    receipt = create_exactly_once(erp, ENTRY, "k", sleep=lambda _: None)  # type: ignore[arg-type]
    assert erp.lookups == 1 and len(erp.keys) == 1 and receipt.number == 1


def test_gives_up_when_it_can_neither_dedupe_nor_look_up() -> None:
    caps = ErpCapabilities(honours_idempotency_key=False, lookup_by_external_reference=False)
    erp = FlakyErp(caps, lose_answers=1)
    with pytest.raises(AmbiguousError):
        create_exactly_once(erp, ENTRY, "k", sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(erp.keys) == 1


def test_bounded_then_probes_once_more() -> None:
    erp = FlakyErp(ErpCapabilities(), lose_answers=10)
    receipt = create_exactly_once(  # type: ignore[arg-type]
        erp, ENTRY, "k", max_attempts=3, sleep=lambda _: None
    )
    assert len(erp.keys) == 3 and erp.lookups == 1 and receipt.number == 1


def test_probe_first_on_replay() -> None:
    erp = FlakyErp(ErpCapabilities(honours_idempotency_key=False), lose_answers=0)
    first = create_exactly_once(erp, ENTRY, "k")  # type: ignore[arg-type]
    again = create_exactly_once(erp, ENTRY, "k2", probe_first=True)  # type: ignore[arg-type]
    assert again == first and erp.keys == ["k"]


def test_other_errors_propagate() -> None:
    class Refusing(FlakyErp):
        def create_protocol(self, entry: ProtocolEntry, key: str) -> ProtocolReceipt:
            raise RejectedError("no", record_id=entry.booking_id, field="codigoAssunto")

    with pytest.raises(RejectedError):
        create_exactly_once(Refusing(ErpCapabilities(), 0), ENTRY, "k")  # type: ignore[arg-type]
