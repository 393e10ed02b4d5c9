"""Breaking and non-breaking changes between two versions of a contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from munivideo.contract_tools.model import ContractModel, FieldShape, Flavor, Operation
from munivideo.contract_tools.patterns import Relation, compare
from munivideo.contract_tools.rules import RULES, Severity, severity_of
from munivideo.errors import ConfigurationError


@dataclass(frozen=True)
class Change:
    """One difference. ``path`` is ``operation`` or ``operation/where/field`` (``where`` is
    ``request``, ``response:<status>`` or ``parameter``)."""

    rule: str
    severity: Severity
    path: str
    message: str
    accepted_reason: str | None = None

    @property
    def breaking(self) -> bool:
        """Breaking severity and no live accepted exception for it (an accepted change is
        reported, but does not fail CI)."""
        return self.severity is Severity.BREAKING and self.accepted_reason is None

    def to_dict(self) -> dict[str, object]:
        """The change as JSON-ready data (``--format json``): ``rule``, ``severity`` (its
        value), ``path``, ``message``, ``accepted_reason`` (``None`` unless accepted) and the
        computed ``breaking``."""
        data = asdict(self)
        data["severity"] = self.severity.value
        data["breaking"] = self.breaking
        return data


def _change(rule: str, path: str, message: str) -> Change:
    assert rule in RULES, rule
    return Change(rule=rule, severity=severity_of(rule), path=path, message=message)


def _fmt(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _topmost(paths: set[str]) -> list[str]:
    """Paths whose ancestors are not in ``paths`` (a removed parent reports once)."""

    def ancestors(path: str) -> Iterable[str]:
        parts = path.split("/")
        for i in range(1, len(parts)):
            yield "/".join(parts[:i])

    return sorted(p for p in paths if not any(a in paths for a in ancestors(p)))


def _member_requirement(a: FieldShape, b: FieldShape) -> list[tuple[bool, str]]:
    """Requirement changes inside ``oneOf``/``anyOf`` members: (added?, members), reported
    only when the parent's own ``required`` did not change (that is reported already)."""
    if a.required != b.required:
        return []
    out = []
    if a.required_in - b.required_in:
        out.append((False, _fmt(a.required_in - b.required_in)))
    if b.required_in - a.required_in:
        out.append((True, _fmt(b.required_in - a.required_in)))
    return out


def _pattern_change(
    side: str, at: str, path: str, a: FieldShape, b: FieldShape, flavor: Flavor
) -> list[Change]:
    """The pattern rule for field ``path`` (at ``at``), from the values the two patterns
    accept (no pattern: any string).

    ``side`` is ``request`` (we send it: fewer accepted values is breaking) or ``response``
    (we read it: more possible values is breaking for a client that checks them)."""
    if a.pattern == b.pattern:
        return []
    was = f"{path} pattern {a.pattern!r} -> {b.pattern!r}"
    found = compare(a.pattern, b.pattern, flavor)
    if found.relation is Relation.EQUAL:
        return []
    if found.relation is Relation.UNKNOWN:
        return [_change(f"{side}-pattern-changed", at, f"{was} (not comparable)")]
    if side == "request":
        if found.relation is Relation.WIDER:
            msg = f"{was}: also accepts e.g. {found.gained!r}"
            return [_change("request-pattern-widened", at, msg)]
        msg = f"{was}: no longer accepts e.g. {found.lost!r}"
        return [_change("request-pattern-narrowed", at, msg)]
    if found.relation is Relation.NARROWER:
        msg = f"{was}: no longer answers e.g. {found.lost!r}"
        return [_change("response-pattern-narrowed", at, msg)]
    msg = f"{was}: may answer e.g. {found.gained!r}"
    return [_change("response-pattern-widened", at, msg)]


def _compare_request(
    where: str, old: dict[str, FieldShape], new: dict[str, FieldShape], flavor: Flavor
) -> list[Change]:
    out: list[Change] = []
    for path in _topmost(set(old) - set(new)):
        out.append(_change("request-field-removed", f"{where}/{path}", f"field {path} removed"))
    for path in _topmost(set(new) - set(old)):
        rule = (
            "request-field-added-required" if new[path].required else "request-field-added-optional"
        )
        out.append(_change(rule, f"{where}/{path}", f"field {path} added"))
    for path in sorted(set(old) & set(new)):
        a, b = old[path], new[path]
        at = f"{where}/{path}"
        if not a.required and b.required:
            out.append(_change("request-field-became-required", at, f"{path} is now required"))
        elif a.required and not b.required:
            out.append(_change("request-field-became-optional", at, f"{path} is now optional"))
        for added, members in _member_requirement(a, b):
            rule = "request-field-became-required" if added else "request-field-became-optional"
            state = "now required" if added else "no longer required"
            out.append(_change(rule, at, f"{path} is {state} in {members}"))
        if a.types != b.types and "any" not in b.types:
            if a.types <= b.types:
                msg = f"{path} accepts {_fmt(b.types)} (was {_fmt(a.types)})"
                out.append(_change("request-type-widened", at, msg))
            else:
                msg = f"{path} type {_fmt(a.types)} -> {_fmt(b.types)}"
                out.append(_change("request-type-changed", at, msg))
        if a.enum is not None and b.enum is not None:
            if a.enum - b.enum:
                msg = f"{path} no longer accepts {_fmt(a.enum - b.enum)}"
                out.append(_change("request-enum-narrowed", at, msg))
            if b.enum - a.enum:
                msg = f"{path} also accepts {_fmt(b.enum - a.enum)}"
                out.append(_change("request-enum-widened", at, msg))
        elif a.enum is None and b.enum is not None:
            msg = f"{path} only accepts {_fmt(b.enum)}"
            out.append(_change("request-enum-added", at, msg))
        out += _pattern_change("request", at, path, a, b, flavor)
    return out


