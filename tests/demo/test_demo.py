from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from munivideo.cli import main
from munivideo.demo import ERP_CODES, DemoReport, _print_summary, explain, legend

ROOT = Path(__file__).resolve().parents[2]


def _calendars(out: Path, booking_id: str) -> list[Calendar]:
    found = []
    for path in sorted((out / "outbox" / "gravatai" / "email").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        if message["X-Munivideo-Booking"] == booking_id:
            for part in message.walk():
                if part.get_content_type() == "text/calendar":
                    found.append(Calendar.from_ical(part.get_payload(decode=True)))
    return found


def test_demo_runs_the_whole_cycle_and_keeps_the_invariant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "demo-output"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["bookings"] == 30
    assert report["attendances"] == len(report["protocols"]) > 15
    assert report["missing"] == report["duplicated"] == report["unexpected"] == []
    assert report["effects_not_once"] == []  # counted by the ERP, not read back
    assert report["outcomes"]["citizen_no_show"] == 1
    assert report["outcomes"]["technical_failure"] == 1
    fired = report["faults_fired"]
    assert sum(fired.values()) > 0
    assert any("drop_after_commit" in rule and n > 0 for rule, n in fired.items())
    rows = {r["booking_id"]: r for r in report["protocols"]}
    assert rows["AG-000005"]["forwards"] == ["SMF-DIV"]
    assert rows["AG-000005"]["attachments"] == 2
    assert rows["AG-000002"]["outcome"] == "FA"
    assert rows["AG-000002"]["booking_status"] == "FA"
    assert "AG-000004" not in rows  # cancelled: no attendance, no protocol
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["ok"] is True

    # the summary tells the story with this run's numbers, and which bookings are which
    parsed = DemoReport.model_validate(report)
    story = "\n".join(explain(parsed))
    assert sorted(report["erp_statuses"]) == ["AG", "CA", "CF", "RM"]
    assert sum(len(ids) for ids in report["erp_statuses"].values()) == 30
    rooms = len(report["erp_statuses"]["CF"]) + len(report["erp_statuses"]["RM"])
    assert report["rooms"] == rooms
    assert "The ERP had 30 bookings" in story
    assert f"made {rooms} video rooms" in story
    assert ", ".join(sorted(report["erp_statuses"]["AG"])) in story  # the requested ones
    assert f"{report['attendances']} video attendances took place" in story
    assert "the citizen of AG-000004 cancelled it" in story
    assert f"failed {sum(fired.values())} write calls on purpose" in story
    assert "drop_after_commit: the ERP did the write" in story
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: headers on one line
    _print_summary(parsed)
    printed = capsys.readouterr().out
    assert "What the demo did" in printed
    assert "booking status now" in printed and "protocol no./year" in printed
    assert "OK: read back from the ERP" in printed
    assert all(f"{code}  {words}" in legend() for code, words in ERP_CODES.items())

    # invitations on disk: a reschedule (same UID, higher SEQUENCE) and a cancellation
    moved = _calendars(out, "AG-000003")
    uids = {str(c.walk("VEVENT")[0]["uid"]) for c in moved}
    sequences = sorted({int(c.walk("VEVENT")[0]["sequence"]) for c in moved})
    assert len(uids) == 1
    assert sequences[-1] > sequences[0]
    cancel = [c for c in _calendars(out, "AG-000004") if c["method"] == "CANCEL"]
    assert cancel
    assert cancel[0].walk("VEVENT")[0]["status"] == "CANCELLED"


def test_demo_exits_non_zero_when_the_invariant_fails(tmp_path: Path) -> None:
    # every create is refused: nothing reaches the ERP, so the invariant cannot hold
    result = CliRunner().invoke(
        main,
        [
            "demo",
            "--out",
            str(tmp_path),
            "--json",
            "--faults",
            "criarProtocolo=fault:REQUISICAO_INVALIDA",
        ],
    )
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["missing"]


def test_the_account_counts_in_plain_english() -> None:
    # one and many, regular and irregular plurals: "1 delivery", "3 deliveries"
    for retries, words in ((1, "1 delivery had"), (3, "3 deliveries had"), (0, "0 deliveries")):
        story = "\n".join(explain(DemoReport(output="out", delivered=1, retries=retries)))
        assert words in story, story
        assert "1 outcome delivered" in story
        assert "deliverys" not in story


def test_the_packaged_demo_config_matches_the_example() -> None:
    example = (ROOT / "examples" / "demo.toml").read_text(encoding="utf-8")
    packaged = (ROOT / "src" / "munivideo" / "_demo.toml").read_text(encoding="utf-8")
    assert packaged == example
