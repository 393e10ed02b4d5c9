"""The ERP's operations, dialect-neutral: the SOAP and REST front ends parse, call these, render.

The request's :class:`~munivideo.sandbox.behaviour.Behaviour` (taken when it arrived) decides
whether idempotency keys are honoured, whether external references are unique, how lookups and
receipts behave; every committed write is counted by the store as an effect.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from munivideo.errors import NotFoundError
from munivideo.sandbox.context import Call
from munivideo.sandbox.errors import LookupUnavailableError
from munivideo.sandbox.records import BookingRecord, NewProtocol, ProtocolRecord
from munivideo.sandbox.store import Reservation, fingerprint

R = TypeVar("R")
FOREIGN_REFERENCE = "munivideo:sandbox:outro"
"""The reference of the made-up protocol a ``foreign_reference`` receipt names when the ERP has
no other protocol to name."""


def list_changed(
    call: Call, after: tuple[datetime, str] | None, limit: int
) -> tuple[list[BookingRecord], bool]:
    """``listarAlterados``: bookings changed after a cursor, in ``(dataAtualizacao, id)`` order.

    A read: no effect counted, no idempotency key.

    :param call: the request's fault decision and behaviour.
    :param after: the cursor position ``(UTC timestamp, booking id)``; the page starts strictly
        after it. ``None``: from the beginning.
    :param limit: page size (the REST contract allows 1-500, default 100).
    :returns: at most ``limit`` bookings, and whether more exist after the last one.
    """
    return call.ctx.store.list_bookings(after, limit)


def get_booking(call: Call, booking_id: str) -> BookingRecord:
    """``obterAgendamento``: one booking.

    :raises NotFoundError: no booking ``booking_id`` (``NAO_ENCONTRADO``, 404).
    """
    return call.ctx.store.get_booking(booking_id)


def set_status(call: Call, booking_id: str, status: str, note: str | None) -> BookingRecord:
    """``atualizarSituacao``: move a booking to ``status`` (counted as a ``status:<code>``
    effect of subject ``booking_id``); the same status again is a no-op, not an effect.

    Applies the ``timeout`` fault and the behaviour's commit delay before writing. With a
    receipt behaviour other than ``honest`` the answer describes another booking (the write
    still happened).

    :param call: the request's fault decision and behaviour.
    :param booking_id: the booking.
    :param status: the target status code (``AT``, ``FA``, ``CA``, ...).
    :param note: ``observacao``, stored as the booking's ``observacoes``.
    :returns: the updated booking (or another one, see above).
    :raises NotFoundError: no such booking.
    :raises LifecycleError: :data:`~munivideo.sandbox.records.STATUS_TRANSITIONS` does not allow
        the move (``TRANSICAO_INVALIDA``, 409).
    """
    call.before_write()
    record = call.ctx.store.set_status(booking_id, status, note, count=True)
    if call.behaviour.receipts != "honest":
        return call.ctx.store.other_booking(booking_id) or record
    return record


def set_room(call: Call, booking_id: str, url: str, valid_until: datetime) -> BookingRecord:
    """``registrarSala``: record the video room of a booking (idempotent: the same URL and
    validity again change nothing; not counted as an effect).

    :param call: the request's fault decision and behaviour (``timeout`` fault and commit
        delay apply before the write).
    :param booking_id: the booking.
    :param url: the room's join URL.
    :param valid_until: when the room stops being valid (aware; stored in UTC).
    :returns: the booking as stored.
    :raises NotFoundError: no such booking.
    """
    call.before_write()
    return call.ctx.store.set_room(booking_id, url, valid_until)


def _keyed(
    call: Call,
    key: str,
    payload: Any,
    write: Callable[[Reservation | None], ProtocolRecord],
) -> tuple[ProtocolRecord, bool]:
    """Run ``write`` once per idempotency key when keys are honoured, every time otherwise.

    Returns the protocol (as the receipt behaviour renders it) and whether it is a replay.
    """
    store = call.ctx.store
    if not call.behaviour.keys_honoured:
        call.before_write()
        return _receipt(call, write(None)), False
    reservation = store.reserve(call.operation, key, fingerprint(payload))
    if reservation.replay_of is not None:
        return _receipt(call, store.get_protocol_by_id(reservation.replay_of)), True
    try:
        call.before_write()
        record = write(reservation)
    except BaseException:
        store.release(reservation)
        raise
    return _receipt(call, record), False


def _receipt(call: Call, record: ProtocolRecord) -> ProtocolRecord:
    """What the answer says about ``record``: the truth, or another protocol (behaviour)."""
    receipts = call.behaviour.receipts
    if receipts == "honest":
        return record
    other = call.ctx.store.newest_protocol(other_than=record.id)
    if receipts == "foreign_number":
        ano, numero = (other.ano, other.numero) if other else (record.ano, record.numero + 500_000)
        return record.model_copy(update={"ano": ano, "numero": numero})
    if other is not None and other.novo.referencia_externa != record.novo.referencia_externa:
        return other
    novo = record.novo.model_copy(
        update={"referencia_externa": FOREIGN_REFERENCE, "id_agendamento": "AG-OUTRO"}
    )
    return record.model_copy(
        update={"id": "PR-OUTRO", "numero": record.numero + 500_000, "novo": novo}
    )


def create_protocol(call: Call, key: str, new: NewProtocol) -> tuple[ProtocolRecord, bool]:
    """The protocol, and whether this answer is a replay of an earlier request with ``key``."""
    store = call.ctx.store
    unique = call.behaviour.unique_reference
    return _keyed(
        call,
        key,
        new.model_dump(mode="json"),
        lambda reservation: store.create_protocol(new, reservation, unique=unique),
    )


def find_protocol(call: Call, reference: str) -> ProtocolRecord | None:
    """``buscarPorReferenciaExterna`` as the behaviour's ``lookup`` says."""
    store, behaviour = call.ctx.store, call.behaviour
    if behaviour.lookup == "unavailable":
        raise LookupUnavailableError(
            "buscarPorReferenciaExterna is not an operation of this ERP", field="Body"
        )
    if behaviour.lookup == "ignores_filter":
        return store.newest_protocol()
    if behaviour.lookup == "late":
        # The store's clock, which stamped the commit (it runs ahead of the wall clock after a
        # booking updated in the future was stored): the wall clock would hide it for that long.
        seen_until = store.now() - timedelta(seconds=behaviour.lookup_delay_seconds)
        return store.find_protocol(reference, committed_before=seen_until)
    return store.find_protocol(reference)


