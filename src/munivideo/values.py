"""Brazilian value types and time helpers used by the canonical models.

CPF, CNPJ, phone and e-mail are ``str`` subclasses: ``str(cpf)`` is the plain digit string the
ERP wants (leading zeros kept), while ``repr(cpf)`` is masked so personal data never reaches logs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from munivideo.redact import mask_cnpj, mask_cpf, mask_email, mask_phone

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
_NON_DIGITS = re.compile(r"\D")


def cpf_check_digits(base9: str) -> str:
    """The two check digits of a CPF from its first nine digits (modulo 11)."""
    digits = [int(c) for c in base9]
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_start, 1, -1), strict=False))
        rest = total % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return f"{digits[-2]}{digits[-1]}"


def cnpj_check_digits(base12: str) -> str:
    """The two check digits of a CNPJ from its first twelve digits (modulo 11)."""
    digits = [int(c) for c in base12]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        total = sum(d * w for d, w in zip(digits, weights, strict=True))
        rest = total % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return f"{digits[-2]}{digits[-1]}"


class _PersonalStr(str):
    """A string holding personal data: validated on construction, masked in ``repr``."""

    json_pattern: ClassVar[str] = ""
    json_description: ClassVar[str] = ""

    @classmethod
    def normalize(cls, value: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def parse(cls, value: str) -> Self:
        """Validate and normalise ``value``; raises ``ValueError`` with a reason."""
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return cls(cls.normalize(value))

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


class Cpf(_PersonalStr):
    """Brazilian individual taxpayer id: 11 digits, check digits verified, punctuation dropped."""

    json_pattern = r"^\d{11}$"
    json_description = "CPF as 11 digits (leading zeros kept), check digits valid"

    @classmethod
    def normalize(cls, value: str) -> str:
        digits = _NON_DIGITS.sub("", value)
        if len(digits) != 11:
            raise ValueError(f"a CPF has 11 digits, got {len(digits)}")
        if digits == digits[0] * 11:
            raise ValueError("a CPF cannot repeat one digit eleven times")
        if cpf_check_digits(digits[:9]) != digits[9:]:
            raise ValueError("CPF check digits do not match")
        return digits

    def masked(self) -> str:
        return mask_cpf(str.__str__(self))

    def formatted(self) -> str:
        d = str.__str__(self)
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


class Cnpj(_PersonalStr):
    """Brazilian company id: 14 digits, check digits verified, punctuation dropped."""

    json_pattern = r"^\d{14}$"
    json_description = "CNPJ as 14 digits (leading zeros kept), check digits valid"

    @classmethod
    def normalize(cls, value: str) -> str:
        digits = _NON_DIGITS.sub("", value)
        if len(digits) != 14:
            raise ValueError(f"a CNPJ has 14 digits, got {len(digits)}")
        if digits == digits[0] * 14:
            raise ValueError("a CNPJ cannot repeat one digit fourteen times")
        if cnpj_check_digits(digits[:12]) != digits[12:]:
            raise ValueError("CNPJ check digits do not match")
        return digits

    def masked(self) -> str:
        return mask_cnpj(str.__str__(self))

    def formatted(self) -> str:
        d = str.__str__(self)
        return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


class Phone(_PersonalStr):
    """A Brazilian phone number in E.164 (``+5551987654321``).

    Accepts national forms (``(51) 98765-4321``, ``051987654321``) and adds the country code.
    """

    json_pattern = r"^\+55\d{10,11}$"
    json_description = "Brazilian phone number in E.164"

    @classmethod
    def normalize(cls, value: str) -> str:
        digits = _NON_DIGITS.sub("", value)
        if value.strip().startswith("+"):
            if not digits.startswith("55"):
                raise ValueError("only Brazilian numbers (+55) are supported")
            digits = digits[2:]
        elif len(digits) in (12, 13) and digits.startswith("55"):
            digits = digits[2:]
        digits = digits.lstrip("0")
        if len(digits) not in (10, 11):
            raise ValueError(f"a phone number has area code plus 8 or 9 digits, got {len(digits)}")
        if digits[0] == "0" or digits[1] == "0":
            raise ValueError("invalid area code")
        if len(digits) == 11 and digits[2] != "9":
            raise ValueError("an 11-digit mobile number starts with 9 after the area code")
        return f"+55{digits}"

    def masked(self) -> str:
        return mask_phone(str.__str__(self))

    @property
    def is_mobile(self) -> bool:
        return len(self) == 14


class Email(_PersonalStr):
    """An e-mail address, lowercased domain, one ``@``, no spaces or header-breaking characters."""

    json_pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    json_description = "e-mail address"
    _RE: ClassVar[re.Pattern[str]] = re.compile(
        r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    )

    @classmethod
    def normalize(cls, value: str) -> str:
        value = value.strip()
        if not cls._RE.match(value) or len(value) > 254:
            raise ValueError("not a valid e-mail address")
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"

    def masked(self) -> str:
        return mask_email(str.__str__(self))


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a time zone (naive local times are ambiguous)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
"""A tz-aware datetime, stored in UTC. Naive datetimes are refused."""


def local(value: datetime, tz: ZoneInfo = SAO_PAULO) -> datetime:
    """Present a stored UTC datetime in the city's local time (America/Sao_Paulo by default)."""
    return _to_utc(value).astimezone(tz)


def from_local(naive: datetime, tz: ZoneInfo = SAO_PAULO) -> datetime:
    """Interpret an ERP's naive local date-time in ``tz`` and return it in UTC."""
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
