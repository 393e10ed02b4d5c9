"""Deterministic identities: the same work always gets the same key, never a fresh UUID."""

from __future__ import annotations

import hashlib

from munivideo.models import Booking


def external_reference(tenant_id: str, booking_id: str) -> str:
    """Our reference on the protocol entry: how the ERP (and we) find it again."""
    return f"munivideo:{tenant_id}:{booking_id}"


def booking_fingerprint(booking: Booking) -> str:
    """What matters about a booking for rooms and invitations.

    ``updated_at`` is left out on purpose: our own writes (room link, status) bump it in the
    ERP, and a re-sync of a booking that only changed that way must send nothing.
    """
    data = booking.model_dump_json(exclude={"updated_at", "notes"})
    return hashlib.sha256(data.encode()).hexdigest()


def short_hash(*parts: object) -> str:
    """A 16-hex-digit (64-bit) SHA-256 digest of ``parts`` joined by ``|`` (as ``str``): a
    compact content key, e.g. of a room link or an invitation's content, so a re-sync that
    changed nothing that matters sends nothing."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]
