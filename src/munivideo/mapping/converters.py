"""Converters between ERP field values and canonical values, both ways.

Each converter is a pair of plain functions; mapping files name them. Dates and times cross the
boundary here and only here: the ERP's naive local time (America/Sao_Paulo by default) becomes
UTC on the way in (:func:`munivideo.values.from_local`) and local again on the way out
(:func:`munivideo.values.local`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from munivideo.values import from_local, local

_ISO_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\Z")
_BR_DATE = re.compile(r"(0[1-9]|[12]\d|3[01])/(0[1-9]|1[0-2])/\d{4}\Z")
_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d\Z")


@dataclass(frozen=True)
class Context:
    """What a converter may depend on besides the value."""

    tz: ZoneInfo
    date_format: str = "%Y-%m-%d"
    time_format: str = "%H:%M"
    #: The field's ``format``: a strftime pattern (``datetime``), or ``formatted`` / ``digits``
    #: (``cpf``, ``cnpj``, ``cpf_cnpj``: how the document goes out). None = the converter's default.
    fmt: str | None = None


ToCanonical = Callable[[Any, Context], Any]
ToErp = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class Converter:
    """A named pair of functions between an ERP field's representation and the canonical
    value (``to_canonical`` on read, ``to_erp`` on write); mapping files name it in ``type =``.
    """

    name: str
    to_canonical: ToCanonical
    to_erp: ToErp
    #: How many ERP paths the converter reads and writes (date + time = 2).
    arity: int = 1


def _identity(value: Any, ctx: Context) -> Any:
    return value


def _to_str(value: Any, ctx: Context) -> str:
    if value.__class__ is str:
        return value
    if not isinstance(value, str | int):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return str(value)


def _to_int(value: Any, ctx: Context) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _to_bool(value: Any, ctx: Context) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "true",
        "1",
        "s",
        "sim",
        "false",
        "0",
        "n",
        "nao",
        "não",
    ):
        return value.strip().lower() in ("true", "1", "s", "sim")
    raise ValueError(f"expected a boolean, got {value!r}")


def _parse_date(value: Any, ctx: Context) -> date:
    if isinstance(value, datetime):
        raise ValueError("expected a date without time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date, got {type(value).__name__}")
    # Fast paths for the two formats ERPs use; strptime is ~10x slower.
    if ctx.date_format == "%Y-%m-%d" and _ISO_DATE.match(value):
        return date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    if ctx.date_format == "%d/%m/%Y" and _BR_DATE.match(value):
        try:
            return date(int(value[6:10]), int(value[3:5]), int(value[0:2]))
        except ValueError:
            raise ValueError(f"expected a date as {ctx.date_format}, got {value!r}") from None
    try:
        return datetime.strptime(value.strip(), ctx.date_format).date()
    except ValueError:
        raise ValueError(f"expected a date as {ctx.date_format}, got {value!r}") from None


def _strftime(value: date | datetime, fmt: str) -> str:
    # glibc's %Y does not pad years before 1000; contracts want four digits.
    return value.strftime(fmt.replace("%Y", f"{value.year:04d}"))


def _format_date(value: Any, ctx: Context) -> str:
    day = value.date() if isinstance(value, datetime) else value
    return _strftime(day, ctx.date_format)


def _parse_time(value: Any, ctx: Context) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a time, got {type(value).__name__}")
    if ctx.time_format == "%H:%M" and _HH_MM.match(value):
        return time(int(value[0:2]), int(value[3:5]))
    try:
        return datetime.strptime(value.strip(), ctx.time_format).time()
    except ValueError:
        raise ValueError(f"expected a time as {ctx.time_format}, got {value!r}") from None


def _local_datetime_in(value: Any, ctx: Context) -> datetime:
    """Naive local date-time (ISO text or datetime) -> UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected a local date-time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date-time, got {type(value).__name__}")
    if value.tzinfo is not None:
        raise ValueError("expected a naive local date-time, got one with an offset")
    return from_local(value, ctx.tz)


def _local_datetime_out(value: datetime, ctx: Context) -> str:
    return local(value, ctx.tz).replace(tzinfo=None).isoformat()


