"""The declarative mapping engine: ERP records <-> canonical models, driven by mapping files.

See ``docs/mapping.md``.
"""

from __future__ import annotations

from munivideo.mapping.converters import CONVERTERS, Context, Converter
from munivideo.mapping.dialect import (
    UNKNOWN,
    CodeTable,
    Dialect,
    FieldSpec,
    RecordSpec,
    load_dialect,
)
from munivideo.mapping.documents import join_document, split_document
from munivideo.mapping.erp import ErpMappers, RoomLink
from munivideo.mapping.mapper import CodeFunction, Mapper
from munivideo.mapping.paths import get_path, set_path, split_path, value_at

__all__ = [
    "CONVERTERS",
    "UNKNOWN",
    "CodeFunction",
    "CodeTable",
    "Context",
    "Converter",
    "Dialect",
    "ErpMappers",
    "FieldSpec",
    "Mapper",
    "RecordSpec",
    "RoomLink",
    "get_path",
    "join_document",
    "load_dialect",
    "set_path",
    "split_document",
    "split_path",
    "value_at",
]
