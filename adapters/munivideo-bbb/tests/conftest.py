"""A tiny BigBlueButton-API-compatible server on loopback that verifies every checksum."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest

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