def _offset_datetime_in(value: Any, ctx: Context) -> datetime:
    """RFC 3339 with an offset -> UTC; a naive value is refused (it would be ambiguous)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expected an RFC 3339 date-time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date-time, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError("expected a date-time with an offset")
    return from_local(value, ctx.tz)


def _offset_datetime_out(value: datetime, ctx: Context) -> str:
    return local(value, ctx.tz).isoformat()


def _date_time_in(values: Any, ctx: Context) -> datetime:
    """(local date, local time) -> UTC datetime."""
    day_raw, hour_raw = values
    if (
        ctx.date_format == "%Y-%m-%d"
        and ctx.time_format == "%H:%M"
        and day_raw.__class__ is str
        and hour_raw.__class__ is str
        and _ISO_DATE.match(day_raw)
        and _HH_MM.match(hour_raw)
    ):
        # Both already checked strictly: one C-level parse instead of two plus a combine.
        return from_local(datetime.fromisoformat(f"{day_raw}T{hour_raw}"), ctx.tz)
    day = _parse_date(day_raw, ctx)
    hour = _parse_time(hour_raw, ctx)
    return from_local(datetime.combine(day, hour), ctx.tz)


def _date_time_out(value: datetime, ctx: Context) -> tuple[str, str]:
    here = local(value, ctx.tz)
    return _strftime(here, ctx.date_format), here.strftime(ctx.time_format)


def _decimal_comma_in(value: Any, ctx: Context) -> Decimal:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str) or not re.fullmatch(
        r"-?\d{1,3}(\.?\d{3})*(,\d+)?", value.strip()
    ):
        raise ValueError(f"expected a decimal like 1.234,56, got {value!r}")
    try:
        return Decimal(value.strip().replace(".", "").replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"expected a decimal like 1.234,56, got {value!r}") from None


def _decimal_comma_out(value: Decimal, ctx: Context) -> str:
    return format(Decimal(value), "f").replace(".", ",")


_PUNCTUATION = str.maketrans("", "", ".-/ ")
_CPF = re.compile(r"\d{11}\Z")
_CNPJ = re.compile(r"[0-9A-Z]{12}\d{2}\Z")  # alphanumeric CNPJ (2026): 12 letters/digits + 2 digits


def _document(value: Any, kinds: tuple[str, ...]) -> str:
    """Bare or punctuated CPF/CNPJ -> the bare value (leading zeros kept, letters upper case).

    Only the shape is checked here; check digits are the canonical model's job."""
    # Fast path: bare digits, what most ERPs send.
    if (
        value.__class__ is str
        and value.isdigit()
        and (("cpf" in kinds and len(value) == 11) or ("cnpj" in kinds and len(value) == 14))
    ):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("expected a CPF/CNPJ as text (a number loses leading zeros)")
    text = value.strip().translate(_PUNCTUATION).upper()
    if "cpf" in kinds and _CPF.match(text):
        return text
    if "cnpj" in kinds and _CNPJ.match(text):
        return text
    wanted = " or ".join(
        {"cpf": "a CPF (11 digits)", "cnpj": "a CNPJ (14 characters)"}[k] for k in kinds
    )
    raise ValueError(f"expected {wanted}, with or without punctuation")


def format_document(value: str, style: str | None) -> str:
    """``formatted``: ``012.345.678-90`` / ``12.ABC.345/01DE-35``; otherwise the bare value."""
    if style != "formatted":
        return value
    if len(value) == 11:
        return f"{value[:3]}.{value[3:6]}.{value[6:9]}-{value[9:]}"
    if len(value) == 14:
        return f"{value[:2]}.{value[2:5]}.{value[5:8]}/{value[8:12]}-{value[12:]}"
    return value


def _digits_in(value: Any, ctx: Context) -> str:
    """One ERP field holding either kind: 11 characters are a CPF, 14 a CNPJ (the lengths the
    two documents have by law; nothing is guessed from the content)."""
    return _document(value, ("cpf", "cnpj"))


def _cpf_in(value: Any, ctx: Context) -> str:
    return _document(value, ("cpf",))


def _cnpj_in(value: Any, ctx: Context) -> str:
    return _document(value, ("cnpj",))


def _document_out(value: Any, ctx: Context) -> str:
    return format_document(str(value), ctx.fmt)


def _datetime_in(value: Any, ctx: Context) -> datetime:
    """A date-time in the field's strftime ``format``; without an offset in the text it is the
    tenant's local time."""
    if ctx.fmt is None:
        return _local_datetime_in(value, ctx)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.strptime(value.strip(), ctx.fmt)
        except ValueError:
            raise ValueError(f"expected a date-time as {ctx.fmt}, got {value!r}") from None
    else:
        raise ValueError(f"expected a date-time, got {type(value).__name__}")
    return from_local(parsed, ctx.tz)


def _datetime_out(value: datetime, ctx: Context) -> str:
    if ctx.fmt is None:
        return _local_datetime_out(value, ctx)
    return _strftime(local(value, ctx.tz), ctx.fmt)


def _decimal_in(value: Any, ctx: Context) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None


CONVERTERS: dict[str, Converter] = {
    c.name: c
    for c in (
        Converter("str", _to_str, _to_str),
        Converter("int", _to_int, _identity),
        Converter("bool", _to_bool, _identity),
        Converter("date", _parse_date, _format_date),
        Converter("local_datetime", _local_datetime_in, _local_datetime_out),
        Converter("offset_datetime", _offset_datetime_in, _offset_datetime_out),
        Converter("local_date_time", _date_time_in, _date_time_out, arity=2),
        Converter("decimal_comma", _decimal_comma_in, _decimal_comma_out),
        Converter("datetime", _datetime_in, _datetime_out),
        Converter("decimal", _decimal_in, _identity),
        Converter("cpf_cnpj", _digits_in, _document_out),
        Converter("cpf", _cpf_in, _document_out),
        Converter("cnpj", _cnpj_in, _document_out),
    )
}
"""Converters by the name mapping files use."""
