"""Mapping files: one TOML (or YAML) file describes an ERP dialect.

A dialect names, for each record kind, the ERP path of every canonical field, the converter
that crosses the boundary and the code table that translates codes. An ERP whose contract
differs only in names, formats and codes needs a new file, not new code.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from munivideo.errors import ConfigurationError
from munivideo.mapping.converters import CONVERTERS
from munivideo.mapping.errors_spec import ErrorSpec
from munivideo.mapping.formats import check_format
from munivideo.mapping.operations import OperationSpec, PagingSpec

DEFAULT_ZONE = "America/Sao_Paulo"
"""The zone of naive ERP times when neither the mapping nor the tenant names one."""

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


ErpType = Literal["str", "int", "bool", "float", "decimal_comma"]


class FieldSpec(_Spec):
    """One canonical field and where it lives in the ERP record.

    ``target`` is the canonical dotted path; it may be left out for an ERP-only ``const``
    (a value every outgoing record carries). ``split`` + ``part`` read one piece of a composite
    ERP value (``"1234/2026"`` with ``split = "/"``: part 0 is 1234, part 1 is 2026) and, on the
    way out, join the pieces of every field naming the same path. ``erp_type`` is the JSON type
    the value has in the ERP (``int``: a code table's ``"2"`` goes out as ``2``).
    """

    target: str | None = Field(
        default=None, min_length=1, description="canonical dotted path, e.g. citizen.name"
    )
    path: str | list[str] = Field(description="ERP dotted path(s); list indexes are numbers")
    converter: str = "str"
    table: str | None = None
    required: bool = True
    date_format: str | None = None
    time_format: str | None = None
    format: str | None = Field(
        default=None,
        description="converter-specific: a strftime pattern (datetime, date), or 'formatted' / "
        "'digits' (cpf, cnpj, cpf_cnpj)",
    )
    erp_type: ErpType | None = None
    split: str | None = Field(default=None, min_length=1)
    part: int = Field(default=0, ge=0)
    const: str | int | float | bool | None = None
    default: str | int | float | bool | None = None
    direction: Literal["both", "in", "out"] = "both"

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
        if self.target is None and self.const is None:
            raise ValueError(f"field at {self.path}: set target, or const for an ERP-only value")
        if self.split is not None and len(paths) != 1:
            raise ValueError("split works on one path")
        if self.date_format is not None:
            check_format(self.date_format, "date")
        if self.time_format is not None:
            check_format(self.time_format, "time")
        if self.format is not None:
            if self.converter in ("cpf", "cnpj", "cpf_cnpj"):
                if self.format not in ("formatted", "digits"):
                    raise ValueError("format of a CPF/CNPJ is 'formatted' or 'digits'")
            elif self.converter == "date":
                check_format(self.format, "date")
            elif self.converter == "datetime":
                check_format(self.format, "datetime")
            else:
                raise ValueError(f"converter {self.converter!r} takes no format")
        return self

    @property
    def paths(self) -> list[str]:
        """``path`` as a list: one ERP path for most converters, several for a converter that
        reads more than one (a date and a time in two ERP fields); the length is the
        converter's arity, checked when the file loads."""
        return [self.path] if isinstance(self.path, str) else list(self.path)


class RecordSpec(_Spec):
    """How one record kind maps; ``id_path`` names the record in errors."""

    id_path: str | None = None
    fields: list[FieldSpec] = Field(default_factory=list)


class Dialect(_Spec):
    """A whole mapping file: one ERP dialect, shared by every tenant whose ERP speaks it.

    ``tables`` are the code tables (ERP code <-> canonical value, e.g. ``statuses``),
    ``records`` say where each canonical field lives in each ERP record kind, ``operations``
    and ``paging`` how a configuration-driven adapter calls the ERP, ``errors`` how it reads
    the ERP's error bodies. ``date_format`` and ``time_format`` (strftime) are the defaults of
    every date/time field. Validated on load: every table a field names exists, formats and
    the zone are valid (see :func:`load_dialect`). The guide is docs/mapping.md.
    """

    name: str = Field(min_length=1)
    description: str = ""
    #: The zone the ERP's naive times are in; None (the default): the tenant's zone.
    timezone: str | None = None
    date_format: str = "%Y-%m-%d"
    time_format: str = "%H:%M"
    tables: dict[str, CodeTable] = Field(default_factory=dict)
    records: dict[str, RecordSpec] = Field(default_factory=dict)
    #: How each port operation is called (method, path, query, body, ...): see
    #: :class:`munivideo.mapping.operations.OperationSpec`.
    operations: dict[str, OperationSpec] = Field(default_factory=dict)
    #: How the ERP pages its changed bookings.
    paging: PagingSpec | None = None
    #: How the ERP writes its errors (None: the reference contracts' problem/falha bodies).
    errors: ErrorSpec | None = None
    #: Adapter-specific settings (endpoint paths, operation names): free-form.
    adapter: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tables_exist(self) -> Dialect:
        check_format(self.date_format, "date")
        check_format(self.time_format, "time")
        try:
            ZoneInfo(self.timezone or DEFAULT_ZONE)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        for name, op in self.operations.items():
            try:
                op.check(name)
            except ValueError as exc:
                raise ValueError(f"operations.{name}: {exc}") from None
            for kind in (op.body, op.result_record):
                if kind is not None and kind not in self.records:
                    raise ValueError(f"operations.{name}: no records.{kind} in this mapping")
        for kind, record in self.records.items():
            for spec in record.fields:
                if spec.table is not None and spec.table not in self.tables:
                    raise ValueError(
                        f"records.{kind}: field {spec.target} uses unknown table {spec.table!r}"
                    )
        return self

    def record(self, kind: str) -> RecordSpec:
        """The ``[records.<kind>]`` table (``booking``, ``protocol``, ``receipt``, ...).

        :raises munivideo.errors.ConfigurationError: the file maps no such record (field
            ``records.<kind>``).
        """
        if kind not in self.records:
            raise ConfigurationError(
                f"dialect {self.name} has no mapping for {kind!r}", field=f"records.{kind}"
            )
        return self.records[kind]


def load_dialect(path: Path | str) -> Dialect:
    """Read a ``.toml``, ``.yaml`` or ``.yml`` mapping file; refuse it clearly when invalid.

    :raises munivideo.errors.ConfigurationError: the file cannot be read, does not parse, or
        fails validation (unknown converter, table or zone, a bad date format, ...); the
        message names the file, the field names the offending key.
    """
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
        message = str(first["msg"])
        # A whole-file check names its own place: "Value error, operations.x: ..."
        named = _NAMED.match(message)
        if named and not where:
            where, message = named.group(1), named.group(2)
        message = message.removeprefix("Value error, ")
        raise ConfigurationError(
            f"mapping file {path}: {message}", field=where or "mapping"
        ) from None


_NAMED = re.compile(
    r"^Value error, ((?:operations|records|tables|paging|errors)[\w.]*): (.*)$", re.S
)
