"""Accepted exceptions: a breaking change the team decided to live with, until a date.

The file (``contract-exceptions.yaml``, kept next to the pack or the new contract) reads::

    exceptions:
      - rule: response-enum-widened
        path: "GET /api/v1/agendamentos/response:200/itens[]/situacao"   # fnmatch patterns too
        reason: ERP 4.2 adds situacao EX; the mapping quarantines it until ticket 812 lands
        expires: 2026-06-30

An exception past its ``expires`` date no longer applies, so nothing is accepted forever.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from munivideo.contract_tools.diff import Change
from munivideo.contract_tools.rules import RULES
from munivideo.contract_tools.safeyaml import load_yaml
from munivideo.errors import ConfigurationError

FILE_NAME = "contract-exceptions.yaml"


class AcceptedException(BaseModel):
    """One entry of ``contract-exceptions.yaml``: a change the team decided to live with.

    :ivar rule: the rule id it accepts (a key of :data:`~munivideo.contract_tools.rules.RULES`;
        an unknown one is refused when loading).
    :ivar path: the change path it accepts, exactly or as an ``fnmatch`` pattern
        (``GET /api/v1/agendamentos/response:200/*``); case-sensitive.
    :ivar reason: why it is acceptable (at least 3 characters; shown in every report).
    :ivar expires: the last day (inclusive, local date) it applies.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    path: str = Field(min_length=1)
    reason: str = Field(min_length=3)
    expires: date

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        if value not in RULES:
            raise ValueError(f"unknown rule {value!r}")
        return value

    def matches(self, change: Change) -> bool:
        """Whether this exception covers ``change``: same rule, and the change's path matches
        :attr:`path` (``fnmatch.fnmatchcase``). The expiry date is not checked here
        (:func:`apply_exceptions` does)."""
        return change.rule == self.rule and fnmatch.fnmatchcase(change.path, self.path)


def load_exceptions(path: Path) -> list[AcceptedException]:
    """Read a ``contract-exceptions.yaml`` (the format in the module docstring), within the
    bounds of :mod:`munivideo.contract_tools.safeyaml` (size, aliases, depth).

    :param path: the file.
    :returns: every exception in file order, expired ones included; an empty file gives ``[]``.
    :raises ConfigurationError: the file cannot be read or is not safe YAML; ``exceptions`` is
        not a list; or an entry is invalid (``field="exceptions[<i>].<key>"``: unknown rule,
        empty path, short reason, an ``expires`` that is not a date, an unknown key).
    """
    raw = load_yaml(path, field="exceptions") or {}
    items = raw.get("exceptions", []) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ConfigurationError(f"{path}: 'exceptions' must be a list", field="exceptions")
    out = []
    for index, item in enumerate(items):
        try:
            out.append(AcceptedException.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(
                f"{path}: exception {index}: {first['msg']}",
                field=f"exceptions[{index}].{where}",
            ) from None
    return out


def find_exceptions_file(*near: Path) -> Path | None:
    """The first ``contract-exceptions.yaml`` in the folders of ``near`` (files or folders)."""
    for candidate in near:
        folder = candidate if candidate.is_dir() else candidate.parent
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    return None


def apply_exceptions(
    changes: list[Change], accepted: list[AcceptedException], *, today: date | None = None
) -> tuple[list[Change], list[AcceptedException]]:
    """``changes`` with accepted ones marked, and the exceptions that have expired."""
    today = today or date.today()
    live = [e for e in accepted if e.expires >= today]
    expired = [e for e in accepted if e.expires < today]
    out = []
    for change in changes:
        match = next((e for e in live if e.matches(change)), None)
        out.append(replace(change, accepted_reason=match.reason) if match else change)
    return out, expired
