"""Converters: Brazilian dates, naive local time <-> UTC, comma decimals, CPF/CNPJ digits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from munivideo.mapping import CONVERTERS, Context

SP = ZoneInfo("America/Sao_Paulo")
ISO = Context(SP)
BR = Context(SP, date_format="%d/%m/%Y")


def test_br_date_both_ways() -> None:
    conv = CONVERTERS["date"]
    assert conv.to_canonical("05/03/2024", BR) == date(2024, 3, 5)
    assert conv.to_erp(date(2024, 3, 5), BR) == "05/03/2024"
    with pytest.raises(ValueError, match=r"%d/%m/%Y"):
        conv.to_canonical("2024-03-05", BR)


def test_iso_date_accepts_parsed_dates_but_not_datetimes() -> None:
    conv = CONVERTERS["date"]
    assert conv.to_canonical(date(2024, 3, 5), ISO) == date(2024, 3, 5)
    with pytest.raises(ValueError):
        conv.to_canonical(datetime(2024, 3, 5, 1, 2), ISO)


def test_naive_local_date_and_time_become_utc() -> None:
    conv = CONVERTERS["local_date_time"]
    value = conv.to_canonical(("05/03/2024", "14:35"), BR)
    assert value == datetime(2024, 3, 5, 17, 35, tzinfo=UTC)
    assert conv.to_erp(value, BR) == ("05/03/2024", "14:35")


def test_local_datetime_refuses_an_offset() -> None:
    conv = CONVERTERS["local_datetime"]
    assert conv.to_canonical("2024-03-01T09:15:22.123456", ISO) == datetime(
        2024, 3, 1, 12, 15, 22, 123456, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="naive"):
        conv.to_canonical("2024-03-01T09:15:22-03:00", ISO)


def test_offset_datetime_refuses_naive() -> None:
    conv = CONVERTERS["offset_datetime"]
    assert conv.to_canonical("2024-03-01T09:15:22-03:00", ISO) == datetime(
        2024, 3, 1, 12, 15, 22, tzinfo=UTC
    )
    assert conv.to_erp(datetime(2024, 3, 1, 12, 15, tzinfo=UTC), ISO) == "2024-03-01T09:15:00-03:00"
    with pytest.raises(ValueError, match="offset"):
        conv.to_canonical("2024-03-01T09:15:22", ISO)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.234,56", Decimal("1234.56")), ("0,5", Decimal("0.5")), ("12", Decimal(12))],
)
def test_comma_decimals(text: str, value: Decimal) -> None:
    conv = CONVERTERS["decimal_comma"]
    assert conv.to_canonical(text, ISO) == value
    assert conv.to_canonical(conv.to_erp(value, ISO), ISO) == value


@pytest.mark.parametrize("bad", ["1,234.56", "abc", "1.23,4,5"])
def test_comma_decimals_refuse_dot_decimals(bad: str) -> None:
    with pytest.raises(ValueError):
        CONVERTERS["decimal_comma"].to_canonical(bad, ISO)


def test_documents_keep_leading_zeros_and_refuse_numbers() -> None:
    conv = CONVERTERS["cpf_cnpj"]
    assert conv.to_canonical("01234567890", ISO) == "01234567890"
    with pytest.raises(ValueError, match="leading zeros"):
        conv.to_canonical(1234567890, ISO)
    with pytest.raises(ValueError, match="punctuation"):
        conv.to_canonical("012.345.678", ISO)


def test_documents_formatted_or_bare_both_ways() -> None:
    formatted = Context(SP, fmt="formatted")
    cpf, cnpj, both = CONVERTERS["cpf"], CONVERTERS["cnpj"], CONVERTERS["cpf_cnpj"]
    assert cpf.to_canonical("012.345.678-90", ISO) == "01234567890"
    assert cpf.to_erp("01234567890", formatted) == "012.345.678-90"
    assert cpf.to_erp("01234567890", ISO) == "01234567890"
    # Alphanumeric CNPJ (from July 2026): letters upper-cased, punctuation dropped.
    assert cnpj.to_canonical("12.abc.345/01de-35", ISO) == "12ABC34501DE35"
    assert cnpj.to_erp("12ABC34501DE35", formatted) == "12.ABC.345/01DE-35"
    # The declared type decides: a CPF field never takes a CNPJ, and the reverse.
    with pytest.raises(ValueError, match="CPF"):
        cpf.to_canonical("11.222.333/0001-81", ISO)
    with pytest.raises(ValueError, match="CNPJ"):
        cnpj.to_canonical("012.345.678-90", ISO)
    assert both.to_canonical("11.222.333/0001-81", ISO) == "11222333000181"
    assert both.to_canonical("012.345.678-90", ISO) == "01234567890"


def test_strftime_datetimes_in_the_tenant_zone() -> None:
    conv = CONVERTERS["datetime"]
    br = Context(SP, fmt="%d/%m/%Y %H:%M:%S")
    value = conv.to_canonical("05/03/2024 14:35:10", br)
    assert value == datetime(2024, 3, 5, 17, 35, 10, tzinfo=UTC)
    assert conv.to_erp(value, br) == "05/03/2024 14:35:10"
    with pytest.raises(ValueError, match="%d/%m/%Y"):
        conv.to_canonical("2024-03-05 14:35:10", br)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_local_datetime_round_trips(naive: datetime) -> None:
    conv = CONVERTERS["local_datetime"]
    utc = conv.to_canonical(naive.isoformat(), ISO)
    assert datetime.fromisoformat(conv.to_erp(utc, ISO)) == naive


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    )
)
def test_date_and_time_round_trip_to_the_minute(moment: datetime) -> None:
    conv = CONVERTERS["local_date_time"]
    assert conv.to_canonical(conv.to_erp(moment, BR), BR) == moment
