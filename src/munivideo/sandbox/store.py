"""The sandbox ERP's data, in SQLite (a file or ``:memory:``).

One connection guarded by one lock: SQLite serialises writers anyway, and ``:memory:`` databases
are per-connection. Every public method is atomic. ``data_atualizacao`` comes from a per-store
monotonic clock so that a cursor handed out can never be overtaken by a later change with an
equal or earlier timestamp (the classic missed-update bug of timestamp cursors).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from munivideo.errors import InvalidRecordError, LifecycleError, NotFoundError
from munivideo.sandbox.errors import (
    DuplicateReferenceError,
    IdempotencyConflictError,
    IdempotencyInProgressError,
)
from munivideo.sandbox.records import (
    STATUS_TRANSITIONS,
    Attachment,
    BookingRecord,
    NewProtocol,
    ProtocolRecord,
    Routing,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS booking (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS booking_cursor ON booking (updated_at, id);
CREATE TABLE IF NOT EXISTS protocol (
    id TEXT PRIMARY KEY,
    ano INTEGER NOT NULL,
    numero INTEGER NOT NULL,
    referencia_externa TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (ano, numero)
);
CREATE INDEX IF NOT EXISTS protocol_reference ON protocol (referencia_externa, created_at);
CREATE TABLE IF NOT EXISTS effect (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    step TEXT NOT NULL,
    operation TEXT NOT NULL,
    protocol_id TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS effect_subject ON effect (subject, step);
CREATE TABLE IF NOT EXISTS idempotency (
    operation TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (operation, key)
);
CREATE TABLE IF NOT EXISTS token (
    token TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""

_STAMP = "%Y-%m-%dT%H:%M:%S.%f+00:00"  # fixed width: text order == time order


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_STAMP)


def encode_cursor(updated_at: datetime, record_id: str) -> str:
    """The REST ``proximoCursor`` for a position in ``(dataAtualizacao, id)`` order: URL-safe
    base64 (RFC 4648 section 5) of ``<UTC ISO 8601>|<id>``; opaque to clients.

    :param updated_at: the last booking's ``data_atualizacao`` (aware).
    :param record_id: the last booking's id.
    """
    raw = f"{updated_at.astimezone(UTC).isoformat()}|{record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position an :func:`encode_cursor` cursor names.

    :returns: ``(UTC timestamp, booking id)``.
    :raises InvalidRecordError: (``field="cursor"``) not base64 of ``<timestamp>|<id>`` with an
        aware timestamp and a non-empty id.
    """
    try:
        stamp, _, record_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        parsed = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise InvalidRecordError("cursor is not one this server issued", field="cursor") from exc
    if not record_id or parsed.tzinfo is None:
        raise InvalidRecordError("cursor is not one this server issued", field="cursor")
    return parsed.astimezone(UTC), record_id


def fingerprint(payload: Any) -> str:
    """A stable digest of a request payload for the idempotency-key comparison."""
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Reservation:
    """The state of an idempotency key when a request arrives."""

    operation: str
    key: str
    replay_of: str | None  # the stored result when the key was already completed


