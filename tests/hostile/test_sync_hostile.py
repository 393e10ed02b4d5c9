"""Kinds 1 and 2 of issue 11 against a real loopback REST ERP: one bad record never stops a
tenant's sync, side effects only for good records, and paging that never ends is stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from munivideo.engine import sync
from munivideo.errors import ContractViolationError, StalledSyncError
from munivideo.store.records import QuarantineKind

from .conftest import TENANT, ErpFactory, outbox_files, record


def _quarantined(engine) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {q.record_id: q.field for q in engine.store.list_quarantine(TENANT)}


def test_a_null_item_and_a_list_item_are_quarantined_and_the_sync_moves_on(
    hostile_erp: ErpFactory,
) -> None:
    engine, erp = hostile_erp([[None, record(1), [1, 2], "x", record(2)], [record(3)]])
    result = sync(engine)
    assert result.cursor is not None and result.cursor.id == "2"  # both pages passed
    assert engine.store.count_bindings(TENANT) == 3
    ids = _quarantined(engine)
    assert len(ids) == 3
    assert all(i.startswith("unidentified:") for i in ids)
    assert sorted(erp.room_links) == ["AG-000001", "AG-000002", "AG-000003"]


def test_a_sequence_past_the_icalendar_range_is_quarantined_before_any_effect(
    hostile_erp: ErpFactory, tmp_path: Path
) -> None:
    engine, erp = hostile_erp([[record(1, sequencia=2147483648), record(2)]])
    result = sync(engine)
    assert _quarantined(engine) == {"AG-000001": "sequencia"}
    assert "AG-000001" not in erp.room_links  # no room link told to the ERP
    assert erp.room_links["AG-000002"] == 1
    assert result.rooms_created == 1
    assert not any("AG-000001" in p.name for p in outbox_files(tmp_path))
    # The next run re-reads nothing and makes no second room.
    again = sync(engine)
    assert again.rooms_created == 0 and erp.room_links["AG-000002"] == 1


def test_a_crlf_in_a_name_is_quarantined_with_no_room_link_or_message(
    hostile_erp: ErpFactory, tmp_path: Path
) -> None:
    templates = tmp_path / "templates" / "pt-BR"
    templates.mkdir(parents=True)
    (templates / "subject.txt.j2").write_text("Atendimento de {{ citizen_name }}")
    evil = record(1)
    evil["cidadao"] = {**evil["cidadao"], "nome": "Ana\r\nBcc: todos@example.com"}
    engine, erp = hostile_erp([[evil, record(2)]], templates_dir=str(tmp_path / "templates"))
    result = sync(engine)
    assert "AG-000001" in _quarantined(engine)
    assert "AG-000001" not in erp.room_links
    assert result.cursor is not None
    assert not any("AG-000001" in p.name for p in outbox_files(tmp_path))
    for item in engine.store.list_quarantine(TENANT):
        assert item.raw  # the payload is kept for the operator


def test_two_records_with_one_id_in_one_page_are_quarantined_as_ambiguous(
    hostile_erp: ErpFactory,
) -> None:
    engine, erp = hostile_erp([[record(1), record(1, horaInicio="16:00", horaFim="16:30")]])
    result = sync(engine)
    assert result.quarantined == 2
    rows = engine.store.list_quarantine(TENANT)
    assert {(r.record_id, r.field) for r in rows} == {("AG-000001", "id")}
    assert all("ambiguous" in r.reason for r in rows)
    assert erp.room_links == {}


def test_an_empty_page_that_says_there_is_more_stops_with_a_typed_error(
    hostile_erp: ErpFactory,
) -> None:
    spin = {"itens": [], "proximoCursor": "0", "haMais": True}
    engine, erp = hostile_erp([spin])
    with pytest.raises(StalledSyncError):
        sync(engine)
    assert erp.list_calls == 1


def test_a_cursor_that_goes_back_stops_with_a_typed_error(hostile_erp: ErpFactory) -> None:
    back = {"itens": [record(2)], "proximoCursor": "1", "haMais": True}
    engine, erp = hostile_erp([[record(1)], back])
    with pytest.raises(StalledSyncError):
        sync(engine)
    assert erp.list_calls == 2
    assert engine.store.count_bindings(TENANT) == 2  # work done before the stall is kept
    cursor = engine.store.get_cursor(TENANT)
    assert cursor is not None and cursor.id == "1"


def test_a_page_without_an_item_list_stops_with_a_typed_error_keeping_the_cursor(
    hostile_erp: ErpFactory,
) -> None:
    broken = {"itens": "nenhum", "proximoCursor": "2", "haMais": False}
    engine, erp = hostile_erp([[record(1)], broken])
    with pytest.raises(ContractViolationError) as raised:
        sync(engine)
    assert raised.value.field == "itens" and raised.value.message.startswith("listarAlterados: ")
    assert erp.list_calls == 2
    assert engine.store.count_bindings(TENANT) == 1  # the page before is kept
    cursor = engine.store.get_cursor(TENANT)
    assert cursor is not None and cursor.id == "1"  # the next run reads the broken page again


def test_the_page_budget_stops_a_run_and_the_next_run_goes_on(hostile_erp: ErpFactory) -> None:
    engine, erp = hostile_erp([[record(i)] for i in range(1, 6)], sync={"max_pages": 2})
    first = sync(engine)
    assert first.more and first.pages == 2
    second = sync(engine)
    assert second.pages == 2
    third = sync(engine)
    assert not third.more
    assert engine.store.count_bindings(TENANT) == 5
    assert erp.list_calls == 5


def test_quarantine_rows_name_kind_booking(hostile_erp: ErpFactory) -> None:
    engine, _ = hostile_erp([[{"id": "AG-9", "codigoServico": 7}]])
    sync(engine)
    rows = engine.store.list_quarantine(TENANT)
    assert [r.kind for r in rows] == [QuarantineKind.BOOKING]
    assert rows[0].record_id == "AG-9"
