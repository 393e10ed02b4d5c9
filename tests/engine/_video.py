"""A small loopback video provider for engine tests (registered as plugin ``loopback``).

It follows the :class:`munivideo.ports.VideoProvider` contract and records what it was asked to
do, so tests can count provisioned, moved and closed rooms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from munivideo.hookspecs import hookimpl
from munivideo.models import AttendanceEvent, Booking, JoinLink, Participant, Room, Tenant


class LoopbackVideo:
    name = "loopback"

    def __init__(self, tenant: Tenant, settings: Mapping[str, Any]) -> None:
        self.tenant = tenant
        self.base = str(settings.get("base_url", "https://meet.example.invalid"))
        self.calls: list[tuple[str, str]] = []

    def create_room(self, booking: Booking) -> Room:
        self.calls.append(("create", booking.id))
        digest = hashlib.sha256(f"{self.tenant.id}:{booking.id}".encode()).hexdigest()[:24]
        return Room(
            booking_id=booking.id,
            provider=self.name,
            name=f"mv-{digest}",
            base_url=f"{self.base}/mv-{digest}",
            valid_from=booking.start - timedelta(minutes=15),
            valid_until=booking.end + timedelta(minutes=30),
        )

    def update_room(self, room: Room, booking: Booking) -> Room:
        self.calls.append(("update", booking.id))
        return room.model_copy(
            update={
                "valid_from": booking.start - timedelta(minutes=15),
                "valid_until": booking.end + timedelta(minutes=30),
            }
        )

    def close_room(self, room: Room) -> Room:
        self.calls.append(("close", room.booking_id))
        return room.model_copy(update={"closed": True})

    def join_link(self, room: Room, participant: Participant) -> JoinLink:
        return JoinLink(
            booking_id=room.booking_id,
            participant_id=participant.id,
            role=participant.role,
            url=f"{room.base_url}?as={participant.role.value}&until={room.valid_until:%s}",
            expires_at=room.valid_until,
        )

    def attendance_report(self, room: Room) -> list[AttendanceEvent]:
        return []

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AttendanceEvent]:
        return []


@hookimpl
def register_video_providers(register: Any) -> None:
    register("loopback", LoopbackVideo)
