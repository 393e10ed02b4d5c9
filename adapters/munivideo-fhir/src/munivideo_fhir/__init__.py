"""munivideo ERP adapter for health systems speaking HL7 FHIR R4 (entry point ``fhir``).

Bookings in: telehealth Appointments with their Patient, Practitioner and HealthcareService.
Outcomes out: Appointment status, an Encounter of class VR and the teleconsultation Consent.
The health service's API: :meth:`FhirErpAdapter.free_slots`, ``book``, ``cancel``,
``reschedule``, ``agenda``, ``patient_encounters``. See ``docs/fhir.md``.
"""

from __future__ import annotations

from collections.abc import Callable

from munivideo.hookspecs import hookimpl
from munivideo.ports import ErpAdapterFactory
from munivideo_fhir.adapter import (
    AgendaItem,
    EncounterSummary,
    FhirErpAdapter,
    FhirSettings,
    FreeSlot,
    Patient,
    create_adapter,
)
from munivideo_fhir.identifiers import cns_valid

__all__ = [
    "AgendaItem",
    "EncounterSummary",
    "FhirErpAdapter",
    "FhirSettings",
    "FreeSlot",
    "Patient",
    "cns_valid",
    "create_adapter",
    "register_erp_adapters",
]


@hookimpl
def register_erp_adapters(register: Callable[[str, ErpAdapterFactory], None]) -> None:
    """Register the ``fhir`` ERP adapter factory."""
    register("fhir", create_adapter)
