"""Mapping files: one TOML (or YAML) file describes an ERP dialect.

A dialect names, for each record kind, the ERP path of every canonical field, the converter
that crosses the boundary and the code table that translates codes. An ERP whose contract
differs only in names, formats and codes needs a new file, not new code.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from munivideo.errors import ConfigurationError
from munivideo.mapping.converters import CONVERTERS

UNKNOWN = "unknown"
"""What an ERP code missing from a strict code table maps to (the record is then rejected)."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CodeTable(_Spec):
    """Canonical code -> ERP code. ``passthrough`` lets unlisted codes through unchanged
    (subjects and departments often share codes); status tables are strict."""

    codes: dict[str, str] = Field(default_factory=dict)
    passthrough: bool = False

    @model_validator(mode="after")
    def _one_to_one(self) -> CodeTable:
        erp = list(self.codes.values())
        dupes = sorted({c for c in erp if erp.count(c) > 1})
        if dupes:
            raise ValueError(f"ERP codes used twice: {', '.join(dupes)}")
        return self


class FieldSpec(_Spec):
    """One canonical field and where it lives in the ERP record."""

    target: str = Field(min_length=1, description="canonical dotted path, e.g. citizen.name")
    path: str | list[str] = Field(description="ERP dotted path(s); list indexes are numbers")
    converter: str = "str"
    table: str | None = None
    required: bool = True
    date_format: str | None = None
    time_format: str | None = None

    @model_validator(mode="after")
    def _known(self) -> FieldSpec:
        if self.converter not in CONVERTERS:
            raise ValueError(
                f"unknown converter {self.converter!r} (known: {', '.join(sorted(CONVERTERS))})"
            )
        paths = [self.path] if isinstance(self.path, str) else self.path
        if len(paths) != CONVERTERS[self.converter].arity:
            raise ValueError(
                f"converter {self.converter!r} takes {CONVERTERS[self.converter].arity} path(s)"
            )
        return self

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)


class RecordSpec(_Spec):
    """How one record kind maps; ``id_path`` names the record in errors."""

    id_path: str | None = None
    fields: list[FieldSpec] = Field(default_factory=list)


class Dialect(_Spec):
    """A whole mapping file."""

    name: str = Field(min_length=1)
    description: str = ""
    timezone: str = "America/Sao_Paulo"
    date_format: str = "%Y-%m-%d"
    time_format: str = "%H:%M"
    tables: dict[str, CodeTable] = Field(default_factory=dict)
    records: dict[str, RecordSpec] = Field(default_factory=dict)
    #: Adapter-specific settings (endpoint paths, operation names): free-form.
    adapter: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tables_exist(self) -> Dialect:
        for kind, record in self.records.items():
            for spec in record.fields:
                if spec.table is not None and spec.table not in self.tables:
                    raise ValueError(
                        f"records.{kind}: field {spec.target} uses unknown table {spec.table!r}"
                    )
        return self

    def record(self, kind: str) -> RecordSpec:
        if kind not in self.records:
            raise ConfigurationError(
                f"dialect {self.name} has no mapping for {kind!r}", field=f"records.{kind}"
            )
        return self.records[kind]


def load_dialect(path: Path | str) -> Dialect:
    """Read a ``.toml``, ``.yaml`` or ``.yml`` mapping file; refuse it clearly when invalid."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read mapping file {path}: {exc.strerror}", field="mapping"
        ) from None
    try:
        if path.suffix == ".toml":
            raw: Any = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raise ConfigurationError(f"mapping file {path} must be .toml or .yaml", field="mapping")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            f"mapping file {path} is not valid: {exc}", field="mapping"
        ) from None
    try:
        return Dialect.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(
            f"mapping file {path}: {first['msg']}", field=where or "mapping"
        ) from None