def _compare_response(
    where: str, old: dict[str, FieldShape], new: dict[str, FieldShape], flavor: Flavor
) -> list[Change]:
    out: list[Change] = []
    for path in _topmost(set(old) - set(new)):
        out.append(_change("response-field-removed", f"{where}/{path}", f"field {path} removed"))
    for path in _topmost(set(new) - set(old)):
        out.append(_change("response-field-added", f"{where}/{path}", f"field {path} added"))
    for path in sorted(set(old) & set(new)):
        a, b = old[path], new[path]
        at = f"{where}/{path}"
        if a.required and not b.required:
            out.append(_change("response-field-became-optional", at, f"{path} may be absent"))
        elif not a.required and b.required:
            out.append(_change("response-field-became-required", at, f"{path} always present"))
        for added, members in _member_requirement(a, b):
            rule = "response-field-became-required" if added else "response-field-became-optional"
            state = "always present" if added else "may be absent"
            out.append(_change(rule, at, f"{path} {state} in {members}"))
        if a.types != b.types and "any" not in a.types:
            if b.types <= a.types:
                msg = f"{path} type {_fmt(a.types)} -> {_fmt(b.types)}"
                out.append(_change("response-type-narrowed", at, msg))
            else:
                msg = f"{path} may be {_fmt(b.types - a.types)} (was {_fmt(a.types)})"
                out.append(_change("response-type-changed", at, msg))
        if a.enum is not None and b.enum is not None:
            if b.enum - a.enum:
                msg = f"{path} may answer {_fmt(b.enum - a.enum)}"
                out.append(_change("response-enum-widened", at, msg))
            if a.enum - b.enum:
                msg = f"{path} no longer answers {_fmt(a.enum - b.enum)}"
                out.append(_change("response-enum-narrowed", at, msg))
        elif a.enum is not None and b.enum is None:
            msg = f"{path} is no longer limited to {_fmt(a.enum)}"
            out.append(_change("response-enum-removed", at, msg))
        out += _pattern_change("response", at, path, a, b, flavor)
    return out


def _compare_operation(old: Operation, new: Operation, flavor: Flavor) -> list[Change]:
    key = old.key
    out = _compare_request(f"{key}/request", old.request, new.request, flavor)
    if not old.request_body_required and new.request_body_required:
        out.append(_change("request-body-became-required", f"{key}/request", "body now required"))
    for status in sorted(set(old.responses) - set(new.responses)):
        rule = (
            "response-status-removed"
            if status.startswith("2") or status == "output"
            else "response-error-status-removed"
        )
        out.append(_change(rule, f"{key}/response:{status}", f"status {status} removed"))
    for status in sorted(set(new.responses) - set(old.responses)):
        if status != "default":
            msg = f"status {status} added"
            out.append(_change("response-status-added", f"{key}/response:{status}", msg))
    for status in sorted(set(old.responses) & set(new.responses)):
        where = f"{key}/response:{status}"
        out += _compare_response(where, old.responses[status], new.responses[status], flavor)
    for name in sorted(set(old.parameters) - set(new.parameters)):
        out.append(_change("parameter-removed", f"{key}/parameter/{name}", f"{name} removed"))
    for name in sorted(set(new.parameters) - set(old.parameters)):
        rule = (
            "parameter-added-required"
            if new.parameters[name].required
            else "parameter-added-optional"
        )
        out.append(_change(rule, f"{key}/parameter/{name}", f"{name} added"))
    for name in sorted(set(old.parameters) & set(new.parameters)):
        a, b = old.parameters[name], new.parameters[name]
        at = f"{key}/parameter/{name}"
        if not a.required and b.required:
            out.append(_change("parameter-became-required", at, f"{name} is now required"))
        elif a.required and not b.required:
            out.append(_change("parameter-became-optional", at, f"{name} is now optional"))
        if a.types != b.types and not a.types <= b.types and "any" not in b.types:
            msg = f"{name} type {_fmt(a.types)} -> {_fmt(b.types)}"
            out.append(_change("parameter-type-changed", at, msg))
        if a.enum is not None and b.enum is not None and a.enum - b.enum:
            msg = f"{name} no longer accepts {_fmt(a.enum - b.enum)}"
            out.append(_change("parameter-enum-narrowed", at, msg))
    return out


def diff_models(old: ContractModel, new: ContractModel) -> list[Change]:
    """Every change from ``old`` to ``new``, breaking first."""
    if old.flavor is not new.flavor:
        raise ConfigurationError(
            f"cannot compare a {old.flavor.value} contract with a {new.flavor.value} one",
            field="contract",
        )
    changes: list[Change] = []
    for key in sorted(set(old.operations) - set(new.operations)):
        label = old.operations[key].label
        msg = f"operation {label} removed" + (f" ({key})" if label != key else "")
        changes.append(_change("operation-removed", key, msg))
    for key in sorted(set(new.operations) - set(old.operations)):
        changes.append(_change("operation-added", key, f"operation {new.operations[key].label}"))
    for key in sorted(set(old.operations) & set(new.operations)):
        changes += _compare_operation(old.operations[key], new.operations[key], old.flavor)
    order = {Severity.BREAKING: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(changes, key=lambda c: (order[c.severity], c.path, c.rule))
