"""Contract tools for CI: validate recordings against a pack, check a published ERP contract,
diff two contract versions (WSDL/XSD or OpenAPI) for breaking changes.

See ``docs/contract-tools.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from munivideo.contract_tools.check import DiffResult, check_published, diff_files
    from munivideo.contract_tools.diff import Change, diff_models
    from munivideo.contract_tools.exceptions import (
        AcceptedException,
        apply_exceptions,
        load_exceptions,
    )
    from munivideo.contract_tools.model import (
        ContractModel,
        FieldShape,
        Flavor,
        Operation,
        Parameter,
    )
    from munivideo.contract_tools.rules import RULES, Severity
    from munivideo.contract_tools.sources import load_contract, pack_contract
    from munivideo.contract_tools.validate import (
        PackValidator,
        ValidationReport,
        Violation,
        validate_file,
    )

__all__ = [
    "RULES",
    "AcceptedException",
    "Change",
    "ContractModel",
    "DiffResult",
    "FieldShape",
    "Flavor",
    "Operation",
    "PackValidator",
    "Parameter",
    "Severity",
    "ValidationReport",
    "Violation",
    "apply_exceptions",
    "check_published",
    "diff_files",
    "diff_models",
    "load_contract",
    "load_exceptions",
    "pack_contract",
    "validate_file",
]

_HOME: dict[str, str] = {
    "DiffResult": "check",
    "check_published": "check",
    "diff_files": "check",
    "Change": "diff",
    "diff_models": "diff",
    "AcceptedException": "exceptions",
    "apply_exceptions": "exceptions",
    "load_exceptions": "exceptions",
    "ContractModel": "model",
    "FieldShape": "model",
    "Flavor": "model",
    "Operation": "model",
    "Parameter": "model",
    "RULES": "rules",
    "Severity": "rules",
    "load_contract": "sources",
    "pack_contract": "sources",
    "PackValidator": "validate",
    "ValidationReport": "validate",
    "Violation": "validate",
    "validate_file": "validate",
}
"""Where each public name lives: the package imports its modules (and their XML schema
machinery) only when a name is first used, so importing a light sibling module
(:mod:`munivideo.contract_tools.safexml`, which every SOAP adapter uses) stays light."""


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
