"""BigBlueButton provider against a checksum-verifying loopback server, plus webhook parsing."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape

import pytest
import requests
import responses
from munivideo_bbb import BbbProvider, BbbSettings, checksum, make_bbb_provider
from pydantic import SecretStr
from urllib3.exceptions import NewConnectionError

from munivideo.attendance import classify
from munivideo.errors import (
    AmbiguousError,
    ConfigurationError,
    ContractViolationError,
    LifecycleError,
    RejectedError,
    TransientError,
)
from munivideo.models import (
    Booking,
    BookingStatus,
    Citizen,
    EventKind,
    Outcome,
    Participant,
    Role,
    Room,
    Servant,
    Tenant,
)
from munivideo.plugins import load_plugins
from munivideo.ports import VideoProvider
from munivideo.testing.peers import dropping_peer

SECRET = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"


@dataclass
class FakeBbb:
    algorithm: str = "sha1"
    meetings: dict[str, dict[str, str]] = field(default_factory=dict)
    attendees: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, query: str) -> str:
        call = path.rsplit("/", 1)[-1]
        self.calls.append(call)
        raw, _, given = query.rpartition("&checksum=")
        expected = hashlib.new(self.algorithm, f"{call}{raw}{SECRET}".encode()).hexdigest()
        if given != expected:
            return _fail("checksumError", "Checksums do not match")
        params = {k: v[0] for k, v in parse_qs(raw).items()}
        meeting_id = params.get("meetingID", "")
        if call == "create":
            duplicate = meeting_id in self.meetings
            self.meetings.setdefault(meeting_id, params)
            self.attendees.setdefault(meeting_id, [])
            warn = "<messageKey>duplicateWarning</messageKey>" if duplicate else ""
            return _ok(f"<meetingID>{escape(meeting_id)}</meetingID>{warn}")
        if meeting_id not in self.meetings:
            return _fail("notFound", "We could not find a meeting with that meeting ID")
        if call == "join":
            if params.get("role") not in ("MODERATOR", "VIEWER") or not params.get("userID"):
                return _fail("invalidRole", "role and userID are required")
            self.attendees[meeting_id].append(
                {"userID": params["userID"], "fullName": params["fullName"], "role": params["role"]}
            )
            return _ok("<messageKey>joined</messageKey>")
        if call == "end":
            if params.get("password") != self.meetings[meeting_id]["moderatorPW"]:
                return _fail("invalidPassword", "wrong moderator password")
            del self.meetings[meeting_id]
            return _ok("<messageKey>sentEndMeetingRequest</messageKey>")
        if call == "getMeetingInfo":
            people = "".join(
                f"<attendee><userID>{escape(a['userID'])}</userID><fullName>{escape(a['fullName'])}</fullName>"
                f"<role>{a['role']}</role></attendee>"
                for a in self.attendees[meeting_id]
            )
            return (
                f"<response><returncode>SUCCESS</returncode><meetingID>{escape(meeting_id)}</meetingID>"
                f"<running>true</running><attendees>{people}</attendees></response>"
            )
        return _fail("unsupportedRequest", call)


def _ok(inner: str) -> str:
    return f"<response><returncode>SUCCESS</returncode>{inner}</response>"


def _fail(key: str, message: str) -> str:
    inner = f"<messageKey>{key}</messageKey><message>{message}</message>"
    return f"<response><returncode>FAILED</returncode>{inner}</response>"


@pytest.fixture
def bbb_server() -> Iterator[FakeBbb]:
    state = FakeBbb()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            body = state.answer(parts.path, parts.query).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/bigbluebutton/api"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


START = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
TENANT = Tenant(id="gravatai", name="Prefeitura de Gravataí")
CITIZEN = Participant(id="citizen", name="Maria da Silva", role=Role.CITIZEN)
SERVANT = Participant(id="S-9", name="Ana Auditora", role=Role.SERVANT)


def booking() -> Booking:
    return Booking(
        id="B-1",
        tenant_id="gravatai",
        service_code="iptu",
        citizen=Citizen(name="Maria da Silva", cpf="52998224725"),
        servant=Servant(registration="S-9", name="Ana Auditora"),
        start=START,
        end=START + timedelta(minutes=30),
        status=BookingStatus.CONFIRMED,
        updated_at=START,
    )


def provider(url: str, **extra: Any) -> BbbProvider:
    settings = {"url": url, "secret": SecretStr(SECRET), "timeout_seconds": 5, **extra}
    return make_bbb_provider(TENANT, settings)


def test_documented_checksum_vector() -> None:
    query = "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
    assert checksum("create", query, SECRET) == "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
    assert len(checksum("create", query, SECRET, "sha256")) == 64
    assert len(checksum("create", query, SECRET, "sha512")) == 128


def test_room_lifecycle_against_loopback_server(bbb_server: FakeBbb) -> None:
    p = provider(bbb_server.url)
    assert isinstance(p, VideoProvider)
    room = p.create_room(booking())
    assert room.provider_ref in bbb_server.meetings
    assert room.name.startswith("mv-") and len(room.name) == 3 + 32
    created = bbb_server.meetings[room.provider_ref]
    assert created["attendeePW"] != created["moderatorPW"]
    p.ensure_meeting(room)  # idempotent: the server answers with a duplicate warning
    assert bbb_server.calls == ["create", "create"]

    servant = p.join_link(room, SERVANT)
    citizen = p.join_link(room, CITIZEN)
    assert parse_qs(urlsplit(servant.url).query)["role"] == ["MODERATOR"]
    assert parse_qs(urlsplit(citizen.url).query)["role"] == ["VIEWER"]
    assert parse_qs(urlsplit(citizen.url).query)["userID"] == ["mv1|B-1|citizen|citizen"]
    for link in (servant, citizen):  # the participant's browser follows the link
        assert b"SUCCESS" in requests.get(link.url, timeout=5).content

    events = p.attendance_report(room)
    assert {(e.role, e.kind) for e in events} == {
        (Role.SERVANT, EventKind.JOIN),
        (Role.CITIZEN, EventKind.JOIN),
    }
    assert {e.booking_id for e in events} == {"B-1"}

    closed = p.close_room(room)
    assert closed.closed and room.provider_ref not in bbb_server.meetings
    assert p.attendance_report(closed) == []
    assert p.close_room(closed).closed  # ending a gone meeting is fine
    with pytest.raises(LifecycleError):
        p.join_link(closed, CITIZEN)


def test_sha256_checksums(bbb_server: FakeBbb) -> None:
    bbb_server.algorithm = "sha256"
    with pytest.raises(ConfigurationError):
        provider(bbb_server.url).create_room(booking())
    room = provider(bbb_server.url, checksum_algorithm="sha256").create_room(booking())
    assert room.provider_ref in bbb_server.meetings


def test_wrong_secret_is_a_configuration_error(bbb_server: FakeBbb) -> None:
    p = make_bbb_provider(
        TENANT, {"url": bbb_server.url, "secret": SecretStr("wrong-secret-" + "0" * 24)}
    )
    with pytest.raises(ConfigurationError) as info:
        p.create_room(booking())
    assert "wrong-secret" not in str(info.value)


def test_reschedule_moves_window_only(bbb_server: FakeBbb) -> None:
    p = provider(bbb_server.url)
    room = p.create_room(booking())
    moved = booking().reschedule(START + timedelta(hours=2), START + timedelta(hours=3), at=START)
    updated = p.update_room(room, moved)
    assert updated.provider_ref == room.provider_ref
    assert updated.valid_until == START + timedelta(hours=3, minutes=30)


@responses.activate
def test_http_faults_map_to_error_types() -> None:
    api = "https://bbb.example.org/bigbluebutton/api"
    p = provider(api)
    room = Room(
        booking_id="B-1",
        provider="bbb",
        name="m",
        base_url=api,
        valid_from=START,
        valid_until=START + timedelta(hours=1),
        provider_ref="m",
    )
    call = f"{api}/getMeetingInfo"
    responses.get(call, status=503)
    with pytest.raises(TransientError):
        p.attendance_report(room)
    responses.replace(responses.GET, call, status=504)
    with pytest.raises(AmbiguousError):
        p.attendance_report(room)
    responses.replace(responses.GET, call, body=b'<!DOCTYPE x [<!ENTITY a "b">]><r>&a;</r>')
    with pytest.raises(ContractViolationError):
        p.attendance_report(room)
    refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    responses.replace(responses.GET, call, body=refused)
    with pytest.raises(TransientError) as info:
        p.attendance_report(room)
    assert not isinstance(info.value, AmbiguousError)
    responses.replace(responses.GET, call, body=requests.ReadTimeout())
    with pytest.raises(AmbiguousError):
        p.attendance_report(room)
    failed = b"<response><returncode>FAILED</returncode><messageKey>tooMany</messageKey></response>"
    responses.replace(responses.GET, call, body=failed)
    with pytest.raises(RejectedError):
        p.attendance_report(room)


def test_a_connection_dropped_after_the_request_was_sent_is_ambiguous() -> None:
    """As in the shared table (munivideo.transport.classify): BBB may have created the meeting,
    so the error must not say the work surely was not done. The peer reads the whole request,
    then closes the connection without answering."""
    with dropping_peer() as (url, seen):
        p = provider(f"{url}/bigbluebutton/api")
        with pytest.raises(AmbiguousError) as info:
            p.create_room(booking())
    assert "create" in info.value.message and info.value.record_id == "B-1"
    assert len(seen) == 1  # the request reached BBB: sent once, not retried here


def hook(kind: str, user_id: str, ts_ms: int) -> dict[str, Any]:
    return {
        "data": {
            "type": "event",
            "id": kind,
            "attributes": {
                "meeting": {"internal-meeting-id": "int-1", "external-meeting-id": "mv-abc"},
                "user": {
                    "internal-user-id": f"w_{user_id[-3:]}",
                    "external-user-id": user_id,
                    "name": "X",
                    "role": "VIEWER",
                },
            },
            "event": {"ts": ts_ms},
        }
    }


def test_webhook_events_to_attendance() -> None:
    p = provider("https://bbb.example.org/bigbluebutton/api", webhook_secret=SecretStr("tok"))
    t = int(START.timestamp() * 1000)
    items = [
        hook("user-joined", "mv1|B-1|servant|S-9", t),
        hook("user-joined", "mv1|B-1|citizen|citizen", t + 60_000),
        hook("user-left", "mv1|B-1|citizen|citizen", t + 900_000),
        hook("meeting-ended", "", t + 1_000_000),
    ]
    auth = {"Authorization": "Bearer tok"}
    form = f"event={quote(json.dumps(items))}&timestamp={t}".encode()
    events = p.parse_webhook(auth, form)
    assert [(e.role, e.kind) for e in events] == [
        (Role.SERVANT, EventKind.JOIN),
        (Role.CITIZEN, EventKind.JOIN),
        (Role.CITIZEN, EventKind.LEAVE),
    ]
    assert events[1].at == START + timedelta(minutes=1)
    assert p.parse_webhook(auth, json.dumps(items).encode()) == events
    assert classify(booking(), events).attendance.outcome is Outcome.ATTENDED
    with pytest.raises(RejectedError):
        p.parse_webhook({}, form)
    with pytest.raises(ContractViolationError):
        p.parse_webhook(auth, b'[{"data": {"id": "user-joined"}}]')


def test_settings_validated_and_registered() -> None:
    with pytest.raises(ConfigurationError) as info:
        make_bbb_provider(TENANT, {"url": "https://x.example/api"})
    assert info.value.field == "video.settings.secret"
    factory = load_plugins(allow=["bbb"], strict=True).video_provider("bbb")
    assert isinstance(
        factory(TENANT, {"url": "https://x.example/api", "secret": SecretStr("s" * 32)}),
        BbbProvider,
    )
    with pytest.raises(ConfigurationError) as info:
        make_bbb_provider(TENANT, {"url": "https://x.example/api", "secret": SecretStr("s" * 31)})
    assert info.value.field == "video.settings.secret" and info.value.record_id == TENANT.id


def test_on_demand_meetings_make_join_links_work_inside_the_window_only(
    bbb_server: FakeBbb,
) -> None:
    now = [START - timedelta(hours=2)]
    p = BbbProvider(
        TENANT,
        BbbSettings(url=bbb_server.url, secret=SecretStr(SECRET), meeting_on_demand=True),
        clock=lambda: now[0],
    )
    assert p.links_expire is False  # the engine routes BBB links through its join redirect
    room = p.create_room(booking())
    assert bbb_server.calls == []  # nothing exists at BBB before the window
    link = p.join_link(room, CITIZEN)
    assert b"notFound" in requests.get(link.url, timeout=5).content  # too early: no meeting
    with pytest.raises(LifecycleError) as early:
        p.ensure_meeting(room)
    assert early.value.field == "room.valid_from"

    now[0] = room.valid_from + timedelta(minutes=1)
    p.ensure_meeting(room)
    created = bbb_server.meetings[room.provider_ref]
    remaining = (room.valid_until - now[0]).total_seconds() / 60
    assert int(created["duration"]) == int(remaining)  # BBB ends it with the window
    assert b"SUCCESS" in requests.get(link.url, timeout=5).content

    now[0] = room.valid_until
    with pytest.raises(LifecycleError) as late:
        p.ensure_meeting(room)
    assert late.value.field == "room.valid_until"
