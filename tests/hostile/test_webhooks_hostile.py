"""Kind 4 of issue 11: webhooks fail closed. A forging client posts to a real loopback
receiver that hands every call to ``ingest_webhook``; the store is the oracle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from munivideo.engine import Engine, sync
from munivideo.store.records import QuarantineKind

from .conftest import TENANT, ErpFactory, record
from .peers import Peer, serve, webhook_receiver

SECRET = "event-sync-shared-secret-0123456789"
ENV_SECRET = {"MV_WEBHOOK": SECRET}


def _video(provider: str, *, secret: bool) -> dict[str, Any]:
    if provider == "jitsi":
        settings: dict[str, Any] = {
            "base_url": "https://meet.gravatai.example.gov.br",
            "app_id": "munivideo-tests",
            "app_secret": {"env": "MV_JITSI"},
        }
    else:
        settings = {"url": "http://127.0.0.1:9/bigbluebutton/api", "secret": {"env": "MV_JITSI"}}
    if secret:
        settings["webhook_secret"] = {"env": "MV_WEBHOOK"}
    return {"provider": provider, "settings": settings}


@pytest.fixture
def receiver(
    hostile_erp: ErpFactory, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[Engine, Peer]]:
    provider, secret = request.param
    from . import conftest

    monkeypatch.setattr(conftest, "ENV", {**conftest.ENV, **ENV_SECRET})
    engine, _ = hostile_erp([[record(1)]], video=_video(provider, secret=secret))
    sync(engine)
    with serve(webhook_receiver(engine)) as peer:
        yield engine, peer


def jitsi_event(booking: str, *, stamp: Any = 1_900_000_000, name: str = "muc-occupant-joined"):  # type: ignore[no-untyped-def]
    return {
        "event_name": name,
        "room_name": "gravatai-abc",
        "occupant": {
            "id": f"mv1|{booking}|citizen|citizen-{booking}",
            "occupant_jid": f"room@conference/{booking}",
            "joined_at": stamp,
        },
    }


def _post(peer: Peer, body: bytes, *, token: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(peer.url + "/webhooks", data=body, headers=headers, timeout=5)


def _events(engine: Engine) -> int:
    return len(engine.store.events_for(TENANT, "AG-000001"))


@pytest.mark.parametrize("receiver", [("jitsi", False), ("bbb", False)], indirect=True)
def test_without_a_secret_every_call_is_refused_and_nothing_kept(
    receiver: tuple[Engine, Peer],
) -> None:
    engine, peer = receiver
    body = json.dumps(jitsi_event("AG-000001")).encode()
    for token in (None, "anything", SECRET):
        assert _post(peer, body, token=token).status_code == 503
    assert _events(engine) == 0
    assert engine.store.list_quarantine(TENANT) == []


@pytest.mark.parametrize("receiver", [("jitsi", True), ("bbb", True)], indirect=True)
def test_forged_calls_are_refused_and_their_bodies_never_stored(
    receiver: tuple[Engine, Peer],
) -> None:
    engine, peer = receiver
    forged = [json.dumps(jitsi_event("AG-000001")).encode(), b"\x00\xff not json", b"[]", b""]
    for body in forged:
        for token in (None, "", "wrong", SECRET[:-1], SECRET + "x", "Bearer " + SECRET):
            assert _post(peer, body, token=token).status_code == 401
    assert _events(engine) == 0
    assert engine.store.list_quarantine(TENANT) == []


MALFORMED: list[bytes] = [
    b"not json",
    b"\xff\xfe",
    b"null",
    b"[1, 2, 3]",
    b'"text"',
    b'{"event_name": "muc-occupant-joined"}',
    b'{"event_name": "muc-occupant-joined", "occupant": []}',
    b'{"event_name": "muc-occupant-joined", "occupant": {"joined_at": "soon"}}',
    json.dumps(jitsi_event("AG-000001", stamp=1e300)).encode(),
    json.dumps(jitsi_event("AG-000001", stamp=float("nan"))).encode(),
    json.dumps(jitsi_event("../../admin", stamp=1)).encode(),
    b"[" * 5000 + b"]" * 5000,
    b"x" * 300_000,
]


@pytest.mark.parametrize("receiver", [("jitsi", True)], indirect=True)
def test_authenticated_malformed_bodies_get_a_typed_error_and_a_quarantine_row(
    receiver: tuple[Engine, Peer],
) -> None:
    engine, peer = receiver
    statuses = [_post(peer, body, token=SECRET).status_code for body in MALFORMED]
    assert 500 not in statuses, statuses  # never a raw exception
    assert all(s in (200, 400) for s in statuses), statuses
    rows = engine.store.list_quarantine(TENANT)
    assert all(r.kind is QuarantineKind.ATTENDANCE for r in rows)
    # every 400 but the oversized body (refused before reading) left a row with its raw body
    assert len(rows) >= statuses.count(400) - 1
    assert _events(engine) == 0


@pytest.mark.parametrize("receiver", [("jitsi", True)], indirect=True)
def test_events_for_unknown_bookings_are_quarantined_and_known_ones_kept(
    receiver: tuple[Engine, Peer],
) -> None:
    engine, peer = receiver
    unknown = _post(peer, json.dumps(jitsi_event("AG-999999")).encode(), token=SECRET)
    assert unknown.status_code == 200 and unknown.json() == {"accepted": 0}
    rows = engine.store.list_quarantine(TENANT)
    assert [(r.record_id, r.field) for r in rows] == [("AG-999999", "booking_id")]
    good = json.dumps(jitsi_event("AG-000001")).encode()
    assert _post(peer, good, token=SECRET).json() == {"accepted": 1}
    assert _post(peer, good, token=SECRET).json() == {"accepted": 0}  # a retry is not new
    assert _events(engine) == 1
