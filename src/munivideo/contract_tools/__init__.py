"""Contract tools for CI: validate recordings against a pack, check a published ERP contract,
diff two contract versions (WSDL/XSD or OpenAPI) for breaking changes.

See ``docs/contract-tools.md``.
"""

from __future__ import annotations

from munivideo.contract_tools.check import DiffResult, check_published, diff_files
from munivideo.contract_tools.diff import Change, diff_models
from munivideo.contract_tools.exceptions import AcceptedException, apply_exceptions, load_exceptions
from munivideo.contract_tools.model import ContractModel, FieldShape, Flavor, Operation, Parameter
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
