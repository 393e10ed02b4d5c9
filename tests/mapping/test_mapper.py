"""The mapper with the reference dialects: round trips, unknown codes, errors with id and field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from munivideo.errors import ConfigurationError, InvalidRecordError
from munivideo.mapping import ErpMappers, load_dialect
from munivideo.models import Booking, BookingStatus, ProtocolEntry
from munivideo.packs import pack_dir
from munivideo.values import cpf_check_digits

ROOT = Path(__file__).resolve().parents[2]
REST = ROOT / "adapters/munivideo-erp-rest/src/munivideo_erp_rest/mappings/rest-v1.toml"
SOAP = ROOT / "adapters/munivideo-erp-soap/src/munivideo_erp_soap/mappings/soap-v1.toml"


@pytest.fixture(scope="module")
def rest() -> ErpMappers:
    return ErpMappers.from_file(REST)


def _golden(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (pack_dir("erp-rest", "v1") / "examples" / "valid" / name).read_text(encoding="utf-8")
    )
    return doc


def _booking_record() -> dict[str, Any]:
    doc = _golden("obterAgendamento.json")
    body = doc["response"]["body"] if "response" in doc else doc
    assert isinstance(body, dict)
    return body


def test_golden_booking_maps(rest: ErpMappers) -> None:
    record = _booking_record()
    booking = rest.booking.to_canonical(record, {"tenant_id": "gravatai"})
    assert isinstance(booking, Booking)
    assert booking.id == record["id"]
    assert booking.citizen.document == record["cidadao"]["cpfCnpj"]
    assert booking.start.tzinfo is not None and booking.start.utcoffset().total_seconds() == 0


def test_booking_round_trips(rest: ErpMappers) -> None:
    record = _booking_record()
    booking = rest.booking.to_canonical(record, {"tenant_id": "gravatai"})
    back = rest.booking.to_erp(booking)
    again = rest.booking.to_canonical(back, {"tenant_id": "gravatai"})
    assert again == booking
    for key in ("id", "data", "horaInicio", "horaFim", "situacao", "sequencia"):
        assert back[key] == record[key]


def test_unknown_status_is_rejected_naming_record_and_field(rest: ErpMappers) -> None:
    record = copy.deepcopy(_booking_record())
    record["situacao"] = "ZZ"
    with pytest.raises(InvalidRecordError) as info:
        rest.booking.to_canonical(record, {"tenant_id": "gravatai"})
    assert info.value.record_id == record["id"]
    assert info.value.field == "situacao"
    assert "unknown" in info.value.message and "ZZ" in info.value.message


def test_page_quarantines_bad_records_and_keeps_the_good(rest: ErpMappers) -> None:
    good = _booking_record()
    bad_status = {**copy.deepcopy(good), "id": "AG-BAD1", "situacao": "??"}
    bad_cpf = copy.deepcopy(good)
    bad_cpf["id"] = "AG-BAD2"
    bad_cpf["cidadao"]["cpfCnpj"] = "12345678900"
    missing = {k: v for k, v in good.items() if k != "horaFim"} | {"id": "AG-BAD3"}
    page = rest.bookings_page(
        [good, bad_status, bad_cpf, missing], "gravatai", next_cursor=None, has_more=False
    )
    assert [b.id for b in page.bookings] == [good["id"]]
    assert [(r.record_id, r.field) for r in page.rejected] == [
        ("AG-BAD1", "situacao"),
        ("AG-BAD2", "cidadao.cpfCnpj"),
        ("AG-BAD3", "data+horaFim"),
    ]
    assert all("12345678900" not in r.raw + r.reason for r in page.rejected)


def test_model_level_errors_name_the_record(rest: ErpMappers) -> None:
    record = {**_booking_record(), "horaInicio": "15:00", "horaFim": "14:00"}
    with pytest.raises(InvalidRecordError) as info:
        rest.booking.to_canonical(record, {"tenant_id": "gravatai"})
    assert info.value.record_id == record["id"]
    assert "end must be after start" in info.value.message


def test_protocol_goes_out_in_both_dialects() -> None:
    entry = ProtocolEntry(
        external_reference="munivideo:gravatai:AG-000001",
        tenant_id="gravatai",
        booking_id="AG-000001",
        subject_code="IPTU-REV",
        applicant={"name": "João", "cpf": "05278934123"},
        department_code="SMF-FISC",
        opened_at=datetime(2024, 3, 5, 17, 35, tzinfo=UTC),
        summary="ok",
        outcome="citizen_no_show",
    )
    rest_doc = ErpMappers.from_file(REST).protocol.to_erp(entry)
    soap_doc = ErpMappers.from_file(SOAP).protocol.to_erp(entry)
    assert rest_doc["dataAbertura"] == "2024-03-05" and rest_doc["horaAbertura"] == "14:35"
    assert soap_doc["dataAbertura"] == "05/03/2024" and soap_doc["horaAbertura"] == "14:35"
    assert rest_doc["requerentes"] == [{"nome": "João", "cpfCnpj": "05278934123"}]
    assert soap_doc["requerentes"] == {"requerente": [{"nome": "João", "cpfCnpj": "05278934123"}]}
    assert rest_doc["resultadoAtendimento"] == soap_doc["resultadoAtendimento"] == "FA"
    assert rest_doc["nivelAcesso"] == "interno"
    back = ErpMappers.from_file(SOAP).protocol.to_canonical(soap_doc, {"tenant_id": "gravatai"})
    assert back == entry


def test_every_status_has_an_erp_code(rest: ErpMappers) -> None:
    codes = {rest.status_to_erp("AG-1", s) for s in BookingStatus}
    assert codes == {"AG", "CF", "RM", "CA", "AT", "FA", "FS", "FT"}


def test_bad_mapping_files_are_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\n[records.booking]\nfields = [{ target = "id", path = "id", '
        'converter = "nope" }]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="unknown converter") as info:
        load_dialect(bad)
    assert info.value.field is not None and "records.booking" in info.value.field
    table = tmp_path / "table.yaml"
    table.write_text(
        "name: y\nrecords:\n  booking:\n    fields:\n"
        "      - {target: status, path: s, table: missing}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="unknown table"):
        load_dialect(table)


def test_yaml_and_toml_dialects_are_equivalent(tmp_path: Path) -> None:
    import tomllib

    import yaml

    raw = tomllib.loads(REST.read_text(encoding="utf-8"))
    as_yaml = tmp_path / "rest.yaml"
    as_yaml.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert load_dialect(as_yaml) == load_dialect(REST)


_REST = ErpMappers.from_file(REST)


def _cpf(n: int) -> str:
    base = f"{n:09d}"
    return base + cpf_check_digits(base)


@settings(max_examples=40, deadline=None)
@given(
    cpf_base=st.integers(min_value=1, max_value=999_999_998).filter(
        lambda n: len(set(f"{n:09d}")) > 1
    ),
    day=st.dates(),
    start_minute=st.integers(min_value=0, max_value=22 * 60),
    length=st.integers(min_value=1, max_value=90),
    status=st.sampled_from(["AG", "CF", "RM", "CA", "AT", "FA", "FS", "FT"]),
    sequence=st.integers(min_value=0, max_value=1000),
    name=st.text(alphabet="abcçãéíÁ ", min_size=1, max_size=40).filter(lambda s: s.strip()),
)
def test_rest_booking_round_trip_property(
    cpf_base: int,
    day: Any,
    start_minute: int,
    length: int,
    status: str,
    sequence: int,
    name: str,
) -> None:
    mappers = _REST
    end_minute = min(start_minute + length, 23 * 60 + 59)
    record = {
        "id": "AG-P",
        "codigoServico": "IPTU",
        "cidadao": {"nome": name.strip(), "cpfCnpj": _cpf(cpf_base)},
        "data": day.isoformat(),
        "horaInicio": f"{start_minute // 60:02d}:{start_minute % 60:02d}",
        "horaFim": f"{end_minute // 60:02d}:{end_minute % 60:02d}",
        "situacao": status,
        "dataAtualizacao": "2024-03-01T09:15:22.123456-03:00",
        "sequencia": sequence,
    }
    booking = mappers.booking.to_canonical(record, {"tenant_id": "t"})
    back = mappers.booking.to_erp(booking)
    for key in ("data", "horaInicio", "horaFim", "situacao", "sequencia"):
        assert back[key] == record[key]
    assert back["cidadao"]["cpfCnpj"] == record["cidadao"]["cpfCnpj"]
