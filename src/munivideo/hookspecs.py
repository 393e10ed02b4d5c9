"""The plugin surface (pluggy). Project name: ``munivideo``; entry-point group: ``munivideo``.

Two kinds of hooks:

* ``register_*(register)``: the host passes a callback; the plugin calls it once per adapter it
  provides. The host validates each registration, resolves name collisions and records which
  plugin supplied what. Called once when the plugin manager is built.
* event hooks (``booking_received`` ...): called by the engine for every record. A hook may return
  an enriched copy of the record (the next plugin receives that copy) or ``None`` to leave it as
  is; it vetoes by raising :class:`munivideo.errors.VetoedError`.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from munivideo.models import (
    Attendance,
    Booking,
    Invitation,
    ProtocolEntry,
    ProtocolReceipt,
    Room,
    Tenant,
)
from munivideo.ports import ErpAdapterFactory, NotifierFactory, VideoProviderFactory

PROJECT = "munivideo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- registration: called once, when the plugin manager is built ------------------------------


@hookspec
def register_erp_adapters(register: Callable[[str, ErpAdapterFactory], None]) -> None:
    """Register ERP adapter factories.

    :param register: call ``register(name, factory)``; ``factory(tenant, settings)`` returns an
        :class:`munivideo.ports.ErpAdapter`. ``name`` is what ``[erp] adapter = ...`` names.
    """


@hookspec
def register_video_providers(register: Callable[[str, VideoProviderFactory], None]) -> None:
    """Register video provider factories.

    :param register: call ``register(name, factory)``; ``factory(tenant, settings)`` returns a
        :class:`munivideo.ports.VideoProvider`. ``name`` is what ``[video] provider = ...`` names.
    """


@hookspec
def register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    """Register notifier factories.

    :param register: call ``register(name, factory)``; ``factory(tenant, settings)`` returns a
        :class:`munivideo.ports.Notifier`. ``name`` is what ``[[notifiers]] name = ...`` names.
    """


# -- events: called for every record; each may enrich (return a copy) or veto (raise) ----------


@hookspec
def booking_received(tenant: Tenant, booking: Booking) -> Booking | None:
    """A booking came in from the ERP, before it is bound and a room is provisioned.

    :param tenant: the tenant the booking belongs to.
    :param booking: the validated booking (possibly enriched by an earlier plugin).
    :return: an enriched copy, or None to keep it. Raise ``VetoedError`` to quarantine it.
    """


@hookspec
def room_created(tenant: Tenant, booking: Booking, room: Room) -> Room | None:
    """A room was provisioned (or updated after a reschedule) for a booking.

    :param tenant: the tenant.
    :param booking: the booking the room serves.
    :param room: the room as the provider described it.
    :return: an enriched copy, or None to keep it.
    """


@hookspec
def invitation_rendered(
    tenant: Tenant, booking: Booking, invitation: Invitation
) -> Invitation | None:
    """An invitation was rendered, before it is sent.

    :param tenant: the tenant.
    :param booking: the booking invited to.
    :param invitation: every channel's rendered text and the calendar file.
    :return: an enriched copy, or None to keep it. Raise ``VetoedError`` to hold it back.
    """


@hookspec
def protocol_entry_prepared(
    tenant: Tenant, attendance: Attendance, entry: ProtocolEntry
) -> ProtocolEntry | None:
    """A protocol entry was prepared from an attendance, before it is put in the outbox.

    :param tenant: the tenant.
    :param attendance: the classified attendance.
    :param entry: the entry the engine will write back.
    :return: an enriched copy, or None to keep it. Raise ``VetoedError`` to quarantine it.
    """


@hookspec
def outcome_written(tenant: Tenant, entry: ProtocolEntry, receipt: ProtocolReceipt) -> None:
    """A protocol entry was written to the ERP (called once per entry, after it is durable).

    :param tenant: the tenant.
    :param entry: the entry written.
    :param receipt: the ERP's receipt (number/year).
    """
