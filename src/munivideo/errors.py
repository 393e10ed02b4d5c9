"""One error tree, split by what the caller should do next.

Every error names the record and the field it is about, so an operator can find the record in the
ERP and fix it. Messages pass through :func:`munivideo.redact.redact` so secrets and personal data
never leak into logs or tracebacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from munivideo.redact import redact


class Recovery(StrEnum):
    """What to do with a failed unit of work."""

    RETRY = "retry"  #: transient: try again later, the work was surely not done
    REJECT = "reject"  #: the peer refused it: retrying will not help, fix the data
    CONTRACT = "contract"  #: a peer broke the contract: a developer must look
    CONFIGURE = "configure"  #: our own configuration is wrong: an operator must fix it


class MunivideoError(Exception):
    """Base of every error raised by munivideo.

    :param message: what went wrong, in plain words.
    :param record_id: the id of the record concerned (booking id, protocol reference, ...).
    :param field: the field of that record concerned, dotted for nested fields.
    """

    recovery: Recovery = Recovery.REJECT
    #: A stable id of the reason (``writeback.unverifiable_create``, ``erp.failure``, ...) when
    #: the message comes from :data:`munivideo.error_catalogue.REASONS`, which renders it in
    #: pt-BR or English from :attr:`params`; None for a message not in the catalogue.
    code: str | None = None
    #: The values the catalogue's template is filled with (redacted text).
    params: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self, message: str, *, record_id: str | None = None, field: str | None = None
    ) -> None:
        self.message = redact(message)
        self.record_id = record_id
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.record_id is not None:
            where.append(f"record {self.record_id!s}")
        if self.field is not None:
            where.append(f"field {self.field!s}")
        prefix = f"[{', '.join(where)}] " if where else ""
        return f"{prefix}{self.message}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly view for ``--json`` output, the outbox and the quarantine
        (``code`` and ``params`` when the reason is in the catalogue)."""
        return {
            "type": type(self).__name__,
            "recovery": self.recovery.value,
            "record_id": self.record_id,
            "field": self.field,
            "message": self.message,
            "code": self.code,
            "params": dict(self.params),
        }


class TransientError(MunivideoError):
    """The work was surely not done (connect refused, 429, 503): retry later.

    :param retry_after: seconds the peer asked us to wait, when it said so.
    """

    recovery = Recovery.RETRY

    def __init__(
        self,
        message: str,
        *,
        record_id: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, record_id=record_id, field=field)


class AmbiguousError(TransientError):
    """The request may or may not have been processed (read timeout, reset after send, 502/504).

    Retrying is only safe with an idempotency key the peer honours, or after looking the record
    up by its external reference.
    """


class RejectedError(MunivideoError):
    """The peer (or our validation) refused the record; retrying the same data will not help."""

    recovery = Recovery.REJECT


class InvalidRecordError(RejectedError):
    """A record failed validation. It is quarantined with this reason, never dropped."""


class InvalidValueError(InvalidRecordError, ValueError):
    """A value that :mod:`munivideo.values` refuses: a CPF or CNPJ whose check digits do not
    match, a phone number outside its numbering plan, a malformed e-mail address, a datetime
    without a zone. ``field`` and ``record_id`` name where it came from when the caller said
    (``Cpf.parse(value, field="cpf")``).

    Also a ``ValueError``, so pydantic reports it as the field's validation error and mapping
    converters as a field error, as before it was typed."""


class AmbiguousTimeError(InvalidValueError):
    """A naive local time that the tenant's zone skipped or saw twice (a DST change): it cannot
    be placed without guessing, so the record is quarantined naming the field.

    Also a ``ValueError`` (an :class:`InvalidValueError`), so mapping converters report it as a
    field error."""


class PackCannotCarryError(RejectedError):
    """A value the ERP's contract has no way to carry, so it was not sent: an applicant with an
    alphanumeric CNPJ (Instrução Normativa RFB nº 2.229/2024) for an ERP on the ``v1`` reference
    packs, whose ``CpfCnpj`` is 11 or 14 digits. Sending it would only be refused, and sending it
    again would be refused forever, so the outbox keeps the row as a dead letter with this
    reason (``record_id`` the booking, ``field`` the canonical field, e.g. ``applicant.cnpj``),
    and the rows behind it go on. Replay it once the ERP speaks a contract that carries the
    value (``pack_version = "v2"``).

    :param contract: the pack that cannot carry the value (``erp-rest/v1``).
    """

    def __init__(
        self,
        message: str,
        *,
        contract: str | None = None,
        record_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.contract = contract
        super().__init__(message, record_id=record_id, field=field)


class LifecycleError(RejectedError):
    """A status change that the booking lifecycle does not allow."""


class VetoedError(RejectedError):
    """A plugin's event hook refused the record."""


class UnauthenticatedError(RejectedError):
    """A caller (a webhook) did not prove who it is: nothing it sent is kept or read."""


class NotFoundError(RejectedError):
    """The peer has no record with this id."""


class ContractViolationError(MunivideoError):
    """A peer sent something its contract does not allow (or we were about to)."""

    recovery = Recovery.CONTRACT


class StalledSyncError(ContractViolationError):
    """The ERP's paging did not move forward: the same cursor again, a cursor already seen in
    this run, or an empty page that says there is more. The sync stops rather than spin."""


class ConfigurationError(MunivideoError):
    """Our own configuration is wrong or incomplete."""

    recovery = Recovery.CONFIGURE


class CapabilityMismatchError(ConfigurationError):
    """The ERP refuses something the tenant's configuration says it can do - a lookup by
    external reference declared in ``capabilities`` that the ERP answers 404, 405, 501 or
    "unknown operation". Not transient: retrying asks again what the ERP does not offer, so
    the row is a dead letter and ``field`` names the setting an operator must fix (e.g.
    ``erp.settings.capabilities.lookup_by_external_reference``); ``record_id`` is the record
    that met it."""


class PluginError(ConfigurationError):
    """A plugin failed to load, registered something invalid, or crashed in a hook."""
