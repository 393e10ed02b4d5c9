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
# ``name=value`` pairs whose name ends in a secret-looking word: ``password=``, ``shared_secret=``,
# ``moderatorPW=`` (BBB), ``senha:``, ``X-API-Key: ...``.
_SECRET_KV = re.compile(
    r"(?i)\b([\w-]*?(?:password|passwd|passwort|senha|pwd|pw|secret|token|api[_-]?key|jwt|"
    r"authorization|checksum|credential|private[_-]?key))(\"?\s*[:=]\s*\"?|=)"
    r"(bearer\s+|basic\s+)?([^\s\"'&,;}<]+)"
)
# Phone numbers in free text: Brazilian forms (+55, (51) 98765-4321, 51 9876-5432) and E.164.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\s?55[\s.-]?)?(?:\(\d{2}\)\s?|\d{2}[\s.-])?9?\d{4}[\s.-]\d{4}(?![\w-])"
    r"|(?<![\w+])\+\d{10,14}(?!\d)"
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
    """``joana.silva@example.org`` -> ``j***@example.org``: the domain says which provider,
    not who; ``***`` when ``value`` has no ``@``."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str) -> str:
    """``+5551987654321`` (any punctuation) -> ``+** ** *****-4321``: the last four digits, as
    a receipt shows a card's; ``***`` when ``value`` has fewer than 8 digits."""
    digits = re.sub(r"\D", "", value)
    return f"+** ** *****-{digits[-4:]}" if len(digits) >= 8 else "***"


def mask_name(name: str) -> str:
    """``Maria Aparecida dos Santos`` -> ``Maria A. d. S.``: the first name and initials, enough
    for the person who knows the case to recognise, not to copy; ``***`` when ``name`` is blank."""
    first, *rest = name.split() or ["***"]
    return " ".join([first, *(f"{part[0]}." for part in rest)])


def redact(text: str) -> str:
    """Mask CPF/CNPJ, phone numbers, e-mail addresses, bearer tokens, JWTs and ``secret=...``
    pairs (any name ending in password, secret, token, key, pw, ...) in text."""
    text = _JWT.sub("<jwt>", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} <redacted>", text)
    text = _SECRET_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}<redacted>", text)
    text = _CNPJ.sub(lambda m: mask_cnpj("".join(m.groups())), text)
    text = _CNPJ_ALNUM_FORMATTED.sub(_mask_alnum_cnpj, text)
    text = _CNPJ_ALNUM_COMPACT.sub(_mask_alnum_cnpj, text)
    text = _CPF.sub(lambda m: mask_cpf("".join(m.groups())), text)
    text = _PHONE.sub(lambda m: mask_phone(m[0]), text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks personal data and secrets in every record it passes
    (message, arguments and the formatted traceback). Integrators can add it to any handler;
    :func:`install_log_redaction` makes it a guarantee for the loggers munivideo drives."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place (see :func:`scrub`) and let it pass: always ``True``,
        the filter masks and never drops."""
        scrub(record)
        return True


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Redact ``record`` in place (once): the message with its arguments, and its traceback."""
    if getattr(record, "_mv_redacted", False):
        return record
    if record.args:
        try:
            record.msg = record.getMessage()
        except (TypeError, ValueError):
            record.msg = f"{record.msg} {record.args!r}"
        record.args = None
    record.msg = redact(str(record.msg))
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    setattr(record, "_mv_redacted", True)  # noqa: B010 - a marker on a foreign object
    return record


REDACTED_LOGGERS = ("munivideo", "zeep", "urllib3", "requests", "smtplib", "jinja2")
"""Logger names (and their children) whose records are always redacted: ours and the
third-party libraries munivideo drives (zeep logs whole SOAP envelopes at DEBUG, urllib3 the
URLs with BBB meeting passwords)."""


def install_log_redaction(logger_name: str = "munivideo") -> None:
    """Redact every record of :data:`REDACTED_LOGGERS` (and ``logger_name``) whatever handler
    emits it, including handlers added later and child loggers (``munivideo.engine.*``).

    Done at record creation (:func:`logging.setLogRecordFactory`, wrapping the factory in
    place), so no handler, formatter or propagation path sees the unredacted text. Idempotent.
    """
    previous = logging.getLogRecordFactory()
    names = tuple(sorted({*REDACTED_LOGGERS, logger_name}))
    if getattr(previous, "_mv_redacting", None) == names:
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if any(record.name == n or record.name.startswith(n + ".") for n in names):
            scrub(record)
        return record

    factory._mv_redacting = names  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    logger = logging.getLogger(logger_name)  # kept for code that looks for the filter
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
