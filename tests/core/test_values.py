"""Brazilian value types: CPF/CNPJ check digits, phone and e-mail normalisation, masking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from munivideo.values import (
    SAO_PAULO,
    Cnpj,
    Cpf,
    Email,
    Phone,
    UtcDatetime,
    cnpj_check_digits,
    cpf_check_digits,
    from_local,
    local,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def valid_cpfs(draw: st.DrawFn) -> str:
    base = draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    cpf = base + cpf_check_digits(base)
    if cpf == cpf[0] * 11:
        cpf = "52998224725"
    return cpf


@st.composite
def valid_cnpjs(draw: st.DrawFn) -> str:
    base = draw(st.text(alphabet="0123456789", min_size=12, max_size=12))
    cnpj = base + cnpj_check_digits(base)
    if cnpj == cnpj[0] * 14 or base == "0" * 12:  # Receita issues no CNPJ with a zero base
        cnpj = "11222333000181"
    return cnpj


def test_known_cpf_and_cnpj_vectors() -> None:
    # Published examples (Receita Federal style): check digits computed independently.
    assert Cpf.parse("529.982.247-25") == "52998224725"
    assert Cnpj.parse("11.222.333/0001-81") == "11222333000181"
    assert cpf_check_digits("529982247") == "25"
    assert cnpj_check_digits("112223330001") == "81"


@given(valid_cpfs())
def test_every_cpf_with_right_check_digits_is_accepted_and_keeps_leading_zeros(cpf: str) -> None:
    parsed = Cpf.parse(cpf)
    assert str(parsed) == cpf and len(parsed) == 11
    assert Cpf.parse(parsed.formatted()) == parsed


def _reference_cpf_ok(cpf: str) -> bool:
    """Independent oracle: the classic ``(sum * 10) % 11 % 10`` formulation of the CPF rule."""
    d = [int(c) for c in cpf]
    first = sum(d[i] * (10 - i) for i in range(9)) * 10 % 11 % 10
    second = sum(d[i] * (11 - i) for i in range(10)) * 10 % 11 % 10
    return len(set(cpf)) > 1 and d[9] == first and d[10] == second


def _reference_cnpj_ok(cnpj: str) -> bool:
    d = [int(c) for c in cnpj]
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    first = sum(a * b for a, b in zip(d, w1, strict=False)) * 10 % 11 % 10
    second = sum(a * b for a, b in zip(d, [6, *w1], strict=False)) * 10 % 11 % 10
    return len(set(cnpj)) > 1 and cnpj[:12] != "0" * 12 and d[12] == first and d[13] == second


def _accepts(parse: object, value: str) -> bool:
    try:
        parse(value)  # type: ignore[operator]
    except ValueError:
        return False
    return True


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_cpf_acceptance_matches_an_independent_oracle(cpf: str) -> None:
    assert _accepts(Cpf.parse, cpf) == _reference_cpf_ok(cpf)


@given(valid_cpfs(), st.integers(min_value=0, max_value=10), st.integers(min_value=1, max_value=9))
def test_single_digit_changes_are_judged_like_the_oracle(cpf: str, pos: int, delta: int) -> None:
    changed = cpf[:pos] + str((int(cpf[pos]) + delta) % 10) + cpf[pos + 1 :]
    assert _accepts(Cpf.parse, changed) == _reference_cpf_ok(changed)
    if pos >= 9:  # a typo in a check digit is always caught
        with pytest.raises(ValueError, match="CPF"):
            Cpf.parse(changed)


@given(valid_cnpjs(), st.integers(min_value=0, max_value=13), st.integers(min_value=1, max_value=9))
def test_cnpj_round_trip_and_single_digit_changes(cnpj: str, pos: int, delta: int) -> None:
    parsed = Cnpj.parse(cnpj)
    assert str(parsed) == cnpj
    assert Cnpj.parse(parsed.formatted()) == parsed
    changed = cnpj[:pos] + str((int(cnpj[pos]) + delta) % 10) + cnpj[pos + 1 :]
    assert _accepts(Cnpj.parse, changed) == _reference_cnpj_ok(changed)
    if pos >= 12:
        with pytest.raises(ValueError, match="CNPJ"):
            Cnpj.parse(changed)


def test_cpf_with_leading_zeros_and_repeated_digits() -> None:
    base = "000000001"
    cpf = base + cpf_check_digits(base)
    assert Cpf.parse(cpf) == cpf and cpf.startswith("0000")
    with pytest.raises(ValueError, match="repeat"):
        Cpf.parse("111.111.111-11")
    with pytest.raises(ValueError, match="11 digits"):
        Cpf.parse("1234")


def test_personal_values_are_masked_in_repr() -> None:
    cpf = Cpf.parse("52998224725")
    assert "52998224725" not in repr(cpf)
    assert repr(cpf) == "Cpf('***.982.247-**')"
    email = Email.parse("maria.silva@Example.COM.br")
    assert str(email) == "maria.silva@example.com.br"
    assert "silva" not in repr(email)
    phone = Phone.parse("(51) 98765-4321")
    assert str(phone) == "+5551987654321" and phone.is_mobile
    assert "98765" not in repr(phone)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+55 51 98765-4321", "+5551987654321"),
        ("051 3484-1000", "+555134841000"),
        ("5551987654321", "+5551987654321"),
    ],
)
def test_phone_forms(raw: str, expected: str) -> None:
    assert Phone.parse(raw) == expected


@pytest.mark.parametrize(
    "raw", ["+1 415 555 010", "51 8765-432", "(51) 88765-4321", "00 1234 5678"]
)
def test_bad_phones_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        Phone.parse(raw)


@pytest.mark.parametrize("raw", ["no-at-sign", "a@b", "x@y.com\r\nBcc: evil@z.com", "a b@c.com"])
def test_bad_emails_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        Email.parse(raw)


class _Slot(BaseModel):
    at: UtcDatetime


def test_datetimes_must_be_aware_and_are_stored_in_utc() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        _Slot(at=datetime(2026, 3, 2, 9, 0))
    slot = _Slot(at=datetime(2026, 3, 2, 9, 0, tzinfo=SAO_PAULO))
    assert slot.at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert slot.at.tzinfo is UTC
    assert local(slot.at).hour == 9
    assert from_local(datetime(2026, 3, 2, 9, 0)) == slot.at
    # No DST in Sao Paulo since 2019: January is UTC-3 too (an old tz database says UTC-2).
    assert local(datetime(2026, 1, 15, 12, tzinfo=UTC)).utcoffset() == timedelta(hours=-3)
    other = _Slot(at=datetime(2026, 3, 2, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert other.at.hour == 12
