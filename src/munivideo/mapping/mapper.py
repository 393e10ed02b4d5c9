"""The mapper: pure data shaping between ERP records and canonical models.

In the spirit of OCA connector's ``Mapper``: *direct* field pairs with converters (declared in
the mapping file) plus *code functions* for whatever a file cannot say. Both directions use the
same specs, so a dialect round-trips by construction (and the tests check it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from munivideo.error_catalogue import coded
from munivideo.errors import InvalidRecordError
from munivideo.mapping.converters import CONVERTERS, Context, Converter, _to_str
from munivideo.mapping.dialect import DEFAULT_ZONE, UNKNOWN, CodeTable, Dialect, FieldSpec
from munivideo.mapping.paths import _MISSING, Path, get_path, set_path, split_path

M = TypeVar("M", bound=BaseModel)
CodeFunction = Callable[[dict[str, Any], Mapping[str, Any]], None]
"""``fn(out, source)``: adjust ``out`` (the dict being built) from ``source`` in place."""

_split = split_path


class _Table:
    def __init__(self, name: str, table: CodeTable) -> None:
        self.name = name
        self.to_erp_map = dict(table.codes)
        self.to_canonical_map = {v: k for k, v in table.codes.items()}
        self.passthrough = table.passthrough

    def to_canonical(self, code: Any) -> str:
        code = str(code)
        found = self.to_canonical_map.get(code)
        if found is not None:
            return found
        return code if self.passthrough else UNKNOWN

    def to_erp(self, code: Any) -> str:
        code = str(code)
        found = self.to_erp_map.get(code)
        if found is not None:
            return found
        return code if self.passthrough else UNKNOWN


@dataclass(frozen=True)
class _Field:
    spec: FieldSpec
    target: Path  # () for an ERP-only constant
    paths: tuple[Path, ...]
    converter: Converter
    table: _Table | None
    ctx: Context
    erp_name: str  # the ERP path(s), as errors name the field


def _plain(path: Path) -> bool:
    return all(k.__class__ is str for k in path)


def _plan_item(f: _Field) -> tuple[Any, ...]:
    first = f.paths[0]
    spec = f.spec
    if spec.split is not None or spec.const is not None or spec.default is not None:
        how = 4
    elif len(f.paths) > 1:
        how = 3
    elif len(first) in (1, 2) and _plain(first):
        how = len(first)
    else:
        how = 0
    depth = len(f.target) if len(f.target) <= 2 and _plain(f.target) else 0
    return (
        f,
        how,
        first[0],
        first[1] if len(first) > 1 else None,
        f.paths,
        None if f.converter.to_canonical is _to_str else f.converter.to_canonical,
        f.ctx,
        f.table,
        f.spec.required,
        depth,
        f.target[0],
        f.target[1] if len(f.target) > 1 else None,
    )


_TRUE = frozenset({"true", "1", "s", "sim", "y", "yes"})
_FALSE = frozenset({"false", "0", "n", "nao", "não", "no"})


def _typed(value: Any, erp_type: str, kind: str, target: str | None) -> Any:
    """``value`` as the JSON type the ERP field has (``FieldSpec.erp_type``)."""
    try:
        if erp_type == "str":
            return str(getattr(value, "value", value))
        if erp_type == "int":
            if isinstance(value, bool):
                raise ValueError("a boolean is not an integer")
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        if erp_type == "float":
            return float(value)
        if erp_type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError(f"{value!r} is not a boolean")
        # decimal_comma
        return format(Decimal(str(value)), "f").replace(".", ",")
    except (ValueError, ArithmeticError) as exc:
        raise InvalidRecordError(f"{kind}: cannot send {erp_type}: {exc}", field=target) from None


class Mapper(Generic[M]):
    """Maps one record kind of a dialect to ``model`` and back.

    :param functions_in: code functions run after the direct fields, ERP -> canonical.
    :param functions_out: code functions run after the direct fields, canonical -> ERP.
    :param prepare_out: functions that add derived canonical values before mapping out.
    :param aliases: canonical paths set by code functions -> the declared target they come
        from (so a validation error still names the ERP field).
    :param timezone: the tenant's zone, for naive ERP times when the dialect names none.
    """

    def __init__(
        self,
        dialect: Dialect,
        kind: str,
        model: type[M],
        *,
        functions_in: Sequence[CodeFunction] = (),
        functions_out: Sequence[CodeFunction] = (),
        prepare_out: Sequence[Callable[[dict[str, Any]], None]] = (),
        aliases: Mapping[str, str] | None = None,
        timezone: str | None = None,
    ) -> None:
        spec = dialect.record(kind)
        tz = ZoneInfo(dialect.timezone or timezone or DEFAULT_ZONE)
        tables = {name: _Table(name, t) for name, t in dialect.tables.items()}
        self.kind = kind
        self.model = model
        self.dialect = dialect
        self.tz = tz
        self.id_path = _split(spec.id_path) if spec.id_path else None
        self.functions_in = tuple(functions_in)
        self.functions_out = tuple(functions_out)
        self.prepare_out = tuple(prepare_out)
        self.fields = tuple(
            _Field(
                spec=f,
                target=_split(f.target) if f.target else (),
                paths=tuple(_split(p) for p in f.paths),
                converter=CONVERTERS[f.converter],
                table=tables[f.table] if f.table else None,
                ctx=Context(
                    tz,
                    f.date_format
                    or (f.format if f.converter == "date" else None)
                    or dialect.date_format,
                    f.time_format or dialect.time_format,
                    f.format,
                ),
                erp_name="+".join(f.paths),
            )
            for f in spec.fields
        )
        self._erp_name = {f.spec.target: f.erp_name for f in self.fields if f.spec.target}
        # The hot loop reads plain tuples rather than attributes.
        self._plan = tuple(
            _plan_item(f) for f in self.fields if f.target and f.spec.direction != "out"
        )
        self._out = tuple(f for f in self.fields if f.spec.direction != "in")
        for alias, declared in (aliases or {}).items():
            if declared in self._erp_name:
                self._erp_name[alias] = self._erp_name[declared]

    # -- ERP -> canonical -------------------------------------------------------------------

    def record_id(self, record: Mapping[str, Any]) -> str:
        """The ERP record's id at the record spec's ``id_path``, as text, for error messages
        and the quarantine; ``"?"`` when the spec names no path or the record lacks it."""
        if self.id_path is None:
            return "?"
        value = get_path(record, self.id_path)
        return "?" if value is _MISSING or value is None else str(value)

    def _field_error(
        self, record: Mapping[str, Any], field: _Field, reason: str
    ) -> InvalidRecordError:
        return coded(
            InvalidRecordError,
            "record.invalid_field",
            record_id=self.record_id(record),
            field=field.erp_name,
            kind=self.kind,
            detail=reason,
        )

    def to_canonical_dict(
        self, record: Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The canonical dict (not yet validated); raises :class:`InvalidRecordError`."""
        out: dict[str, Any] = dict(extra) if extra else {}
        is_dict = record.__class__ is dict
        for field, how, k0, k1, paths, convert, ctx, table, required, depth, t0, t1 in self._plan:
            # how: 1/2 = one/two plain keys (dict.get), 0 = general walk, 3 = several paths.
            if how == 1 and is_dict:
                raw: Any = record.get(k0, _MISSING)
            elif how == 2 and is_dict:
                inner = record.get(k0)
                raw = inner.get(k1, _MISSING) if inner.__class__ is dict else _MISSING
                if raw is _MISSING and inner is not None and inner.__class__ is not dict:
                    raw = get_path(record, paths[0])
            elif how == 3:
                raw = tuple(get_path(record, p) for p in paths)
            elif how == 4:
                raw = self._read_special(record, field)
            else:
                raw = get_path(record, paths[0])
            if how == 3:
                absent = any(v is _MISSING or v is None for v in raw)
            else:
                absent = raw is _MISSING or raw is None
            if absent:
                if required:
                    raise self._field_error(record, field, "required field is missing")
                continue
            try:
                value = (
                    raw
                    if convert is None and raw.__class__ is str
                    else ((convert or _to_str)(raw, ctx))
                )
            except ValueError as exc:
                raise self._field_error(record, field, str(exc)) from None
            if table is not None:
                code = value
                value = table.to_canonical(code)
                if value == UNKNOWN:
                    raise self._field_error(
                        record,
                        field,
                        f"unknown {table.name} code {str(code)!r} maps to {UNKNOWN!r} "
                        f"(known: {', '.join(sorted(table.to_canonical_map))})",
                    )
            if depth == 1:
                out[t0] = value
            elif depth == 2:
                holder = out.get(t0)
                if holder is None:
                    holder = out[t0] = {}
                holder[t1] = value
            else:
                set_path(out, field.target, value)
        for fn in self.functions_in:
            fn(out, record)
        return out

    def _read_special(self, record: Mapping[str, Any], field: _Field) -> Any:
        """A field with a constant, a default, or one part of a composite value."""
        spec = field.spec
        if spec.const is not None:
            return spec.const
        raw = get_path(record, field.paths[0])
        if (raw is _MISSING or raw is None) and spec.default is not None:
            return spec.default
        if spec.split is not None and raw is not _MISSING and raw is not None:
            parts = str(raw).split(spec.split)
            if len(parts) <= spec.part:
                raise self._field_error(
                    record,
                    field,
                    f"expected a value with {spec.part + 1} part(s) split by {spec.split!r}",
                )
            return parts[spec.part]
        return raw

    def to_canonical(self, record: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> M:
        """The validated canonical model; raises :class:`InvalidRecordError` naming the record
        id and the ERP field."""
        data = self.to_canonical_dict(record, extra)
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise self._validation_error(self.record_id(record), exc) from None

    def _validation_error(self, rid: str, exc: ValidationError) -> InvalidRecordError:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        field = self._erp_name_for(loc)
        return coded(
            InvalidRecordError,
            "record.invalid_field",
            record_id=rid,
            field=field,
            kind=self.kind,
            detail=first["msg"],
        )

    def _erp_name_for(self, canonical: str) -> str:
        """The ERP field behind a canonical path (longest declared prefix), else the path."""
        probe = canonical
        while probe:
            if probe in self._erp_name:
                return self._erp_name[probe]
            probe = probe.rpartition(".")[0]
        # A model-level check (e.g. "end after start") has no single field: name the model's.
        return canonical or self.kind

    # -- canonical -> ERP -------------------------------------------------------------------

    def to_erp(self, model: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
        """The ERP record for a canonical model (or a canonical dict).

        :raises munivideo.errors.InvalidRecordError: a required field is missing, a code has
            no ERP value in its table, or a value cannot take its ``erp_type`` (the field is
            the canonical path).
        """
        source: dict[str, Any] = model.model_dump() if isinstance(model, BaseModel) else dict(model)
        for prepare in self.prepare_out:
            prepare(source)
        out: dict[str, Any] = {}
        composite: dict[Path, dict[int, str]] = {}
        for field in self._out:
            spec = field.spec
            if spec.const is not None:
                value: Any = spec.const
            else:
                value = get_path(source, field.target)
                if (value is _MISSING or value is None) and spec.default is not None:
                    value = spec.default
                if value is _MISSING or value is None:
                    if spec.required:
                        raise InvalidRecordError(
                            f"{self.kind}: required field is missing",
                            record_id=str(source.get("id", "?")),
                            field=spec.target,
                        )
                    continue
                if field.table is not None:
                    code = value
                    value = field.table.to_erp(getattr(code, "value", code))
                    if value == UNKNOWN:
                        raise InvalidRecordError(
                            f"{self.kind}: no ERP code for {field.table.name} {str(code)!r}",
                            field=spec.target,
                        )
                value = field.converter.to_erp(value, field.ctx)
            if field.converter.arity != 1:
                for path, piece in zip(field.paths, value, strict=True):
                    set_path(out, path, piece)
                continue
            if spec.erp_type is not None:
                value = _typed(value, spec.erp_type, self.kind, spec.target)
            if spec.split is not None:
                composite.setdefault(field.paths[0], {})[spec.part] = str(value)
                continue
            set_path(out, field.paths[0], value)
        for path, pieces in composite.items():
            sep = next(f.spec.split for f in self._out if f.paths[0] == path and f.spec.split)
            set_path(out, path, sep.join(pieces[i] for i in sorted(pieces)))
        for fn in self.functions_out:
            fn(out, source)
        return out
