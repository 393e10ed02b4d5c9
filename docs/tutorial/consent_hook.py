"""Security guide: hold back teleconsultations without recorded consent (CFM 2.314/2022)."""

from __future__ import annotations

from munivideo.errors import VetoedError
from munivideo.hookspecs import hookimpl
from munivideo.models import Booking, Tenant

#: Services that are medical teleconsultations in this city (codes from the tenant file).
TELECONSULTATION_SERVICES = frozenset({"SAUDE-CONSULTA", "SESMT"})


@hookimpl
def booking_received(tenant: Tenant, booking: Booking) -> Booking | None:
    if booking.service_code in TELECONSULTATION_SERVICES and not booking.consent_recorded:
        # Quarantined with this reason (never dropped): no room, no invitation until the
        # ERP records the patient's consent and the booking syncs again.
        raise VetoedError(
            "teleconsultation without recorded patient consent (CFM 2.314/2022)",
            record_id=booking.id,
            field="consent_recorded",
        )
    return None
