"""Diff and check reports as text, JSON or JUnit XML (for CI test-report panes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from xml.etree.ElementTree import Element, SubElement, tostring

from munivideo.contract_tools.diff import Change
from munivideo.contract_tools.exceptions import AcceptedException
from munivideo.contract_tools.rules import Severity

FORMATS = ("text", "json", "junit")


def summary(changes: Sequence[Change]) -> dict[str, int]:
    """Counts for the last line of a report: ``breaking`` (not accepted), ``accepted``,
    ``warning`` and ``info`` (by severity, accepted ones included)."""
    return {
        "breaking": sum(1 for c in changes if c.breaking),
        "accepted": sum(1 for c in changes if c.accepted_reason is not None),
        "warning": sum(1 for c in changes if c.severity is Severity.WARNING),
        "info": sum(1 for c in changes if c.severity is Severity.INFO),
    }


def render_text(
    title: str, changes: Sequence[Change], expired: Sequence[AcceptedException] = ()
) -> str:
    """The human report (``--format text``): the title, one line per change (``BREAKING``,
    ``WARNING``, ``INFO`` or ``ACCEPTED`` with its reason), one per expired exception, then the
    :func:`summary` line; ends with a newline.

    :param title: the first line (``contract diff: OLD -> NEW``,
        ``contract check: pack PACK against URL``).
    :param changes: as :func:`~munivideo.contract_tools.diff.diff_models` orders them.
    :param expired: exceptions past their date.
    """
    lines = [title]
    for change in changes:
        label = "ACCEPTED" if change.accepted_reason else change.severity.value.upper()
        lines.append(f"  {label:<8} {change.rule:<32} {change.path}: {change.message}")
        if change.accepted_reason:
            lines.append(f"           accepted: {change.accepted_reason}")
    for exc in expired:
        lines.append(f"  EXPIRED  exception {exc.rule} {exc.path} (expired {exc.expires})")
    counts = summary(changes)
    lines.append(
        f"{counts['breaking']} breaking, {counts['accepted']} accepted, "
        f"{counts['warning']} warnings, {counts['info']} other changes"
    )
    return "\n".join(lines) + "\n"


def render_json(
    title: str, changes: Sequence[Change], expired: Sequence[AcceptedException] = ()
) -> str:
    """The machine report (``--format json``), indented UTF-8 JSON::

    {"title": ..., "summary": {"breaking": 1, ...},
     "changes": [Change.to_dict(), ...], "expired_exceptions": [{"rule", "path", ...}]}
    """
    return (
        json.dumps(
            {
                "title": title,
                "summary": summary(changes),
                "changes": [c.to_dict() for c in changes],
                "expired_exceptions": [e.model_dump(mode="json") for e in expired],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def render_junit(
    title: str, changes: Sequence[Change], expired: Sequence[AcceptedException] = ()
) -> str:
    """One test case per change; breaking ones fail, accepted ones are skipped with the reason."""
    suite = Element(
        "testsuite",
        name=title,
        tests=str(max(len(changes), 1)),
        failures=str(sum(1 for c in changes if c.breaking)),
        skipped=str(sum(1 for c in changes if c.accepted_reason)),
        errors="0",
    )
    if not changes:
        SubElement(suite, "testcase", classname="contract", name="no changes")
    for change in changes:
        case = SubElement(suite, "testcase", classname=change.rule, name=change.path)
        if change.breaking:
            failure = SubElement(case, "failure", type=change.rule, message=change.message)
            failure.text = f"{change.severity.value}: {change.message}"
        elif change.accepted_reason:
            SubElement(case, "skipped", message=f"accepted: {change.accepted_reason}")
        else:
            out = SubElement(case, "system-out")
            out.text = f"{change.severity.value}: {change.message}"
    for exc in expired:
        case = SubElement(suite, "testcase", classname="expired-exception", name=exc.path)
        SubElement(case, "system-out").text = f"exception for {exc.rule} expired {exc.expires}"
    suites = Element("testsuites")
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(suites, encoding="unicode") + "\n"


def render(
    fmt: str, title: str, changes: Sequence[Change], expired: Sequence[AcceptedException] = ()
) -> str:
    """The report in ``fmt``: ``text`` (:func:`render_text`), ``json`` (:func:`render_json`) or
    ``junit`` (:func:`render_junit`, JUnit XML for CI test panes).

    :raises KeyError: ``fmt`` is not one of :data:`FORMATS` (the CLI restricts the choice).
    """
    renderer = {"text": render_text, "json": render_json, "junit": render_junit}[fmt]
    return renderer(title, changes, expired)