class Store:
    """The sandbox ERP's bookings, protocols, effect log, idempotency keys and OAuth tokens.

    One SQLite connection (WAL) behind one re-entrant lock; every public method is atomic, and a
    write, its effect row and the completion of its idempotency key commit in one transaction.
    A file from before effect counting is migrated in place.

    :param path: an SQLite file, or ``":memory:"`` (the default: gone when closed).
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        #: Called with every booking before it is stored (added, seeded or changed); raises to
        #: refuse it. The sandbox's context sets it to the contract check
        #: (:func:`munivideo.sandbox.conformance.check_booking`), so nothing stored can make a
        #: contract answer fail. ``None``: no check (a bare store).
        self.conforms: Callable[[BookingRecord], None] | None = None
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._migrate_v1()
        self._last = datetime.min.replace(tzinfo=UTC)
        # How far the clock runs ahead of the wall clock after a booking updated in the future
        # was stored; it then keeps running at the wall clock's pace (late lookups measure on it).
        self._ahead = timedelta(0)

    def _migrate_v1(self) -> None:
        """Create the schema; a file from before effect counting (a UNIQUE external reference,
        no commit time) is carried over: its protocols keep their data."""
        row = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'protocol'").fetchone()
        old = row is not None and "created_at" not in row[0]
        if old:
            self._db.execute("ALTER TABLE protocol RENAME TO protocol_v1")
        self._db.executescript(_SCHEMA)
        if old:
            docs = self._db.execute("SELECT doc FROM protocol_v1").fetchall()
            with self._tx() as db:
                for (doc,) in docs:
                    p = ProtocolRecord.model_validate_json(doc)
                    self._save_protocol(db, p, insert=True)
                db.execute("DROP TABLE protocol_v1")

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def now(self) -> datetime:
        """Strictly increasing UTC time (one microsecond past the last one if the clock lags)."""
        with self._lock:
            now = datetime.now(UTC) + self._ahead
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now

    def _advance(self, latest: datetime) -> None:
        self._last = max(self._last, latest)
        self._ahead = max(self._ahead, latest - datetime.now(UTC))

    def close(self) -> None:
        """Close the connection (a ``:memory:`` store's data is gone); the store is unusable
        afterwards."""
        with self._lock:
            self._db.close()

    def reset(self) -> None:
        """Delete every booking, protocol, idempotency key, token and effect in one transaction
        (the monotonic clock keeps running, so cursors never go back)."""
        with self._tx() as db:
            for table in ("booking", "protocol", "idempotency", "token", "effect"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    # -- bookings -------------------------------------------------------------------------------

    def put_bookings(self, records: Iterable[BookingRecord], *, seeded: bool = False) -> int:
        """Insert or replace bookings as given; one transaction, executemany.

        Every booking passes :attr:`conforms` first; one that fails is refused and nothing is
        stored. ``seeded``: the records come from :mod:`munivideo.sandbox.seeds`, whose output
        a test checks against the contracts, so a reset does not re-check them (~5 ms each)."""
        records = list(records)
        if self.conforms is not None and not seeded:
            for record in records:
                self.conforms(record)
        rows = [(r.id, r.model_dump_json(), _stamp(r.data_atualizacao)) for r in records]
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO booking (id, doc, updated_at) VALUES (?, ?, ?)", rows
            )
            if rows:
                latest = max(datetime.strptime(r[2], _STAMP) for r in rows).replace(tzinfo=UTC)
                self._advance(latest)
        return len(rows)

    def put_rows(self, rows: list[tuple[str, str, str]]) -> None:
        """Raw insert of pre-serialised (id, doc json, updated_at stamp) rows: bulk seeding.

        Not passed through :attr:`conforms` (100k rows in seconds); only
        :func:`munivideo.sandbox.seeds.bulk_seed` writes here, and a test checks its rows
        against the contracts."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO booking (id, doc, updated_at) VALUES (?, ?, ?)", rows
            )
            last = db.execute("SELECT max(updated_at) FROM booking").fetchone()[0]
            if last:
                self._advance(datetime.strptime(last, _STAMP).replace(tzinfo=UTC))

    def get_booking(self, booking_id: str) -> BookingRecord:
        """One booking.

        :raises NotFoundError: (``field="id"``, ``record_id=booking_id``) no such booking.
        """
        with self._lock:
            row = self._db.execute("SELECT doc FROM booking WHERE id = ?", (booking_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"booking {booking_id} does not exist", record_id=booking_id, field="id"
            )
        return BookingRecord.model_validate_json(row[0])

    def list_bookings(
        self, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[BookingRecord], bool]:
        """Bookings strictly after ``after`` in (updated_at, id) order; and whether more exist."""
        with self._lock:
            if after is None:
                rows = self._db.execute(
                    "SELECT doc FROM booking ORDER BY updated_at, id LIMIT ?", (limit + 1,)
                ).fetchall()
            else:
                stamp, record_id = _stamp(after[0]), after[1]
                rows = self._db.execute(
                    "SELECT doc FROM booking WHERE (updated_at, id) > (?, ?) "
                    "ORDER BY updated_at, id LIMIT ?",
                    (stamp, record_id, limit + 1),
                ).fetchall()
        records = [BookingRecord.model_validate_json(r[0]) for r in rows[:limit]]
        return records, len(rows) > limit

    def count_bookings(self) -> int:
        """How many bookings the store holds (``GET /_sandbox/health``)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM booking").fetchone()[0])

    def update_booking(
        self, booking_id: str, *, effect: str | None = None, **changes: Any
    ) -> BookingRecord:
        """Apply ``changes``; bump version and timestamp. Invitation-relevant changes (a move, a
        cancel) also bump ``sequencia``. ``effect`` names the effect step to count (a status
        written through the contract), in the same transaction."""
        with self._tx() as db:
            current = self.get_booking(booking_id)
            moved = any(
                k in changes and changes[k] != getattr(current, k)
                for k in ("data", "hora_inicio", "hora_fim")
            )
            cancelled = changes.get("situacao") == "CA" and current.situacao != "CA"
            update = {
                **changes,
                "data_atualizacao": self.now(),
                "versao": current.versao + 1,
                "sequencia": current.sequencia + (1 if moved or cancelled else 0),
            }
            record = BookingRecord.model_validate({**current.model_dump(), **update})
            if self.conforms is not None:
                self.conforms(record)
            db.execute(
                "UPDATE booking SET doc = ?, updated_at = ? WHERE id = ?",
                (record.model_dump_json(), _stamp(record.data_atualizacao), booking_id),
            )
            if effect is not None:
                self._effect(db, None, effect, "atualizarSituacao", subject=booking_id)
            return record

    def set_status(
        self, booking_id: str, status: str, note: str | None, *, count: bool = False
    ) -> BookingRecord:
        """Change a booking's status; ``count`` records a ``status:<value>`` effect (a write
        through the contract; the inspection API's own cancels are not ERP effects)."""
        with self._lock:
            current = self.get_booking(booking_id)
            if status == current.situacao:
                return current  # idempotent: same status twice is a no-op
            if status not in STATUS_TRANSITIONS[current.situacao]:
                raise LifecycleError(
                    f"booking cannot go from {current.situacao} to {status}",
                    record_id=booking_id,
                    field="situacao",
                )
            changes: dict[str, Any] = {"situacao": status}
            if note:
                changes["observacoes"] = note
            return self.update_booking(
                booking_id, effect=f"status:{status}" if count else None, **changes
            )

    def set_room(self, booking_id: str, url: str, valid_until: datetime) -> BookingRecord:
        """Record the booking's video room; the same URL and validity again is a no-op (no new
        version, no new ``data_atualizacao``). Not an effect.

        :param valid_until: aware datetime, stored in UTC.
        :raises NotFoundError: no such booking.
        """
        with self._lock:
            current = self.get_booking(booking_id)
            if current.sala_url == url and current.sala_valida_ate == valid_until:
                return current
            return self.update_booking(booking_id, sala_url=url, sala_valida_ate=valid_until)

    def reschedule(self, booking_id: str, day: date, start: str, end: str) -> BookingRecord:
        """Move a booking (as the ERP's own staff would) and set it to ``RM``: bumps
        ``versao`` and, when the slot really moves, ``sequencia``. Not an effect.

        :param day: the new local day.
        :param start: the new naive local start ``HH:MM``.
        :param end: the new naive local end ``HH:MM``.
        :raises NotFoundError: no such booking.
        :raises LifecycleError: (``field="situacao"``) the booking's status cannot go to ``RM``
            (from ``AG``, ``CA``, ``AT`` or ``FA``: see ``STATUS_TRANSITIONS``).
        """
        with self._lock:
            current = self.get_booking(booking_id)
            if not STATUS_TRANSITIONS[current.situacao] & {"RM"}:
                raise LifecycleError(
                    f"booking in {current.situacao} cannot be rescheduled",
                    record_id=booking_id,
                    field="situacao",
                )
            return self.update_booking(
                booking_id, data=day, hora_inicio=start, hora_fim=end, situacao="RM"
            )

    # -- protocols ------------------------------------------------------------------------------

    def _protocol_row(self, where: str, args: tuple[Any, ...]) -> ProtocolRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT doc FROM protocol WHERE {where}", args).fetchone()  # noqa: S608
        return None if row is None else ProtocolRecord.model_validate_json(row[0])

    def get_protocol(self, ano: int, numero: int) -> ProtocolRecord:
        """The protocol ``numero/ano`` (how the contract addresses protocols).

        :raises NotFoundError: (``record_id="<numero>/<ano>"``, ``field="numero"``) none.
        """
        found = self._protocol_row("ano = ? AND numero = ?", (ano, numero))
        if found is None:
            raise NotFoundError(
                f"protocol {numero}/{ano} does not exist",
                record_id=f"{numero}/{ano}",
                field="numero",
            )
        return found

    def get_protocol_by_id(self, protocol_id: str) -> ProtocolRecord:
        """The protocol with internal id ``PR-<ano>-<numero>`` (what an idempotency key's
        stored result names, for replays).

        :raises NotFoundError: (``field="id"``) none; a replay whose protocol was reset away.
        """
        found = self._protocol_row("id = ?", (protocol_id,))
        if found is None:
            raise NotFoundError("protocol vanished", record_id=protocol_id, field="id")
        return found

    def find_protocol(
        self, reference: str, *, committed_before: datetime | None = None
    ) -> ProtocolRecord | None:
        """The oldest protocol with ``reference``; only those committed before the given time
        when ``committed_before`` is set (a lookup that sees commits late)."""
        if committed_before is None:
            return self._protocol_row(
                "referencia_externa = ? ORDER BY created_at, id LIMIT 1", (reference,)
            )
        return self._protocol_row(
            "referencia_externa = ? AND created_at <= ? ORDER BY created_at, id LIMIT 1",
            (reference, _stamp(committed_before)),
        )

    def newest_protocol(self, *, other_than: str | None = None) -> ProtocolRecord | None:
        """The most recently created protocol (except ``other_than``), or None."""
        return self._protocol_row(
            "id != ? ORDER BY created_at DESC, id DESC LIMIT 1", (other_than or "",)
        )

    def other_booking(self, booking_id: str) -> BookingRecord | None:
        """Some booking other than ``booking_id`` (the first by id), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM booking WHERE id != ? ORDER BY id LIMIT 1", (booking_id,)
            ).fetchone()
        return None if row is None else BookingRecord.model_validate_json(row[0])

    def list_protocols(self) -> list[ProtocolRecord]:
        """Every protocol, ordered by year then number."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM protocol ORDER BY ano, numero").fetchall()
        return [ProtocolRecord.model_validate_json(r[0]) for r in rows]

    def _save_protocol(self, db: sqlite3.Connection, p: ProtocolRecord, *, insert: bool) -> None:
        if insert:
            db.execute(
                "INSERT INTO protocol (id, ano, numero, referencia_externa, created_at, doc) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    p.id,
                    p.ano,
                    p.numero,
                    p.novo.referencia_externa,
                    _stamp(p.data_criacao),
                    p.model_dump_json(),
                ),
            )
        else:
            db.execute("UPDATE protocol SET doc = ? WHERE id = ?", (p.model_dump_json(), p.id))

    def create_protocol(
        self, new: NewProtocol, reservation: Reservation | None = None, *, unique: bool = True
    ) -> ProtocolRecord:
        """Create a protocol (counted as a ``create`` effect).

        :param unique: refuse a second protocol with the same external reference
            (:class:`DuplicateReferenceError`); ``False`` lets duplicates exist.
        """
        with self._tx() as db:
            if unique and self.find_protocol(new.referencia_externa) is not None:
                raise DuplicateReferenceError(
                    "another protocol already has this external reference",
                    record_id=new.referencia_externa,
                    field="referenciaExterna",
                )
            now = self.now()
            year = now.year
            last = db.execute("SELECT max(numero) FROM protocol WHERE ano = ?", (year,)).fetchone()
            number = int(last[0] or 0) + 1
            record = ProtocolRecord(
                id=f"PR-{year}-{number:06d}",
                numero=number,
                ano=year,
                novo=new,
                codigo_departamento_atual=new.codigo_departamento,
                data_criacao=now,
            )
            self._save_protocol(db, record, insert=True)
            self._effect(db, record, "create", "criarProtocolo")
            self._complete(db, reservation, record.id)
            return record

    def attach(
        self,
        ano: int,
        numero: int,
        *,
        nome: str,
        tipo: str,
        sha256: str,
        tipo_midia: str | None,
        tamanho: int | None,
        reservation: Reservation | None = None,
    ) -> ProtocolRecord:
        """Append a document record to protocol ``numero/ano``; counts an ``attach:<sha256>``
        effect and completes ``reservation`` in the same transaction.

        :param nome: file name.
        :param tipo: document type code.
        :param sha256: the file's SHA-256 in hex.
        :param tipo_midia: media type, if known.
        :param tamanho: size in bytes, if known.
        :param reservation: the idempotency key held for this write (``None``: keys ignored).
        :returns: the protocol with the attachment appended (next ``sequencia``, stamped now).
        :raises NotFoundError: no such protocol.
        """
        with self._tx() as db:
            p = self.get_protocol(ano, numero)
            attachment = Attachment(
                sequencia=len(p.anexos) + 1,
                nome=nome,
                tipo=tipo,
                sha256=sha256,
                tipo_midia=tipo_midia,
                tamanho=tamanho,
                data_inclusao=self.now(),
            )
            updated = p.model_copy(update={"anexos": (*p.anexos, attachment)})
            self._save_protocol(db, updated, insert=False)
            self._effect(db, updated, f"attach:{sha256}", "anexarDocumento")
            self._complete(db, reservation, updated.id)
            return updated

    def forward(
        self,
        ano: int,
        numero: int,
        *,
        destino: str,
        despacho: str,
        matricula: str | None,
        reservation: Reservation | None = None,
    ) -> ProtocolRecord:
        """Forward protocol ``numero/ano`` to ``destino`` (now its current department); counts a
        ``forward:<destino>`` effect and completes ``reservation`` in the same transaction.

        :param destino: the department code it goes to.
        :param despacho: the dispatch text.
        :param matricula: the forwarding servant's registration number, if given.
        :param reservation: the idempotency key held for this write (``None``: keys ignored).
        :returns: the protocol with the routing entry appended.
        :raises NotFoundError: no such protocol.
        """
        with self._tx() as db:
            p = self.get_protocol(ano, numero)
            routing = Routing(
                sequencia=len(p.tramitacoes) + 1,
                origem=p.codigo_departamento_atual,
                destino=destino,
                despacho=despacho,
                matricula_servidor=matricula,
                data_hora=self.now(),
            )
            updated = p.model_copy(
                update={
                    "tramitacoes": (*p.tramitacoes, routing),
                    "codigo_departamento_atual": destino,
                }
            )
            self._save_protocol(db, updated, insert=False)
            self._effect(db, updated, f"forward:{destino}", "tramitarProtocolo")
            self._complete(db, reservation, updated.id)
            return updated

    # -- effects --------------------------------------------------------------------------------

    def _effect(
        self,
        db: sqlite3.Connection,
        p: ProtocolRecord | None,
        step: str,
        operation: str,
        subject: str | None = None,
    ) -> None:
        # Same transaction as the write: an effect is counted exactly when it is committed.
        db.execute(
            "INSERT INTO effect (subject, step, operation, protocol_id, at) VALUES (?, ?, ?, ?, ?)",
            (
                subject or (p.novo.referencia_externa if p else ""),
                step,
                operation,
                p.id if p else None,
                _stamp(self.now()),
            ),
        )

    def effect_counts(self) -> dict[str, dict[str, int]]:
        """``{subject: {step: count}}`` of every effect executed (committed) since the reset."""
        with self._lock:
            rows = self._db.execute(
                "SELECT subject, step, count(*) FROM effect GROUP BY subject, step "
                "ORDER BY min(seq)"
            ).fetchall()
        counts: dict[str, dict[str, int]] = {}
        for subject, step, count in rows:
            counts.setdefault(subject, {})[step] = int(count)
        return counts

    def effect_log(self) -> list[dict[str, Any]]:
        """Every effect executed since the reset, in commit order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, subject, step, operation, protocol_id, at FROM effect ORDER BY seq"
            ).fetchall()
        keys = ("seq", "subject", "step", "operation", "protocol", "at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- idempotency ----------------------------------------------------------------------------

    def reserve(self, operation: str, key: str, payload_fingerprint: str) -> Reservation:
        """Claim ``key`` for ``operation``, or find the completed result to replay.

        Raises :class:`IdempotencyInProgressError` while the first request is still running and
        :class:`IdempotencyConflictError` when the key was used with another payload.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT fingerprint, state, result FROM idempotency "
                "WHERE operation = ? AND key = ?",
                (operation, key),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO idempotency (operation, key, fingerprint, state, created_at) "
                    "VALUES (?, ?, ?, 'in_progress', ?)",
                    (operation, key, payload_fingerprint, _stamp(self.now())),
                )
                return Reservation(operation, key, None)
            stored_fingerprint, state, result = row
            if stored_fingerprint != payload_fingerprint:
                raise IdempotencyConflictError(
                    "this idempotency key was used with another payload",
                    record_id=key,
                    field="chaveIdempotencia",
                )
            if state != "done":
                raise IdempotencyInProgressError(
                    "a request with this idempotency key is still in progress",
                    record_id=key,
                    field="chaveIdempotencia",
                    retry_after=1,
                )
            return Reservation(operation, key, str(result))

    @staticmethod
    def _complete(db: sqlite3.Connection, reservation: Reservation | None, result: str) -> None:
        # Same transaction as the write itself: the key is done exactly when the work is.
        if reservation is not None:
            db.execute(
                "UPDATE idempotency SET state = 'done', result = ? WHERE operation = ? AND key = ?",
                (result, reservation.operation, reservation.key),
            )

    def release(self, reservation: Reservation) -> None:
        """Forget a reservation whose request failed before doing anything."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM idempotency WHERE operation = ? AND key = ? AND state = 'in_progress'",
                (reservation.operation, reservation.key),
            )

    # -- tokens ---------------------------------------------------------------------------------

    def issue_token(self, token: str, client_id: str, ttl: timedelta) -> None:
        """Remember an OAuth access token until ``ttl`` from now (wall clock, UTC).

        :param token: the opaque bearer token handed out.
        :param client_id: the client it was issued to.
        :param ttl: its lifetime (the REST front end uses 3600 s).
        """
        with self._tx() as db:
            db.execute(
                "INSERT INTO token (token, client_id, expires_at) VALUES (?, ?, ?)",
                (token, client_id, _stamp(datetime.now(UTC) + ttl)),
            )

    def token_valid(self, token: str) -> bool:
        """Whether ``token`` was issued by this store and has not expired (a reset forgets
        every token)."""
        with self._lock:
            row = self._db.execute(
                "SELECT expires_at FROM token WHERE token = ?", (token,)
            ).fetchone()
        return row is not None and row[0] > _stamp(datetime.now(UTC))
