"""Brazilian data as Receita Federal and Anatel define it today: the alphanumeric CNPJ (July
2026), phone numbers read by libphonenumber, naive ERP times in the tenant's zone.

Every right value is checked twice: against our code and against an independent oracle
(python-stdnum, phonenumbers, zoneinfo arithmetic written out here)."""

from __future__ import annotations

from datetime import UTC, datetime

import phonenumbers
import pytest
from pydantic import ValidationError
from stdnum.br import cnpj as stdnum_cnpj

from munivideo.errors import AmbiguousTimeError, InvalidRecordError, InvalidValueError
from munivideo.mapping.converters import CONVERTERS
from munivideo.models import Citizen, Tenant
from munivideo.redact import redact
from munivideo.values import Cnpj, Phone, PhoneKind, cnpj_check_digits, localize, zone

# Computed by hand with the Receita rule (value = character code - 48, weights 2..9, mod 11):
ALNUM = "K7MPW3Z8000112"
ALNUM_FORMATTED = "K7.MPW.3Z8/0001-12"
RECEITA_EXAMPLE = "12.ABC.345/01DE-35"  # the example Receita Federal publishes


def _receita_check_digits(base12: str) -> str:
    values = [ord(c) - 48 for c in base12]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        rest = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
        values.append(0 if rest < 2 else 11 - rest)
    return f"{values[-2]}{values[-1]}"


@pytest.mark.parametrize("raw", [ALNUM_FORMATTED, ALNUM, ALNUM.lower(), RECEITA_EXAMPLE])
def test_alphanumeric_cnpj_is_accepted(raw: str) -> None:
    parsed = Cnpj.parse(raw)
    compact = raw.replace(".", "").replace("/", "").replace("-", "").upper()
    assert str(parsed) == compact
    assert stdnum_cnpj.is_valid(compact)  # the library agrees
    assert _receita_check_digits(compact[:12]) == compact[12:]  # and so does the rule by hand
    assert cnpj_check_digits(compact[:12]) == compact[12:]
    assert Cnpj.parse(parsed.formatted()) == parsed


def test_alphanumeric_cnpj_formatting_and_masks() -> None:
    cnpj = Cnpj.parse(ALNUM)
    assert cnpj.formatted() == ALNUM_FORMATTED
    assert repr(cnpj) == "Cnpj('K7.MPW.***/****-**')"
    citizen = Citizen(name="Padaria", cnpj=ALNUM_FORMATTED)
    assert citizen.document == ALNUM and "3Z8" not in repr(citizen)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("K7.MPW.3Z8/0001-13", "check digits"),
        ("K7.MPW.3Z8/0001-1A", "2 check digits"),
        ("K7.MPW.3Z8/0001", "14 characters"),
        ("K7.MPW.3Z8/0Ç01-12", "other characters"),
    ],
)
def test_bad_alphanumeric_cnpj_is_refused_with_a_reason(raw: str, reason: str) -> None:
    assert not stdnum_cnpj.is_valid(raw)
    with pytest.raises(ValueError, match=reason):
        Cnpj.parse(raw)
    with pytest.raises(ValidationError, match="cnpj"):
        Citizen(name="Padaria", cnpj=raw)


def test_the_mapping_reads_an_alphanumeric_cnpj() -> None:
    convert = CONVERTERS["cpf_cnpj"]
    assert convert.to_canonical(ALNUM, None) == ALNUM  # type: ignore[arg-type]
    assert convert.to_canonical(ALNUM_FORMATTED, None) == ALNUM  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CNPJ"):
        convert.to_canonical("K7.MPW.3Z8/0001-1A", None)  # type: ignore[arg-type]


def test_redaction_masks_alphanumeric_cnpjs_and_leaves_other_ids_readable() -> None:
    text = f"applicant {ALNUM_FORMATTED} / {ALNUM} / {RECEITA_EXAMPLE} ref ABCDEFGHIJKL99"
    out = redact(text)
    assert "3Z8" not in out and "345/01DE" not in out
    assert out.count("K7.MPW.***/****-**") == 2 and "12.ABC.***/****-**" in out
    assert "ABCDEFGHIJKL99" in out  # 14 characters, check digits do not hold: not a CNPJ


# -- phones ----------------------------------------------------------------------------------


def test_obsolete_eight_digit_mobile_is_refused_with_its_nine_digit_form() -> None:
    assert not phonenumbers.is_valid_number(phonenumbers.parse("(51) 9876-5432", "BR"))
    with pytest.raises(
        InvalidValueError, match=r"obsolete.*add a 9 after the area code \(51\)"
    ) as raised:
        Phone.parse("(51) 9876-5432", field="citizen.phone", record_id="AG-1")
    assert "9876" not in str(raised.value)  # errors never repeat the citizen's number
    assert (raised.value.record_id, raised.value.field) == ("AG-1", "citizen.phone")
    with pytest.raises(ValueError, match="obsolete"):
        Phone.parse("+55 51 9876-5432")


