"""Masking of personal data and secrets in text meant for logs, errors and reprs."""

from __future__ import annotations

import logging
import re

from stdnum.br import cnpj as _stdnum_cnpj

_CPF = re.compile(r"(?<!\d)(\d{3})\.?(\d{3})\.?(\d{3})-?(\d{2})(?!\d)")
_CNPJ = re.compile(r"(?<!\d)(\d{2})\.?(\d{3})\.?(\d{3})/?(\d{4})-?(\d{2})(?!\d)")
# Alphanumeric CNPJ (since July 2026): written with its punctuation it is masked as is; written
# compact (14 characters) only when its check digits hold, so other ids are left readable.
_CNPJ_ALNUM_FORMATTED = re.compile(
    r"(?<![0-9A-Za-z])([0-9A-Za-z]{2})\.([0-9A-Za-z]{3})\.([0-9A-Za-z]{3})/([0-9A-Za-z]{4})-(\d{2})"
    r"(?![0-9A-Za-z])"
)
_CNPJ_ALNUM_COMPACT = re.compile(
    r"(?<![0-9A-Za-z])(?=[0-9A-Z]*[A-Z])([0-9A-Z]{12}\d{2})(?![0-9A-Za-z])"
)
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
_SECRET_KV = re.compile(
    r"(?i)\b(password|passwd|secret|client_secret|token|access_token|api[_-]?key|jwt|"
    r"authorization|checksum)(\"?\s*[:=]\s*\"?|=)(bearer\s+|basic\s+)?([^\s\"'&,;}]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def mask_cpf(digits: str) -> str:
    """``12345678909`` -> ``***.456.789-**``: enough to tell two people apart, not to identify."""
    return f"***.{digits[3:6]}.{digits[6:9]}-**" if len(digits) == 11 else "***"


def mask_cnpj(digits: str) -> str:
    """Company ids are public in Brazil, but we still hide the branch and check digits
    (numeric or alphanumeric: ``12ABC34501DE35`` -> ``12.ABC.***/****-**``)."""
    return f"{digits[:2]}.{digits[2:5]}.***/****-**" if len(digits) == 14 else "***"


def _mask_alnum_cnpj(match: re.Match[str]) -> str:
    compact = "".join(match.groups()) if match.lastindex and match.lastindex > 1 else match[0]
    if match.re is _CNPJ_ALNUM_COMPACT and not _stdnum_cnpj.is_valid(compact):
        return match[0]
    return mask_cnpj(compact.upper())


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"+** ** *****-{digits[-4:]}" if len(digits) >= 8 else "***"


def redact(text: str) -> str:
    """Mask CPF/CNPJ, e-mail addresses, bearer tokens, JWTs and ``secret=...`` pairs in text."""
    text = _JWT.sub("<jwt>", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} <redacted>", text)
    text = _SECRET_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}<redacted>", text)
    text = _CNPJ.sub(lambda m: mask_cnpj("".join(m.groups())), text)
    text = _CNPJ_ALNUM_FORMATTED.sub(_mask_alnum_cnpj, text)
    text = _CNPJ_ALNUM_COMPACT.sub(_mask_alnum_cnpj, text)
    text = _CPF.sub(lambda m: mask_cpf("".join(m.groups())), text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks personal data and secrets in every record it passes.

    Installed on the ``munivideo`` logger by :func:`install_log_redaction`; integrators can add
    it to their own handlers too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


def install_log_redaction(logger_name: str = "munivideo") -> None:
    """Make every record logged under ``logger_name`` pass through :class:`RedactingFilter`."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
