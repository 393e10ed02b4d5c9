"""The plugin system: real distributions discovered through entry points, failures isolated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from munivideo import Booking, Tenant, VetoedError, hookimpl
from munivideo.errors import PluginError
from munivideo.plugins import load_plugins

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plugins"
TENANT = Tenant(id="gravatai", name="Prefeitura de Gravataí")
START = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def _booking() -> Booking:
    return Booking.model_validate(
        {
            "id": "AG-1",
            "tenant_id": "gravatai",
            "service_code": "IPTU",
            "citizen": {"name": "Ana", "cpf": "52998224725"},
            "start": START,
            "end": START + timedelta(minutes=30),
            "updated_at": START,
        }
    )


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the fixture distributions (real wheels, real entry points) into a folder."""
    target = tmp_path_factory.mktemp("site")
    for dist in ("munivideo-hello", "munivideo-broken"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--target",
                str(target),
                str(FIXTURES / dist),
            ],
            check=True,
            capture_output=True,
        )
    return target


def _munivideo(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MUNIVIDEO_")}
    environ["PYTHONPATH"] = str(site)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "munivideo", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def test_installed_plugin_is_discovered_and_broken_one_reported(plugin_site: Path) -> None:
    result = _munivideo(plugin_site, "plugins", "--json")
    data = json.loads(result.stdout)
    hello = next(p for p in data["plugins"] if p["name"] == "hello")
    assert hello["version"] == "1.2.3"
    assert hello["source"] == "entrypoint"
    assert hello["hooks"] == ["booking_received", "register_notifiers"]
    assert data["notifiers"]["hello"] == "hello"
    assert data["notifiers"]["file"] == "munivideo.file_notifier"
    [failure] = [f for f in data["failures"] if f["name"] == "broken"]
    assert failure["stage"] == "load"
    assert "broken on purpose" in failure["error"]
    assert result.returncode == 1  # a failed plugin is visible to CI, but did not crash the host


def test_allow_list_and_strict_mode(plugin_site: Path) -> None:
    allowed = _munivideo(plugin_site, "plugins", "--json", MUNIVIDEO_LOAD_PLUGINS="hello")
    assert allowed.returncode == 0, allowed.stderr
    data = json.loads(allowed.stdout)
    assert [p["name"] for p in data["plugins"] if p["source"] == "entrypoint"] == ["hello"]
    assert data["failures"] == []
    strict = _munivideo(plugin_site, "plugins", MUNIVIDEO_STRICT_PLUGINS="1")
    assert strict.returncode == 2
    assert "broken" in strict.stderr and "Traceback" not in strict.stderr


def test_event_hooks_chain_enrichment_in_order() -> None:
    class First:
        @hookimpl(tryfirst=True)
        def booking_received(self, tenant: Tenant, booking: Booking) -> Booking:
            return booking.model_copy(update={"notes": booking.notes + "a"})

    class Second:
        @hookimpl
        def booking_received(self, tenant: Tenant, booking: Booking) -> Booking | None:
            return booking.model_copy(update={"notes": booking.notes + "b"})

    class Passive:
        @hookimpl
        def booking_received(self, tenant: Tenant, booking: Booking) -> None:
            return None

    plugins = load_plugins(
        entry_points=False, extra=[("first", First()), ("second", Second()), ("p", Passive())]
    )
    assert plugins.booking_received(TENANT, _booking()).notes == "ab"


def test_veto_propagates_and_crashes_are_isolated_unless_strict() -> None:
    class Veto:
        @hookimpl
        def booking_received(self, tenant: Tenant, booking: Booking) -> None:
            raise VetoedError("service closed on holidays", record_id=booking.id, field="start")

    class Crash:
        @hookimpl
        def booking_received(self, tenant: Tenant, booking: Booking) -> None:
            raise ZeroDivisionError("oops")

    vetoing = load_plugins(entry_points=False, extra=[("veto", Veto())])
    with pytest.raises(VetoedError) as info:
        vetoing.booking_received(TENANT, _booking())
    assert info.value.record_id == "AG-1"

    lenient = load_plugins(entry_points=False, strict=False, extra=[("crash", Crash())])
    assert lenient.booking_received(TENANT, _booking()) == _booking()
    assert lenient.failures[-1].name == "crash"
    assert lenient.failures[-1].stage == "booking_received"

    strict = load_plugins(entry_points=False, strict=True, extra=[("crash", Crash())])
    with pytest.raises(PluginError, match="crash"):
        strict.booking_received(TENANT, _booking())


def test_wrong_return_type_is_reported() -> None:
    class Wrong:
        @hookimpl
        def booking_received(self, tenant: Tenant, booking: Booking) -> object:
            return {"id": "x"}

    plugins = load_plugins(entry_points=False, strict=False, extra=[("wrong", Wrong())])
    assert plugins.booking_received(TENANT, _booking()) == _booking()
    assert "expected Booking" in plugins.failures[-1].error


def test_registration_collisions_and_bad_registrations_are_reported() -> None:
    def factory(tenant: Tenant, settings: Any) -> Any:
        return object()

    class Dup:
        @hookimpl
        def register_notifiers(self, register: Callable[[str, Any], None]) -> None:
            register("file", factory)

    class NotCallable:
        @hookimpl
        def register_erp_adapters(self, register: Callable[[str, Any], None]) -> None:
            register("x", 42)

    class Video:
        @hookimpl
        def register_video_providers(self, register: Callable[[str, Any], None]) -> None:
            register("fake-video", factory)

    plugins = load_plugins(
        entry_points=False, extra=[("dup", Dup()), ("nc", NotCallable()), ("video", Video())]
    )
    assert plugins.video_provider("fake-video") is factory
    assert plugins.video_providers["fake-video"].plugin == "video"
    errors = {f.name: f.error for f in plugins.failures}
    assert "already registered by munivideo.file_notifier" in errors["dup"]
    assert "non-callable" in errors["nc"]
    assert plugins.notifiers["file"].plugin == "munivideo.file_notifier"
    with pytest.raises(PluginError, match="no ERP adapter named 'x'") as info:
        plugins.erp_adapter("x")
    assert info.value.field == "erp.adapter"
    with pytest.raises(PluginError):
        load_plugins(entry_points=False, strict=True, extra=[("dup", Dup())])


def test_room_invitation_entry_and_outcome_hooks_are_called() -> None:
    calls: list[str] = []

    class Recorder:
        @hookimpl
        def room_created(self, tenant: Tenant, booking: Booking, room: Any) -> None:
            calls.append("room_created")

        @hookimpl
        def invitation_rendered(self, tenant: Tenant, booking: Booking, invitation: Any) -> None:
            calls.append("invitation_rendered")

        @hookimpl
        def protocol_entry_prepared(self, tenant: Tenant, attendance: Any, entry: Any) -> None:
            calls.append("protocol_entry_prepared")

        @hookimpl
        def outcome_written(self, tenant: Tenant, entry: Any, receipt: Any) -> None:
            calls.append("outcome_written")
            raise RuntimeError("a crash after the write must not undo it")

    from munivideo.models import (
        Applicant,
        Attendance,
        Invitation,
        InvitationMethod,
        Locale,
        Outcome,
        ProtocolEntry,
        ProtocolReceipt,
        Room,
    )

    plugins = load_plugins(entry_points=False, extra=[("rec", Recorder())])
    booking = _booking()
    room = Room(
        booking_id="AG-1",
        provider="jitsi",
        name="r",
        base_url="https://m",
        valid_from=START,
        valid_until=START,
    )
    assert plugins.room_created(TENANT, booking, room) == room
    inv = Invitation(
        booking_id="AG-1",
        uid="u",
        sequence=0,
        method=InvitationMethod.REQUEST,
        locale=Locale.PT_BR,
        subject="s",
        text="t",
        html="h",
        sms="s",
        whatsapp="w",
        ics=b"",
    )
    assert plugins.invitation_rendered(TENANT, booking, inv) == inv
    attendance = Attendance(booking_id="AG-1", tenant_id="gravatai", outcome=Outcome.ATTENDED)
    entry = ProtocolEntry(
        external_reference="munivideo:gravatai:AG-1",
        tenant_id="gravatai",
        booking_id="AG-1",
        subject_code="101",
        applicant=Applicant(name="Ana", cpf="52998224725"),  # type: ignore[arg-type]
        department_code="FAZ",
        opened_at=START,
        summary="ok",
        outcome=Outcome.ATTENDED,
    )
    assert plugins.protocol_entry_prepared(TENANT, attendance, entry) == entry
    receipt = ProtocolReceipt(external_reference="x", number=1, year=2026, created_at=START)
    plugins.outcome_written(TENANT, entry, receipt)
    assert calls == [
        "room_created",
        "invitation_rendered",
        "protocol_entry_prepared",
        "outcome_written",
    ]
    assert plugins.failures[-1].stage == "outcome_written"


def test_trace_logs_every_hook_call(caplog: pytest.LogCaptureFixture) -> None:
    class Passive:
        @hookimpl
        def booking_received(self, tenant: Tenant, booking: Booking) -> None:
            return None

    plugins = load_plugins(entry_points=False, trace=True, extra=[("passive", Passive())])
    with caplog.at_level("INFO", logger="munivideo.plugins"):
        plugins.booking_received(TENANT, _booking())
    assert "hook booking_received -> passive" in caplog.text
