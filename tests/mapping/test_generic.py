"""The configuration-driven pieces without a peer: paging styles, composite values, constants,
typed output, the tenant's zone and the static checks of a mapping file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from munivideo.errors import ConfigurationError, ContractViolationError, InvalidRecordError
from munivideo.mapping import ErpMappers, load_dialect
from munivideo.mapping.operations import PagingSpec
from munivideo.mapping.paging import Pager, decode, since_cursor
from munivideo.models import ProtocolReceipt

SIGMUN = Path(__file__).parents[1] / "erps" / "sigmun" / "mapping.toml"


def _booking(n: int, stamp: str = "01/03/2031 10:00:00") -> dict[str, Any]:
    return {
        "codigo_agendamento": f"AG-{n}",
        "servico": {"codigo": "IPTU"},
        "cidadao": {"nome_completo": "Íris", "cpf": "052.789.341-23"},
        "data_atendimento": "05/03/2031",
        "hora_inicio": "14:00",
        "hora_fim": "14:30",
        "situacao": 2,
        "ultima_alteracao": stamp,
        "versao_agenda": 0,
    }


def _pager(**spec: Any) -> Pager:
    return Pager(PagingSpec(**spec), ErpMappers.from_file(SIGMUN), origin="http://erp.example")


def test_the_tenant_zone_applies_to_naive_times() -> None:
    manaus = ErpMappers.from_file(SIGMUN, "America/Manaus").booking
    booking = manaus.to_canonical(_booking(1), {"tenant_id": "manaus"})
    assert booking.start == datetime(2031, 3, 5, 18, 0, tzinfo=UTC)
    sao_paulo = ErpMappers.from_file(SIGMUN).booking.to_canonical(_booking(1), {"tenant_id": "x"})
    assert sao_paulo.start == datetime(2031, 3, 5, 17, 0, tzinfo=UTC)


def test_page_numbers_until_the_total_pages() -> None:
    pager = _pager(
        style="page", items="itens", page_param="p", limit_param="n", total_pages="paginas"
    )
    assert pager.request(None, 2).params == {"p": 1, "n": 2}
    first = pager.page(None, 2, {"itens": [_booking(1), _booking(2)], "paginas": 2}, "t")
    assert first.has_more and pager.request(first.next_cursor, 2).params["p"] == 2
    last = pager.page(first.next_cursor, 2, {"itens": [_booking(3)], "paginas": 2}, "t")
    assert not last.has_more
    assert decode(last.next_cursor).since is not None  # the next scan starts after AG-3
    assert pager.request(last.next_cursor, 2).params["p"] == 1


def test_offsets_end_on_a_short_page_and_since_drops_what_was_seen() -> None:
    pager = _pager(style="offset", items="", limit_param="n", since_param="desde")
    start = since_cursor(datetime(2031, 3, 1, 13, 0, tzinfo=UTC))
    request = pager.request(start, 2)
    assert request.params == {"n": 2, "desde": "2031-03-01T10:00:00-03:00", "offset": 0}
    # AG-1 sits exactly on the saved position of the scan: dropped; AG-2 is newer.
    seen = pager.page(
        since_cursor(datetime(2031, 3, 1, 13, 0, tzinfo=UTC)).model_copy(update={"id": ""}),
        2,
        [_booking(1, "01/03/2031 09:59:59"), _booking(2)],
        "t",
    )
    assert [b.id for b in seen.bookings] == ["AG-2"] and seen.has_more


def test_link_paging_follows_next_on_the_same_host_only() -> None:
    pager = _pager(style="link", items="itens")
    page = pager.page(
        None, 5, {"itens": [_booking(1)]}, "t", link='<http://erp.example/a?p=2>; rel="next"'
    )
    assert page.has_more and pager.request(page.next_cursor, 5).url == "http://erp.example/a?p=2"
    with pytest.raises(ContractViolationError, match="host") as raised:
        pager.page(
            None,
            5,
            {"itens": [_booking(1)]},
            "t",
            link="<http://evil.example/>; rel=next",
            operation="listar",
        )
    assert raised.value.field == "Link" and raised.value.message.startswith("listar: ")


@pytest.mark.parametrize("count", ["muitos", None, [3]])
def test_a_total_that_is_not_a_number_is_a_contract_violation_naming_the_path(count: Any) -> None:
    pager = _pager(
        style="page", items="itens", page_param="p", limit_param="n", total_count="total"
    )
    with pytest.raises(ContractViolationError, match="not a number") as raised:
        pager.page(None, 5, {"itens": [_booking(1)], "total": count}, "t", operation="listar")
    assert raised.value.field == "total" and raised.value.message.startswith("listar: ")


def test_composite_numbers_both_ways_and_a_missing_part_is_named() -> None:
    receipt = ErpMappers.from_file(SIGMUN).receipt
    doc = {
        "numero_processo": "1234/2026",
        "referencia_externa": "r",
        "criado_em": "05/03/2026 10:00:00",
    }
    back = receipt.to_canonical(doc)
    assert (back.number, back.year) == (1234, 2026)
    assert receipt.to_erp(back)["numero_processo"] == "1234/2026"
    with pytest.raises(InvalidRecordError) as info:
        receipt.to_canonical(doc | {"numero_processo": "1234"})
    assert info.value.field == "numero_processo"
    assert isinstance(back, ProtocolReceipt)


def test_constants_and_typed_output() -> None:
    mappers = ErpMappers.from_file(SIGMUN)
    from munivideo.models import BookingStatus

    body = mappers.status_body("AG-1", BookingStatus.ATTENDED, "")
    assert body == {"situacao": 5}  # an int, not "5"; an empty note is left out


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('time_format = "%H:%M"', 'time_format = "%H"', "time_format"),
        ('date_format = "%d/%m/%Y"', 'date_format = "%d/%m/%Q"', "date_format"),
        ("[tables.access]", "[tables.acesso]", "mapping"),
    ],
)
def test_static_checks(tmp_path: Path, old: str, new: str, field: str) -> None:
    broken = tmp_path / "m.toml"
    text = SIGMUN.read_text("utf-8")
    assert old in text
    broken.write_text(text.replace(old, new, 1), "utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_dialect(broken)
    assert field in str(info.value.field) or field in str(info.value)
