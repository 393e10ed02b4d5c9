"""``munivideo config check [--probe]``: what a tenant file gets wrong, by field.

Without ``--probe`` nothing leaves the machine: the file is validated, every ERP adapter it
names is built (its mapping file loaded and checked: unknown operations and placeholders, bad
date formats, incomplete paging, WSDL operations that do not exist) and closed again, and the
write-back's timing is checked as the write-back itself checks it: ``[writeback]
lease_seconds`` must outlast the worst-case ERP call the adapter's ``timeouts`` and ``retry``
allow (:func:`munivideo.engine.leases.timing`).

With ``--probe`` every adapter is built and the ERP gets a read-only round trip: the first page
of changed bookings, one booking read again and shown field by field, its status read back,
and, when the ERP is declared to have one (``capabilities.lookup_by_external_reference``), a
lookup of an external reference that cannot exist: it must find nothing, and a refusal (404, 405,
501, "unknown operation") is reported as the write-back would meet it, a
:class:`~munivideo.errors.CapabilityMismatchError` naming that setting.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from munivideo.config import TenantConfig, load_config
from munivideo.engine.leases import timing
from munivideo.engine.writeback import lookup_setting
from munivideo.erp_sources import build_erp
from munivideo.errors import MunivideoError
from munivideo.models import Applicant, Citizen, Servant
from munivideo.plugins import Plugins
from munivideo.ports import ErpAdapter
from munivideo.redact import mask_name, redact
from munivideo.transport.classify import lookup_failure


@dataclass
class Problem:
    """One thing wrong: the step that found it, the field it names, what happened."""

    step: str
    message: str
    field: str | None = None
    record_id: str | None = None

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        record = f" (record {self.record_id})" if self.record_id else ""
        return f"{self.step}{where}{record}: {self.message}"


@dataclass
class Report:
    """What ``config check`` found for one file."""

    file: str
    config: TenantConfig | None = None
    problems: list[Problem] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``config check --json`` prints)."""
        return {
            "file": self.file,
            "ok": self.ok,
            "error": vars(self.problems[0]) if self.problems else None,
            "problems": [vars(p) for p in self.problems],
            "steps": self.steps,
            "booking_fields": self.fields,
            "config": self.config.redacted() if self.config else None,
        }


def _problem(step: str, exc: MunivideoError) -> Problem:
    return Problem(step, exc.message, exc.field, exc.record_id)


_MASKED = re.compile(r"^\w+\('(.*)'\)$")


def shown(value: Any) -> str:
    """A value as the probe prints it: personal data masked (value types mask their repr)."""
    if isinstance(value, str) and type(value) is not str:
        masked = _MASKED.match(repr(value))
        if masked:
            return masked.group(1)
    return redact(str(getattr(value, "value", value)))


#: Models whose ``name`` is a person's: the probe prints it masked (LGPD art. 6 III,
#: data minimisation), as the console does, next to the masked CPF, e-mail and phone.
_PEOPLE = (Citizen, Servant, Applicant)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, _PEOPLE) and value.name:
        out[f"{prefix}.name" if prefix else "name"] = redact(mask_name(value.name))
    if isinstance(value, BaseModel):
        for key in type(value).model_fields:
            if not (key == "name" and isinstance(value, _PEOPLE)):
                _flatten(f"{prefix}.{key}" if prefix else key, getattr(value, key), out)
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif value is not None:
        out[prefix] = shown(value)


def check_file(path: Path, plugins: Plugins, *, probe: bool) -> Report:
    """Check one tenant file; with ``probe`` make the read-only round trip to its ERP."""
    report = Report(str(path))
    try:
        config = report.config = load_config(path)
        plugins.video_provider(config.video.provider)
        for notifier in config.notifiers:
            plugins.notifier(notifier.name)
        erp = build_erp(plugins, config.tenant, config.erp)
    except MunivideoError as exc:
        report.problems.append(_problem("configuration", exc))
        return report
    try:
        report.steps.append(f"erp adapter {erp.name} built")
        try:
            timing(erp, config.writeback)  # what the write-back refuses, refused here first
        except MunivideoError as exc:
            report.problems.append(_problem("configuration", exc))
            return report
        if probe:
            _build_others(config, plugins, report)
            _round_trip(erp, report, lookup_setting(config.erp))
    finally:
        erp.close()
    return report


def _build_others(config: TenantConfig, plugins: Plugins, report: Report) -> None:
    try:
        plugins.video_provider(config.video.provider)(config.tenant, config.video.settings)
        report.steps.append(f"video provider {config.video.provider} built")
        for notifier in config.notifiers:
            plugins.notifier(notifier.name)(config.tenant, notifier.settings)
            report.steps.append(f"notifier {notifier.name} built")
    except MunivideoError as exc:
        report.problems.append(_problem("build", exc))


def _round_trip(erp: ErpAdapter, report: Report, setting: str) -> None:
    try:
        page = erp.list_bookings(None, 5)
    except MunivideoError as exc:
        report.problems.append(_problem("list_bookings", exc))
        return
    report.steps.append(
        f"first page: {len(page.bookings)} bookings, {len(page.rejected)} rejected, "
        f"more: {'yes' if page.has_more else 'no'}"
    )
    for rejected in page.rejected:
        report.problems.append(
            Problem("list_bookings", rejected.reason, rejected.field, rejected.record_id)
        )
    if page.bookings:
        first = page.bookings[0]
        try:
            booking = erp.get_booking(first.id)
            _flatten("", booking, report.fields)
            report.steps.append(f"booking {booking.id} read and mapped field by field:")
            report.steps += [f"  {name} = {value}" for name, value in report.fields.items()]
            status = erp.read_booking_status(booking.id)
            if status is not booking.status:
                report.problems.append(
                    Problem(
                        "read_booking_status",
                        f"status read back as {status.value}, booking says {booking.status.value}",
                        "status",
                        booking.id,
                    )
                )
        except MunivideoError as exc:
            report.problems.append(_problem("get_booking", exc))
    if not erp.capabilities.lookup_by_external_reference:
        report.steps.append(f"lookup by external reference not declared ({setting}): not probed")
        return
    reference = f"munivideo:probe:{secrets.token_hex(8)}"
    try:
        found = erp.find_protocol(reference)
    except MunivideoError as exc:
        # what the write-back would make of it: a refusal names the setting that declared it
        error = lookup_failure(exc, setting=setting, record_id=reference)
        report.problems.append(_problem("find_protocol", error))
        return
    if found is not None:
        report.problems.append(
            Problem(
                "find_protocol",
                f"the ERP answered protocol {found.number}/{found.year} for a reference that "
                "does not exist: the lookup ignores its filter, so it cannot prove a create "
                "landed",
                "operations.find_protocol",
                reference,
            )
        )
    else:
        report.steps.append("lookup of an unknown reference found nothing")