def get_protocol(call: Call, ano: int, numero: int) -> ProtocolRecord:
    """``obterProtocolo``; with a ``late`` lookup, reads lag the same way: a protocol younger
    than the delay is not found, attachments and routing entries younger than it are not shown."""
    record = call.ctx.store.get_protocol(ano, numero)
    if call.behaviour.lookup != "late":
        return record
    seen_until = call.ctx.store.now() - timedelta(seconds=call.behaviour.lookup_delay_seconds)
    if record.data_criacao > seen_until:
        raise NotFoundError(
            f"protocol {numero}/{ano} does not exist", record_id=f"{numero}/{ano}", field="numero"
        )
    anexos = tuple(a for a in record.anexos if a.data_inclusao <= seen_until)
    tramitacoes = tuple(t for t in record.tramitacoes if t.data_hora <= seen_until)
    current = tramitacoes[-1].destino if tramitacoes else record.novo.codigo_departamento
    return record.model_copy(
        update={"anexos": anexos, "tramitacoes": tramitacoes, "codigo_departamento_atual": current}
    )


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
    """``anexarDocumento``: append a document record to protocol ``numero/ano`` (counted as an
    ``attach:<sha256>`` effect of the protocol's external reference).

    Once per idempotency key when the behaviour honours keys: the same key and arguments replay
    the first answer; otherwise every call appends again.

    :param call: the request's fault decision and behaviour.
    :param key: the idempotency key (``Idempotency-Key`` / ``chaveIdempotencia``).
    :param ano: the protocol's year.
    :param numero: the protocol's number within the year.
    :param nome: file name.
    :param tipo: document type code.
    :param sha256: the file's SHA-256 in hex.
    :param tipo_midia: media type, if known.
    :param tamanho: size in bytes, if known.
    :returns: the protocol with the new attachment (as the receipt behaviour renders it), and
        whether the answer is a replay.
    :raises NotFoundError: no such protocol (checked before the key is spent).
    :raises IdempotencyConflictError: the key was used with other arguments (422).
    :raises IdempotencyInProgressError: the first request with the key is still running (409,
        retry after 1 s).
    """
    store = call.ctx.store
    store.get_protocol(ano, numero)  # 404 before the key is spent on a missing protocol
    return _keyed(
        call,
        key,
        [ano, numero, nome, tipo, sha256, tipo_midia, tamanho],
        lambda reservation: store.attach(
            ano,
            numero,
            nome=nome,
            tipo=tipo,
            sha256=sha256,
            tipo_midia=tipo_midia,
            tamanho=tamanho,
            reservation=reservation,
        ),
    )


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
    """``tramitarProtocolo``: forward protocol ``numero/ano`` to department ``destino``
    (counted as a ``forward:<destino>`` effect of the protocol's external reference).

    Once per idempotency key when the behaviour honours keys, as :func:`attach`.

    :param call: the request's fault decision and behaviour.
    :param key: the idempotency key.
    :param ano: the protocol's year.
    :param numero: the protocol's number within the year.
    :param destino: the department code it goes to.
    :param despacho: the dispatch text.
    :param matricula: the forwarding servant's registration number, if given.
    :returns: the protocol with the new routing entry (as the receipt behaviour renders it),
        and whether the answer is a replay.
    :raises NotFoundError: no such protocol.
    :raises IdempotencyConflictError: the key was used with other arguments.
    :raises IdempotencyInProgressError: the first request with the key is still running.
    """
    store = call.ctx.store
    store.get_protocol(ano, numero)
    return _keyed(
        call,
        key,
        [ano, numero, destino, despacho, matricula],
        lambda reservation: store.forward(
            ano,
            numero,
            destino=destino,
            despacho=despacho,
            matricula=matricula,
            reservation=reservation,
        ),
    )
