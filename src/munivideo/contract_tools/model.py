"""A contract reduced to what compatibility depends on: operations, their fields and parameters.

WSDL/XSD and OpenAPI documents are both flattened into this shape, so one set of diff rules
serves SOAP and REST alike. A field is addressed by its slash-separated path from the request or
response root (``protocolo/requerentes/requerente/cpfCnpj``; ``[]`` marks JSON array items).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Flavor(StrEnum):
    """Which kind of contract: ``soap`` (WSDL 1.1 / XSD) or ``rest`` (OpenAPI 3.x or
    Swagger 2.0). Two contracts compare only within one flavor."""

    SOAP = "soap"
    REST = "rest"


@dataclass(frozen=True)
class FieldShape:
    """One field: its type name(s), whether its parent requires it, and its constraints.

    ``required_in`` names the ``oneOf[i]``/``anyOf[i]`` members of the parent that require the
    field (JSON Schema alternatives: the parent as a whole does not)."""

    path: str
    types: frozenset[str]
    required: bool
    enum: frozenset[str] | None = None
    pattern: str | None = None
    required_in: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Parameter:
    """A REST parameter (``query:limite``, ``header:idempotency-key``, ``path:id``)."""

    key: str
    required: bool
    types: frozenset[str]
    enum: frozenset[str] | None = None


@dataclass
class Operation:
    """One operation. ``key`` is what identifies it across versions: the SOAP operation name,
    or ``METHOD /path`` for REST (``label`` then carries the operationId)."""

    key: str
    label: str
    request: dict[str, FieldShape] = field(default_factory=dict)
    responses: dict[str, dict[str, FieldShape]] = field(default_factory=dict)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    request_body_required: bool = False


@dataclass
class ContractModel:
    """A whole contract, flattened for comparison.

    :ivar flavor: SOAP or REST.
    :ivar source: the file it was read from.
    :ivar operations: operations by :attr:`Operation.key`.
    """

    flavor: Flavor
    source: str
    operations: dict[str, Operation] = field(default_factory=dict)

    def find(self, name: str) -> Operation | None:
        """An operation by key or by label (operationId)."""
        if name in self.operations:
            return self.operations[name]
        return next((op for op in self.operations.values() if op.label == name), None)
