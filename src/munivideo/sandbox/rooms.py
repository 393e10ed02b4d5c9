"""Placeholder rooms (video provider ``demo-rooms``) for ``munivideo demo`` when no video
provider plugin (``munivideo-jitsi``) is installed. It lives with the sandbox: like the sandbox
ERP, it stands in for a real service in the demo and in tests, and ships with the ``sandbox``
extra, not the core.

Registered only by the demo (never through an entry point): room names are keyed hashes, links
carry no credential and point at a reserved ``.invalid`` host, so nothing here can be mistaken
for a working video service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from munivideo.hookspecs import hookimpl
from munivideo.models import AttendanceEvent, Booking, JoinLink, Participant, Room, Tenant


class DemoRooms:
    """A :class:`~munivideo.ports.VideoProvider` that creates nothing anywhere: rooms are names
    derived from the tenant and booking, valid from 15 minutes before the start to 30 minutes
    after the end; no attendance is ever reported (the demo plays the day's events itself)."""

    name = "demo-rooms"

    def __init__(self, tenant: Tenant, settings: Mapping[str, Any]) -> None:
        self.tenant = tenant

    def create_room(self, booking: Booking) -> Room:
        """Room ``mv-<24 hex of sha256(tenant:booking)>`` on ``rooms.demo.invalid``."""
        digest = hashlib.sha256(f"{self.tenant.id}:{booking.id}".encode()).hexdigest()[:24]
        return Room(
            booking_id=booking.id,
            provider=self.name,
            name=f"mv-{digest}",
            base_url=f"https://rooms.demo.invalid/mv-{digest}",
            valid_from=booking.start - timedelta(minutes=15),
            valid_until=booking.end + timedelta(minutes=30),
        )

    def update_room(self, room: Room, booking: Booking) -> Room:
        """The same room with its validity window moved to the booking's new times."""
        return room.model_copy(
            update={
                "valid_from": booking.start - timedelta(minutes=15),
                "valid_until": booking.end + timedelta(minutes=30),
            }
        )

    def close_room(self, room: Room) -> Room:
        """The same room marked closed."""
        return room.model_copy(update={"closed": True})

    def join_link(self, room: Room, participant: Participant) -> JoinLink:
        """``<room url>#<role>``: carries no credential; expires with the room."""
        return JoinLink(
            booking_id=room.booking_id,
            participant_id=participant.id,
            role=participant.role,
            url=f"{room.base_url}#{participant.role.value}",
            expires_at=room.valid_until,
        )

    def attendance_report(self, room: Room) -> list[AttendanceEvent]:
        """Always empty: nothing happens in a placeholder room."""
        return []

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AttendanceEvent]:
        """Always empty: the placeholder provider sends no webhooks."""
        return []


@hookimpl
def register_video_providers(register: Any) -> None:
    """Register :class:`DemoRooms` as ``demo-rooms``."""
    register("demo-rooms", DemoRooms)
