"""What only the SQLite store has: its file, its pragmas, its own schema versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from munivideo.errors import ConfigurationError
from munivideo.store import SqliteStore, open_store
from munivideo.store.migrations import LATEST


def test_schema_is_versioned_wal_and_reopen_is_a_no_op(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "a.db")
    assert first.schema_version_found == 0
    assert first.schema_version() == LATEST
    first.close()
    again = SqliteStore(tmp_path / "a.db")
    assert again.schema_version_found == LATEST
    mode = again._read("PRAGMA journal_mode")[0][0]
    assert mode == "wal"
    assert int(again._read("PRAGMA busy_timeout")[0][0]) >= 1000
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "a.db").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("INSERT INTO schema_version VALUES (?, 'future', 'x')", (LATEST + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ConfigurationError, match="newer"):
        SqliteStore(tmp_path / "a.db")


def test_open_store_urls(tmp_path: Path) -> None:
    s = open_store("sqlite:///sub/x.db", base=tmp_path)
    assert (tmp_path / "sub" / "x.db").exists()
    s.close()
    open_store("sqlite:///:memory:").close()
    for url in ("mysql://db/x", "postgresql://u:secret@db/x"):
        with pytest.raises(ConfigurationError) as info:
            open_store(url)
        assert info.value.field == "store.url"
        assert "secret" not in str(info.value)


def test_an_older_schema_is_migrated_forward(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "old.db").close()
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("DROP TABLE attendance_event")
    for index in ("outbox_tenant_due", "outbox_tenant_state_id", "outbox_tenant_id"):
        conn.execute(f"DROP INDEX {index}")
    conn.execute("DROP INDEX quarantine_open")
    for trigger in ("insert", "update", "delete"):
        conn.execute(f"DROP TRIGGER outbox_count_{trigger}")
    conn.execute("DROP TABLE outbox_count")
    conn.execute("DROP TABLE outbox_attempt")
    conn.execute("ALTER TABLE outbox DROP COLUMN fencing_token")
    conn.execute("DELETE FROM schema_version WHERE version > 1")
    conn.commit()
    conn.close()
    store = SqliteStore(tmp_path / "old.db")
    assert store.schema_version_found == 1
    assert store.schema_version() == LATEST
    assert store.events_for("gravatai", "AG-1") == []
    store.close()
