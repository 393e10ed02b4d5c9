"""The compatibility rules: one id per rule, its severity, and what it means.

Direction matters. A request is what *we* send: the published contract must still accept it, so
anything that makes it accept less (a removed field, a new required field, a narrowed enum) is
breaking. A response is what *we* read: the published contract must still promise what we rely on,
so a removed or now-optional field is breaking, and new enum values are a warning (our mapping
may not know them). Patterns are compared by the values they accept
(:mod:`munivideo.contract_tools.patterns`): a request pattern that accepts more is compatible,
one that refuses values it accepted is breaking; a response pattern that allows values the old
one refused is breaking (a client that validates answers, or stores them in a column shaped by
the old pattern, fails on them: e.g. an alphanumeric CNPJ where 14 digits were promised).
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How much a change matters to our adapter: ``breaking`` (it may stop working: CI fails
    unless an exception accepts it), ``warning`` (it may misread something: look at it),
    ``info`` (compatible)."""

    BREAKING = "breaking"
    WARNING = "warning"
    INFO = "info"


RULES: dict[str, tuple[Severity, str]] = {
    "operation-removed": (Severity.BREAKING, "an operation (or REST path+method) was removed"),
    "operation-added": (Severity.INFO, "a new operation"),
    "request-field-removed": (Severity.BREAKING, "a request field we may send was removed"),
    "request-field-added-required": (Severity.BREAKING, "a new required request field"),
    "request-field-added-optional": (Severity.INFO, "a new optional request field"),
    "request-field-became-required": (Severity.BREAKING, "an optional request field is required"),
    "request-field-became-optional": (Severity.INFO, "a required request field is optional"),
    "request-type-changed": (Severity.BREAKING, "a request field no longer accepts its type"),
    "request-type-widened": (Severity.INFO, "a request field accepts more types"),
    "request-enum-narrowed": (Severity.BREAKING, "a request enum lost values"),
    "request-enum-widened": (Severity.INFO, "a request enum gained values"),
    "request-enum-added": (Severity.BREAKING, "a request field is now restricted to an enum"),
    "request-pattern-narrowed": (Severity.BREAKING, "a request field's pattern refuses values"),
    "request-pattern-widened": (Severity.INFO, "a request field's pattern accepts more values"),
    "request-pattern-changed": (
        Severity.WARNING,
        "a request field's pattern changed in a way that cannot be compared",
    ),
    "request-body-became-required": (Severity.BREAKING, "the request body is now required"),
    "response-field-removed": (Severity.BREAKING, "a response field we read was removed"),
    "response-field-became-optional": (Severity.BREAKING, "a required response field is optional"),
    "response-field-added": (Severity.INFO, "a new response field"),
    "response-field-became-required": (Severity.INFO, "an optional response field is required"),
    "response-type-changed": (Severity.BREAKING, "a response field may have another type"),
    "response-type-narrowed": (Severity.INFO, "a response field has fewer possible types"),
    "response-enum-widened": (Severity.WARNING, "a response enum gained values we may not map"),
    "response-enum-narrowed": (Severity.INFO, "a response enum lost values"),
    "response-enum-removed": (Severity.WARNING, "a response field is no longer an enum"),
    "response-pattern-widened": (
        Severity.BREAKING,
        "a response field may hold values its old pattern refused",
    ),
    "response-pattern-narrowed": (Severity.INFO, "a response field's pattern allows fewer values"),
    "response-pattern-changed": (
        Severity.WARNING,
        "a response field's pattern changed in a way that cannot be compared",
    ),
    "response-status-removed": (Severity.BREAKING, "a success status was removed"),
    "response-error-status-removed": (Severity.WARNING, "an error status was removed"),
    "response-status-added": (Severity.WARNING, "a new status we may not classify"),
    "parameter-removed": (Severity.BREAKING, "a parameter we may send was removed"),
    "parameter-added-required": (Severity.BREAKING, "a new required parameter"),
    "parameter-added-optional": (Severity.INFO, "a new optional parameter"),
    "parameter-became-required": (Severity.BREAKING, "an optional parameter is required"),
    "parameter-became-optional": (Severity.INFO, "a required parameter is optional"),
    "parameter-type-changed": (Severity.BREAKING, "a parameter no longer accepts its type"),
    "parameter-enum-narrowed": (Severity.BREAKING, "a parameter enum lost values"),
}


def severity_of(rule: str) -> Severity:
    """The severity :data:`RULES` gives ``rule``.

    :raises KeyError: ``rule`` is not a rule id.
    """
    return RULES[rule][0]
