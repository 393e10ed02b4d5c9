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
)

LATEST = MIGRATIONS[-1][0]


def migrate(conn: sqlite3.Connection, now: str) -> int:
    """Bring the schema to :data:`LATEST`; returns the version found before migrating.

    Runs in one ``BEGIN IMMEDIATE`` transaction, so two processes opening a fresh database at
    the same moment cannot both apply a migration.
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
            for statement in (s.strip() for s in sql.split(";")):
                if statement:
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