@pytest.mark.parametrize(
    ("raw", "e164", "kind"),
    [
        ("(51) 98765-4321", "+5551987654321", PhoneKind.MOBILE),
        ("(51) 3484-1000", "+555134841000", PhoneKind.LANDLINE),
        ("051 3484-1000", "+555134841000", PhoneKind.LANDLINE),
        ("+351 912 345 678", "+351912345678", PhoneKind.MOBILE),
        ("+1 650 253 0000", "+16502530000", PhoneKind.LANDLINE_OR_MOBILE),
    ],
)
def test_landline_or_mobile_as_libphonenumber_says(raw: str, e164: str, kind: PhoneKind) -> None:
    phone = Phone.parse(raw)
    assert str(phone) == e164 and phone.kind is kind
    number = phonenumbers.parse(e164)
    assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == e164
    assert phone.is_mobile == (kind is not PhoneKind.LANDLINE)
    assert phone.is_brazilian == e164.startswith("+55")


# -- time zones ------------------------------------------------------------------------------


def test_the_tenant_zone_reads_naive_erp_times() -> None:
    manaus = Tenant(id="manaus", name="Manaus", timezone="America/Manaus")
    assert localize(datetime(2026, 12, 7, 14, 0), manaus.zone) == datetime(
        2026, 12, 7, 18, 0, tzinfo=UTC
    )
    assert localize(datetime(2026, 12, 7, 14, 0), "America/Sao_Paulo") == datetime(
        2026, 12, 7, 17, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("naive", "what"),
    [
        (datetime(2018, 11, 4, 0, 30), "does not exist"),  # clocks jumped 00:00 -> 01:00
        (datetime(2019, 2, 16, 23, 30), "happened twice"),  # clocks went 00:00 -> 23:00
    ],
)
def test_historical_dst_gaps_and_overlaps_are_ambiguous(naive: datetime, what: str) -> None:
    sp = zone("America/Sao_Paulo")
    # Independent check: the two readings of this wall time differ (or do not round-trip).
    a, b = naive.replace(tzinfo=sp, fold=0), naive.replace(tzinfo=sp, fold=1)
    assert a.utcoffset() != b.utcoffset()
    with pytest.raises(AmbiguousTimeError, match=what) as info:
        localize(naive, sp, field="inicio", record_id="AG-1")
    assert info.value.field == "inicio" and info.value.record_id == "AG-1"
    assert isinstance(info.value, InvalidRecordError) and isinstance(info.value, ValueError)
    # Brazil has had no DST since 2019: the same wall times today are plain.
    assert localize(naive.replace(year=2026), sp).utcoffset() is not None


def test_an_unknown_tenant_zone_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        Tenant(id="x", name="X", timezone="America/Atlantis")
    with pytest.raises(ValidationError, match="unknown locale"):
        Tenant(id="x", name="X", date_locale="xx_YY")


def test_a_mapped_erp_time_in_a_dst_gap_is_refused_naming_the_field() -> None:
    # A REST ERP's naive date + time, read in Sao Paulo: 2018-11-04 00:30 never happened there.
    from pathlib import Path

    from munivideo.mapping import ErpMappers

    mapping = Path(__file__).parents[1] / "erps" / "sigmun" / "mapping.toml"
    record = {
        "codigo_agendamento": "AG-DST",
        "servico": {"codigo": "IPTU"},
        "cidadao": {"nome_completo": "Íris", "cpf": "052.789.341-23"},
        "data_atendimento": "04/11/2018",
        "hora_inicio": "00:30",
        "hora_fim": "01:30",
        "situacao": 2,
        "ultima_alteracao": "01/11/2018 10:00:00",
        "versao_agenda": 0,
    }
    mapper = ErpMappers.from_file(mapping, "America/Sao_Paulo").booking
    with pytest.raises(InvalidRecordError, match="does not exist") as info:
        mapper.to_canonical(record, {"tenant_id": "gravatai"})
    assert info.value.record_id == "AG-DST"
    assert info.value.field == "data_atendimento+hora_inicio"  # the ERP fields it came from
    manaus = ErpMappers.from_file(mapping, "America/Manaus").booking  # no DST there in 2018
    assert manaus.to_canonical(record, {"tenant_id": "manaus"}).start == datetime(
        2018, 11, 4, 4, 30, tzinfo=UTC
    )
