"""Placeholder rooms for ``munivideo demo`` when no video provider plugin is installed.

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
    name = "demo-rooms"

    def __init__(self, tenant: Tenant, settings: Mapping[str, Any]) -> None:
        self.tenant = tenant

    def create_room(self, booking: Booking) -> Room:
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
        return room.model_copy(
            update={
                "valid_from": booking.start - timedelta(minutes=15),
                "valid_until": booking.end + timedelta(minutes=30),
            }
        )

    def close_room(self, room: Room) -> Room:
        return room.model_copy(update={"closed": True})

    def join_link(self, room: Room, participant: Participant) -> JoinLink:
        return JoinLink(
            booking_id=room.booking_id,
            participant_id=participant.id,
            role=participant.role,
            url=f"{room.base_url}#{participant.role.value}",
            expires_at=room.valid_until,
        )

    def attendance_report(self, room: Room) -> list[AttendanceEvent]:
        return []

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AttendanceEvent]:
        return []


@hookimpl
def register_video_providers(register: Any) -> None:
    register("demo-rooms", DemoRooms)
