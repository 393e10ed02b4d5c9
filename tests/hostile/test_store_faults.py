"""Kind 8 of issue 11: store faults are typed and never double a send."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path

import pytest

from munivideo.engine import sync
from munivideo.errors import ConfigurationError, MunivideoError
from munivideo.models import DeliveryReceipt, OutboundMessage
from munivideo.store.sqlite import SqliteStore, open_store

from .conftest import TENANT, ErpFactory, record


def test_a_corrupt_store_file_is_a_configuration_error_naming_store_url(tmp_path: Path) -> None:
    path = tmp_path / "munivideo.db"
    path.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(ConfigurationError) as caught:
        open_store(f"sqlite:///{path}")
    assert caught.value.field == "store.url"


def test_the_cli_exits_2_on_a_corrupt_store(hostile_erp: ErpFactory, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from munivideo.cli import main

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"\x00garbage" * 512)
    config = tmp_path / "t.toml"
    config.write_text(
        "[tenant]\nid = 'gravatai'\nname = 'G'\n"
        "[erp]\nadapter = 'rest'\n[erp.settings]\nbase_url = 'http://127.0.0.1:9'\n"
        "[video]\nprovider = 'jitsi'\n[video.settings]\nuse_jwt = false\n"
        "base_url = 'https://meet.example.gov.br'\n"
        f"[store]\nurl = 'sqlite:///{corrupt}'\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["sync", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "store.url" in result.output
    assert "Traceback" not in result.output


def _open(path: str) -> int:
    store = SqliteStore(path)
    try:
        return store.schema_version()
    finally:
        store.close()


def test_eight_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(2):
        path = str(tmp_path / f"new-{round_}.db")
        with context.Pool(8) as pool:
            versions = pool.map(_open, [path] * 8)
        assert len(set(versions)) == 1 and versions[0] > 0


class FillsTheDisk:
    """A notifier that cannot dedupe (as SMTP): counts sends, and the first one makes the
    store unable to write (SQLite's ``query_only``, as a full disk would) right after the
    message left."""

    name = "counting"
    dedupes = False

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.sends: Counter[str] = Counter()
        self.full = False

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.sends[message.idempotency_key] += 1
        if not self.full:
            self.full = True
            conn = self.store._conn
            conn.execute("PRAGMA query_only = ON")
        return DeliveryReceipt(
            notifier=self.name,
            booking_id=message.booking_id,
            reference=message.idempotency_key,
            delivered_at=message_time(),
        )


def message_time():  # type: ignore[no-untyped-def]
    from munivideo.values import utcnow

    return utcnow()


def test_a_full_disk_between_send_and_mark_never_sends_twice(hostile_erp: ErpFactory) -> None:
    engine, erp = hostile_erp([[record(1)]])
    notifier = FillsTheDisk(engine.store)  # type: ignore[arg-type]
    engine.notifiers = [notifier]
    try:  # the mark cannot be written: a typed error, or the booking deferred; never raw
        first = sync(engine)
        assert first.deferred == 1
    except MunivideoError:
        pass
    assert sum(notifier.sends.values()) == 1
    engine.store._conn.execute("PRAGMA query_only = OFF")
    again = sync(engine)
    assert all(n == 1 for n in notifier.sends.values()), notifier.sends
    assert again.unconfirmed == 1  # the one message whose fate is unknown is reported
    assert engine.store.get_binding(TENANT, "AG-000001") is not None
    # The ERP room link is an idempotent PUT of the same link: told again after the store lost
    # its mark, the ERP's state is unchanged. No second room was made.
    assert erp.room_links["AG-000001"] <= 2
    assert again.rooms_created == 0
