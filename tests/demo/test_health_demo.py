"""``munivideo demo --scenario health`` runs offline end to end and keeps its invariant: one
Encounter (class VR) per teleconsultation, one Consent per attended one, Appointment statuses
written, every stored resource valid for fhir.resources - under faults that really fired."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from munivideo.cli import main


def test_health_demo_runs_a_morning_of_teleconsultations(tmp_path: Path) -> None:
    out = tmp_path / "health"
    result = CliRunner().invoke(main, ["demo", "--scenario", "health", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["problems"] == [] == report["invalid_resources"]
    assert len(report["booked"]) == 2 and report["rescheduled"] in report["booked"]
    rows = {row["booking_id"]: row for row in report["consultations"]}
    assert rows["TC-000005"]["outcome"] == "citizen_no_show"
    assert rows["TC-000005"]["appointment_status"] == "noshow"
    assert rows["TC-000006"]["outcome"] == "technical_failure"
    assert rows["TC-000001"]["referrals"] == rows["TC-000001"]["documents"] == 1
    assert "TC-000003" not in rows  # cancelled before the morning
    attended = [r for r in rows.values() if r["outcome"] == "attended"]
    assert attended and all(r["consents"] == 1 == r["encounters"] for r in attended)
    assert report["faults_fired"] > 0
    assert report["resources_checked"] > 100
    assert (out / "report.json").is_file()


def test_every_write_back_step_answered_by_a_dropped_connection_lands_once(
    tmp_path: Path,
) -> None:
    """Each kind of write fails once after the server committed it (or before it ran): the
    server still executes each Encounter, Consent, document and referral exactly once."""
    from munivideo.demo_health import run_health_demo

    faults = (
        "transaction=drop_after_commit#2,createDocumentReference=drop_after_commit#1,"
        "createServiceRequest=drop_after_commit#1,updateAppointment=drop#1,"
        "updateAppointment=drop_after_commit#1,searchEncounter=unavailable:0#1"
    )
    report = run_health_demo(tmp_path / "health", faults=faults)
    assert report.ok, report.problems
    outcomes = [row.outcome for row in report.consultations]
    attended = outcomes.count("attended")
    assert report.faults_fired == 7
    assert report.effects["create:Encounter"] == len(outcomes)
    assert report.effects["create:Consent"] == attended
    assert report.effects["create:DocumentReference"] == 1
    assert report.effects["create:ServiceRequest"] == 1
    # attended: arrived then fulfilled; every other outcome: one status version.
    assert report.effects["update:Appointment"] == 2 * attended + len(outcomes) - attended
