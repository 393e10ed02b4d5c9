"""Schema migrations for the SQLite store, applied in order and recorded in ``schema_version``.

Append new migrations; never edit one that has shipped. A database written by a newer munivideo
(a version this code does not know) is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3

from munivideo.errors import ConfigurationError

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "bindings, cursors, sent messages, outbox with steps and audit trail, quarantine",
        """
        CREATE TABLE binding (
            tenant_id TEXT NOT NULL,
            booking_id TEXT NOT NULL,
            booking TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            room TEXT,
            room_link_recorded TEXT NOT NULL DEFAULT '',
            invitation_uid TEXT NOT NULL DEFAULT '',
            invitation_sequence INTEGER NOT NULL DEFAULT -1,
            invitation_method TEXT NOT NULL DEFAULT '',
            invitation_key TEXT NOT NULL DEFAULT '',
            attendance TEXT,
            external_reference TEXT NOT NULL DEFAULT '',
            protocol_label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, booking_id)
        );
        CREATE INDEX binding_dirty ON binding (tenant_id, fingerprint);
        CREATE TABLE sync_cursor (
            tenant_id TEXT PRIMARY KEY,
            updated_at TEXT NOT NULL,
            record_id TEXT NOT NULL,
            saved_at TEXT NOT NULL
        );
        CREATE TABLE sent_message (
            tenant_id TEXT NOT NULL,
            key TEXT NOT NULL,
            booking_id TEXT NOT NULL,
            reference TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, key)
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant_id TEXT NOT NULL,
            booking_id TEXT NOT NULL,
            external_reference TEXT NOT NULL,
            entry TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            lease_owner TEXT,
            lease_expires_at TEXT,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            last_error_type TEXT,
            receipt TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            delivered_at TEXT,
            UNIQUE (tenant_id, external_reference)
        );
        CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
        CREATE INDEX outbox_lease ON outbox (state, lease_expires_at);
        CREATE TABLE outbox_step (
            outbox_id INTEGER NOT NULL REFERENCES outbox (id),
            step TEXT NOT NULL,
            detail TEXT NOT NULL,
            done_at TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (outbox_id, step)
        );
        CREATE TABLE outbox_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            outbox_id INTEGER NOT NULL REFERENCES outbox (id),
            tenant_id TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX outbox_audit_item ON outbox_audit (outbox_id, id);
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            record_id TEXT NOT NULL,
            field TEXT,
            reason TEXT NOT NULL,
            error_type TEXT NOT NULL,
            raw TEXT NOT NULL,
            occurrences INTEGER NOT NULL DEFAULT 1,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            resolved_at TEXT,
            UNIQUE (tenant_id, kind, record_id)
        );
        """,
    ),
    (
        2,
        "attendance events buffered until the outcome is recorded",
        """
        CREATE TABLE attendance_event (
            tenant_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            booking_id TEXT NOT NULL,
            event TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, event_id)
        );
        CREATE INDEX attendance_event_booking ON attendance_event (tenant_id, booking_id)
        """,
    ),
    (
        3,
        "outbox indexes per tenant (claims, status, keyset pages) and per-tenant counters",
        """
        CREATE INDEX outbox_tenant_due ON outbox (tenant_id, state, next_attempt_at, id);
        CREATE INDEX outbox_tenant_state_id ON outbox (tenant_id, state, id);
        CREATE INDEX outbox_tenant_id ON outbox (tenant_id, id);
        CREATE INDEX quarantine_open ON quarantine (tenant_id, resolved_at, id);
        CREATE TABLE outbox_count (
            tenant_id TEXT PRIMARY KEY,
            pending INTEGER NOT NULL DEFAULT 0,
            in_flight INTEGER NOT NULL DEFAULT 0,
            delivered INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO outbox_count (tenant_id, pending, in_flight, delivered, failed)
            SELECT tenant_id, SUM(state = 'pending'), SUM(state = 'in_flight'),
                SUM(state = 'delivered'), SUM(state = 'failed')
            FROM outbox GROUP BY tenant_id;
        CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox BEGIN
            INSERT OR IGNORE INTO outbox_count (tenant_id) VALUES (NEW.tenant_id);
            UPDATE outbox_count SET pending = pending + (NEW.state = 'pending'),
                in_flight = in_flight + (NEW.state = 'in_flight'),
                delivered = delivered + (NEW.state = 'delivered'),
                failed = failed + (NEW.state = 'failed')
            WHERE tenant_id = NEW.tenant_id;
        END;
        CREATE TRIGGER outbox_count_update AFTER UPDATE OF state ON outbox
        WHEN OLD.state <> NEW.state BEGIN
            UPDATE outbox_count SET
                pending = pending + (NEW.state = 'pending') - (OLD.state = 'pending'),
                in_flight = in_flight + (NEW.state = 'in_flight') - (OLD.state = 'in_flight'),
                delivered = delivered + (NEW.state = 'delivered') - (OLD.state = 'delivered'),
                failed = failed + (NEW.state = 'failed') - (OLD.state = 'failed')
            WHERE tenant_id = NEW.tenant_id;
        END;
        CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox BEGIN
            UPDATE outbox_count SET pending = pending - (OLD.state = 'pending'),
                in_flight = in_flight - (OLD.state = 'in_flight'),
                delivered = delivered - (OLD.state = 'delivered'),
                failed = failed - (OLD.state = 'failed')
            WHERE tenant_id = OLD.tenant_id;
        END
        """,
    ),
    (
        4,
        "write-back steps marked attempted before they are sent (kept across replays)",
        """
        CREATE TABLE outbox_attempt (
            outbox_id INTEGER NOT NULL REFERENCES outbox (id),
            step TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL,
            PRIMARY KEY (outbox_id, step)
        )
        """,
    ),
    (
        5,
        "outbox claim counter: each claim's fencing token, checked by every fenced write",
        """
        ALTER TABLE outbox ADD COLUMN fencing_token INTEGER NOT NULL DEFAULT 0
        """,
    ),
)

LATEST = MIGRATIONS[-1][0]


def _statements(script: str) -> list[str]:
    """Split a script into statements; a trigger body's inner ``;`` does not end one."""
    out, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \n;"):
        out.append(buffer.strip())
    return out


def migrate(conn: sqlite3.Connection, now: str) -> int:
    """Bring the schema to :data:`LATEST`; returns the version found before migrating.

    Runs in one ``BEGIN IMMEDIATE`` transaction, so two processes opening a fresh database at
    the same moment cannot both apply a migration.

    :param now: the time recorded for each migration applied, as
        :func:`munivideo.store.sqlite.stamp` text.
    :raises munivideo.errors.ConfigurationError: the file's schema is newer than this
        munivideo (field ``store.url``): upgrade munivideo rather than write an unknown schema.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        found = int(row[0]) if row[0] is not None else 0
        if found > LATEST:
            raise ConfigurationError(
                f"the store has schema version {found}, newer than this munivideo knows "
                f"({LATEST}); upgrade munivideo",
                field="store.url",
            )
        for version, description, sql in MIGRATIONS:
            if version <= found:
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (version, description, now),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
