"""The ERP's operations, dialect-neutral: the SOAP and REST front ends parse, call these, render."""

from __future__ import annotations

from datetime import datetime

from munivideo.sandbox.context import Call
from munivideo.sandbox.records import BookingRecord, NewProtocol, ProtocolRecord
from munivideo.sandbox.store import fingerprint


def list_changed(
    call: Call, after: tuple[datetime, str] | None, limit: int
) -> tuple[list[BookingRecord], bool]:
    return call.ctx.store.list_bookings(after, limit)


def get_booking(call: Call, booking_id: str) -> BookingRecord:
    return call.ctx.store.get_booking(booking_id)


def set_status(call: Call, booking_id: str, status: str, note: str | None) -> BookingRecord:
    call.before_write()
    return call.ctx.store.set_status(booking_id, status, note)


def set_room(call: Call, booking_id: str, url: str, valid_until: datetime) -> BookingRecord:
    call.before_write()
    return call.ctx.store.set_room(booking_id, url, valid_until)


def create_protocol(call: Call, key: str, new: NewProtocol) -> tuple[ProtocolRecord, bool]:
    """The protocol, and whether this answer is a replay of an earlier request with ``key``."""
    store = call.ctx.store
    reservation = store.reserve("criarProtocolo", key, fingerprint(new.model_dump(mode="json")))
    if reservation.replay_of is not None:
        return store.get_protocol_by_id(reservation.replay_of), True
    try:
        call.before_write()
        return store.create_protocol(new, reservation), False
    except BaseException:
        store.release(reservation)
        raise


def find_protocol(call: Call, reference: str) -> ProtocolRecord | None:
    return call.ctx.store.find_protocol(reference)


def get_protocol(call: Call, ano: int, numero: int) -> ProtocolRecord:
    return call.ctx.store.get_protocol(ano, numero)


def attach(
    call: Call,
    key: str,
    ano: int,
    numero: int,
    *,
    nome: str,
    tipo: str,
    sha256: str,
    tipo_midia: str | None,
    tamanho: int | None,
) -> tuple[ProtocolRecord, bool]:
    store = call.ctx.store
    store.get_protocol(ano, numero)  # 404 before the key is spent on a missing protocol
    payload = [ano, numero, nome, tipo, sha256, tipo_midia, tamanho]
    reservation = store.reserve("anexarDocumento", key, fingerprint(payload))
    if reservation.replay_of is not None:
        return store.get_protocol_by_id(reservation.replay_of), True
    try:
        call.before_write()
        record = store.attach(
            ano,
            numero,
            nome=nome,
            tipo=tipo,
            sha256=sha256,
            tipo_midia=tipo_midia,
            tamanho=tamanho,
            reservation=reservation,
        )
        return record, False
    except BaseException:
        store.release(reservation)
        raise


def forward(
    call: Call,
    key: str,
    ano: int,
    numero: int,
    *,
    destino: str,
    despacho: str,
    matricula: str | None,
) -> tuple[ProtocolRecord, bool]:
    store = call.ctx.store
    store.get_protocol(ano, numero)
    reservation = store.reserve(
        "tramitarProtocolo", key, fingerprint([ano, numero, destino, despacho, matricula])
    )
    if reservation.replay_of is not None:
        return store.get_protocol_by_id(reservation.replay_of), True
    try:
        call.before_write()
        record = store.forward(
            ano,
            numero,
            destino=destino,
            despacho=despacho,
            matricula=matricula,
            reservation=reservation,
        )
        return record, False
    except BaseException:
        store.release(reservation)
        raise
