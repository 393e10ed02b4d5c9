"""Brazilian value types and time helpers used by the canonical models.

CPF, CNPJ, phone and e-mail are ``str`` subclasses: ``str(cpf)`` is the plain digit string the
ERP wants (leading zeros kept), while ``repr(cpf)`` is masked so personal data never reaches logs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from stdnum import exceptions as _stdnum_errors
from stdnum.br import cnpj as _stdnum_cnpj
from stdnum.br import cpf as _stdnum_cpf

from munivideo.errors import AmbiguousTimeError, ConfigurationError, InvalidValueError
from munivideo.redact import mask_cnpj, mask_cpf, mask_email, mask_phone

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
_NON_DIGITS = re.compile(r"\D")


def cpf_check_digits(base9: str) -> str:
    """The two check digits of a CPF from its first nine digits (modulo 11), to build test
    and demo data; :class:`Cpf` validates with python-stdnum."""
    digits = [int(c) for c in base9]
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_start, 1, -1), strict=False))
        rest = total % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return f"{digits[-2]}{digits[-1]}"


def cnpj_check_digits(base12: str) -> str:
    """The two check digits of a CNPJ from its first twelve positions (python-stdnum).

    Works for the numeric CNPJ and for the alphanumeric one Receita Federal issues since July
    2026 (positions ``0-9``/``A-Z``, each valued by its character code minus 48, modulo 11)."""
    return str(_stdnum_cnpj.calc_check_digits(base12.upper()))


class _PersonalStr(str):
    """A string holding personal data: validated on construction, masked in ``repr``."""

    json_pattern: ClassVar[str] = ""
    json_description: ClassVar[str] = ""

    @classmethod
    def normalize(cls, value: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def parse(cls, value: str, *, field: str | None = None, record_id: str | None = None) -> Self:
        """Validate and normalise ``value``.

        :param field: the field the value came from, named in the error.
        :param record_id: the record it belongs to, named in the error.
        :raises InvalidValueError: with the reason (an :class:`~munivideo.errors.InvalidRecordError`
            and a ``ValueError``: pydantic reports it as the field's validation error).
        """
        try:
            if not isinstance(value, str):
                raise InvalidValueError(f"expected a string, got {type(value).__name__}")
            return cls(cls.normalize(value))
        except InvalidValueError as exc:
            if field is None and record_id is None:
                raise
            raise InvalidValueError(exc.message, field=field, record_id=record_id) from None

    def masked(self) -> str:  # pragma: no cover - overridden
        return "***"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked()!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls.parse,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out: JsonSchemaValue = {"type": "string", "description": cls.json_description}
        if cls.json_pattern:
            out["pattern"] = cls.json_pattern
        return out


def _stdnum_reason(exc: _stdnum_errors.ValidationError, what: str, size: str) -> str:
    if isinstance(exc, _stdnum_errors.InvalidLength):
        return f"a {what} has {size}"
    if isinstance(exc, _stdnum_errors.InvalidChecksum):
        return f"{what} check digits do not match"
    return f"a {what} has {size}, got other characters"


class Cpf(_PersonalStr):
    """Brazilian individual taxpayer id: 11 digits, check digits verified (python-stdnum),
    punctuation dropped."""

    json_pattern = r"^\d{11}$"
    json_description = "CPF as 11 digits (leading zeros kept), check digits valid"

    @classmethod
    def normalize(cls, value: str) -> str:
        """The 11-digit form of a CPF written with or without punctuation
        (``123.456.789-09`` -> ``12345678909``).

        :raises InvalidValueError: not 11 digits, one digit repeated (``111.111.111-11``, which
            passes the modulo-11 check but is never issued), or check digits that do not match
            (Receita Federal's modulo-11 rule, via python-stdnum). Pydantic reports it as a
            validation error of the field.
        """
        digits = _NON_DIGITS.sub("", value)
        if len(digits) != 11:
            raise InvalidValueError(f"a CPF has 11 digits, got {len(digits)}")
        if digits == digits[0] * 11:
            raise InvalidValueError("a CPF cannot repeat one digit eleven times")
        try:
            return str(_stdnum_cpf.validate(digits))
        except _stdnum_errors.ValidationError as exc:
            raise InvalidValueError(_stdnum_reason(exc, "CPF", "11 digits")) from None

    def masked(self) -> str:
        """``***.456.789-**``: what ``repr`` and logs show (see
        :func:`munivideo.redact.mask_cpf`)."""
        return mask_cpf(str.__str__(self))

    def formatted(self) -> str:
        """The usual written form, ``123.456.789-09`` (for documents and citizen-facing
        text; unmasked, so never for logs)."""
        d = str.__str__(self)
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


_CNPJ_PUNCTUATION = re.compile(r"[\s./-]")


class Cnpj(_PersonalStr):
    """Brazilian company id: 14 positions, check digits verified (python-stdnum).

    Numeric (``11.222.333/0001-81``) or alphanumeric as issued since July 2026
    (``12.ABC.345/01DE-35``: twelve positions ``0-9``/``A-Z`` and two numeric check digits).
    Punctuation is dropped and letters are upper-cased: ``str(cnpj)`` is the 14-character form.
    """

    json_pattern = r"^[0-9A-Z]{12}\d{2}$"
    json_description = (
        "CNPJ as 14 characters (12 digits or upper-case letters, then 2 check digits; "
        "leading zeros kept), check digits valid"
    )

    @classmethod
    def normalize(cls, value: str) -> str:
        """The 14-character form: spaces, dots, slash and dash dropped, letters upper-cased
        (``12.abc.345/01de-35`` -> ``12ABC34501DE35``).

        :raises InvalidValueError: not 14 characters, letters among the two check digits, one digit
            repeated, or check digits that do not match (Receita Federal's modulo-11 rule,
            Instrução Normativa RFB 2.229/2024 for the alphanumeric form, via python-stdnum).
        """
        compact = _CNPJ_PUNCTUATION.sub("", value).upper()
        if len(compact) != 14:
            raise InvalidValueError(f"a CNPJ has 14 characters, got {len(compact)}")
        if not re.fullmatch(r"[0-9A-Z]{12}\d{2}", compact):
            raise InvalidValueError(
                "a CNPJ has 12 digits or letters A-Z, then 2 check digits; got other characters"
            )
        if compact == compact[0] * 14:
            raise InvalidValueError("a CNPJ cannot repeat one digit fourteen times")
        try:
            return str(_stdnum_cnpj.validate(compact))
        except _stdnum_errors.ValidationError as exc:
            raise InvalidValueError(_stdnum_reason(exc, "CNPJ", "14 characters")) from None

    def masked(self) -> str:
        """``12.ABC.***/****-**``: the root's first five positions kept (see
        :func:`munivideo.redact.mask_cnpj`)."""
        return mask_cnpj(str.__str__(self))

    def formatted(self) -> str:
        """The usual written form, ``11.222.333/0001-81`` (or ``12.ABC.345/01DE-35``)."""
        d = str.__str__(self)
        return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


class PhoneKind(StrEnum):
    """What kind of line a number is, as the numbering plan says (libphonenumber)."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    #: Plans that do not tell the two apart (the US, Canada...): SMS is attempted.
    LANDLINE_OR_MOBILE = "landline_or_mobile"
    OTHER = "other"  #: toll-free, VoIP, pager...: no SMS


_PHONE_KINDS: dict[int, PhoneKind] = {
    PhoneNumberType.MOBILE: PhoneKind.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneKind.LANDLINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: PhoneKind.LANDLINE_OR_MOBILE,
}
_OBSOLETE_BR_MOBILE = re.compile(r"^[1-9][1-9][6-9]\d{7}$")


class Phone(_PersonalStr):
    """A phone number in E.164 (``+5551987654321``), validated with ``phonenumbers``.

    National forms (``(51) 98765-4321``, ``051 3484-1000``) are read as Brazilian. A number of
    another country needs its ``+`` prefix and is valid here; whether a tenant accepts it is
    the tenant's setting (:attr:`munivideo.models.Tenant.allow_foreign_phones`). An 8-digit
    Brazilian mobile (``(51) 9876-5432``, obsolete since 2016) is refused: add a 9 after the
    area code.
    """

    json_pattern = r"^\+[1-9]\d{6,14}$"
    json_description = "phone number in E.164 (+55 for Brazil)"

    @classmethod
    def normalize(cls, value: str) -> str:
        """The E.164 form (ITU-T E.164: ``+``, country code, national number; at most 15
        digits) of ``value``. Without ``+`` the number is read as Brazilian: a leading
        ``55``, the trunk ``0`` and a two-digit carrier selection code are dropped.

        :raises InvalidValueError: not a phone number, invalid for its country's numbering plan
            (libphonenumber's metadata), or an 8-digit Brazilian mobile (the ninth digit is
            mandatory since 2016; the message says to add it after the area code).
        """
        return phonenumbers.format_number(_parse_phone(value), PhoneNumberFormat.E164)

    def masked(self) -> str:
        """``+** ** *****-4321``: only the last four digits kept (see
        :func:`munivideo.redact.mask_phone`)."""
        return mask_phone(str.__str__(self))

    @property
    def region(self) -> str:
        """ISO 3166 country of the number (``BR``, ``PT``, ``US``...)."""
        number = phonenumbers.parse(str.__str__(self))
        return phonenumbers.region_code_for_number(number) or "ZZ"

    @property
    def is_brazilian(self) -> bool:
        """True for a ``+55`` number."""
        return str.__str__(self).startswith("+55")

    @property
    def kind(self) -> PhoneKind:
        """Mobile, landline, either (plans that cannot tell) or other."""
        number = phonenumbers.parse(str.__str__(self))
        return _PHONE_KINDS.get(phonenumbers.number_type(number), PhoneKind.OTHER)

    @property
    def is_mobile(self) -> bool:
        """True when SMS and WhatsApp can reach the number (mobile, or a plan that cannot
        tell mobiles from landlines)."""
        return self.kind in (PhoneKind.MOBILE, PhoneKind.LANDLINE_OR_MOBILE)


def _parse_phone(value: str) -> phonenumbers.PhoneNumber:
    text = value.strip()
    digits = _NON_DIGITS.sub("", text)
    if not text.startswith("+"):
        if len(digits) in (12, 13) and digits.startswith("55"):
            digits = digits[2:]  # 55 51 98765-4321 written without the plus
        digits = digits.lstrip("0")  # trunk prefix (051...) or carrier selection is not kept
        if len(digits) == 12:  # 0 + carrier code (2 digits) + area code + number
            digits = digits[2:]
        if _OBSOLETE_BR_MOBILE.match(digits):
            # The number itself stays out of the message: errors are redacted (personal data).
            raise InvalidValueError(
                "an 8-digit mobile number, obsolete since 2016: Brazilian mobiles have 9 "
                f"digits, add a 9 after the area code ({digits[:2]})"
            )
        text = f"+55{digits}"
    try:
        number = phonenumbers.parse(text, "BR")
    except phonenumbers.NumberParseException as exc:
        raise InvalidValueError(f"not a phone number: {exc}") from None
    if number.country_code == 55:
        national = str(number.national_number)
        if _OBSOLETE_BR_MOBILE.match(national):
            raise InvalidValueError(
                "an 8-digit Brazilian mobile number is obsolete since 2016: add the 9 "
                "after the area code"
            )
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise InvalidValueError(f"not a valid phone number for {region} (+{number.country_code})")
    return number


class Email(_PersonalStr):
    """An e-mail address, lowercased domain, one ``@``, no spaces or header-breaking characters."""

    json_pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    json_description = "e-mail address"
    _RE: ClassVar[re.Pattern[str]] = re.compile(
        r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    )

    @classmethod
    def normalize(cls, value: str) -> str:
        """``value`` stripped, its domain lower-cased (the local part is kept: RFC 5321 lets
        the receiving host treat it as case-sensitive).

        :raises InvalidValueError: more than 254 characters (RFC 5321's path limit less the angle
            brackets), not exactly one ``@``, a dotless domain, or characters outside RFC
            5322's ``atext`` (spaces, quotes, CR/LF that would break a mail header).
        """
        value = value.strip()
        if not cls._RE.match(value) or len(value) > 254:
            raise InvalidValueError("not a valid e-mail address")
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"

    def masked(self) -> str:
        """``j***@example.org``: the first character of the local part and the domain kept
        (see :func:`munivideo.redact.mask_email`)."""
        return mask_email(str.__str__(self))


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValueError("datetime must carry a time zone (naive local times are ambiguous)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
"""A tz-aware datetime, stored in UTC. Naive datetimes are refused."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``America/Manaus``); a :class:`ConfigurationError` naming
    ``tenant.timezone`` if the zone database does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {name!r}: use an IANA name such as America/Sao_Paulo",
            field="tenant.timezone",
        ) from None


def local(value: datetime, tz: ZoneInfo = SAO_PAULO) -> datetime:
    """Present a stored UTC datetime in the city's local time (America/Sao_Paulo by default)."""
    return _to_utc(value).astimezone(tz)


def localize(
    naive: datetime,
    tz: ZoneInfo | str = SAO_PAULO,
    *,
    field: str | None = None,
    record_id: str | None = None,
) -> datetime:
    """An ERP's naive local date-time read in the tenant's zone ``tz``, returned in UTC.

    A wall-clock time that the zone skipped (a DST gap: 2018-11-04 00:30 in Sao Paulo) or saw
    twice (an overlap: 2019-02-16 23:30) cannot be placed without guessing; it raises
    :class:`munivideo.errors.AmbiguousTimeError` naming ``field`` and ``record_id``, so the
    record is quarantined instead of shifted by an hour. An aware value is converted as is.
    """
    if naive.tzinfo is not None and naive.utcoffset() is not None:
        return naive.astimezone(UTC)
    where = zone(tz) if isinstance(tz, str) else tz
    first = naive.replace(tzinfo=where, fold=0)
    second = naive.replace(tzinfo=where, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(UTC).astimezone(where).replace(tzinfo=None)
        what = "does not exist (skipped by a DST change)" if back != naive else "happened twice"
        raise AmbiguousTimeError(
            f"local time {naive.isoformat(timespec='minutes')} in {where.key} {what}",
            record_id=record_id,
            field=field,
        )
    return first.astimezone(UTC)


def from_local(naive: datetime, tz: ZoneInfo = SAO_PAULO) -> datetime:
    """Interpret an ERP's naive local date-time in ``tz`` and return it in UTC (see
    :func:`localize`, which this calls: a DST gap or overlap raises
    :class:`munivideo.errors.AmbiguousTimeError`, a ``ValueError``)."""
    return localize(naive, tz)


def utcnow() -> datetime:
    """The current time, tz-aware in UTC: the engine's default clock (stores refuse naive
    times)."""
    return datetime.now(UTC)
