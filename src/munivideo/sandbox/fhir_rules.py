"""What the sandbox FHIR server accepts: fhir.resources validation plus the required bindings
that library does not check (it accepts any code where FHIR binds a closed value set).

fhir.resources is an optional dependency (extra ``fhir``); it is imported on first use, so the
SOAP/REST sandbox runs without it.
"""

from __future__ import annotations

from typing import Any

from munivideo.sandbox.fhir_store import FhirError, Resource

RESOURCE_TYPES: tuple[str, ...] = (
    "Appointment",
    "Slot",
    "Schedule",
    "Patient",
    "Practitioner",
    "HealthcareService",
    "Encounter",
    "Consent",
    "DocumentReference",
    "ServiceRequest",
)
"""The resource types the sandbox FHIR server serves."""

REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Appointment", "status"): frozenset(
        {
            "proposed",
            "pending",
            "booked",
            "arrived",
            "fulfilled",
            "cancelled",
            "noshow",
            "entered-in-error",
            "checked-in",
            "waitlist",
        }
    ),
    ("Appointment", "participant.status"): frozenset(
        {"accepted", "declined", "tentative", "needs-action"}
    ),
    ("Slot", "status"): frozenset(
        {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
    ),
    ("Encounter", "status"): frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Consent", "status"): frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
}
"""FHIR R4 required bindings (value sets) the server enforces, by (type, element path)."""


def _values(node: Any, path: list[str]) -> list[Any]:
    nodes = [node]
    for part in path:
        nxt: list[Any] = []
        for n in nodes:
            value = n.get(part) if isinstance(n, dict) else None
            nxt += value if isinstance(value, list) else ([] if value is None else [value])
        nodes = nxt
    return nodes


def check_codes(resource: Resource) -> None:
    """Refuse a code outside a required value set (422, naming the element)."""
    type_ = resource.get("resourceType")
    for (rtype, path), allowed in REQUIRED_CODES.items():
        if rtype != type_:
            continue
        for value in _values(resource, path.split(".")):
            if value not in allowed:
                raise FhirError(
                    422,
                    "code-invalid",
                    f"{value!r} is not a {rtype}.{path} code",
                    f"{rtype}.{path}",
                )


def validate(resource: Any, expected_type: str | None = None) -> Resource:
    """Validate one resource with fhir.resources (R4B) and the required bindings.

    Raises :class:`FhirError` 400 (not a resource, wrong type) or 422 (invalid content).
    """
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise FhirError(400, "structure", "the body is not a FHIR resource", "resourceType")
    type_ = resource["resourceType"]
    if expected_type is not None and type_ != expected_type:
        raise FhirError(400, "invalid", f"expected a {expected_type}, got {type_}", "resourceType")
    if type_ not in (*RESOURCE_TYPES, "Bundle", "OperationOutcome", "CapabilityStatement"):
        raise FhirError(404, "not-supported", f"{type_} is not served here", "resourceType")
    try:
        get_fhir_model_class(type_).model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise FhirError(
            422, "structure", f"{type_} is not valid FHIR: {first['msg']}", where
        ) from None
    check_codes(resource)
    return resource


INTERACTIONS: tuple[str, ...] = ("read", "vread", "search", "create", "update", "history")
FHIR_OPERATIONS: tuple[str, ...] = (
    "capabilities",
    "transaction",
    *(f"{interaction}{type_}" for type_ in RESOURCE_TYPES for interaction in INTERACTIONS),
)
"""Fault-injection targets of the FHIR endpoint: ``transaction``, ``capabilities`` and
interaction + type (``createEncounter``, ``searchAppointment``, ``updateSlot``...)."""
