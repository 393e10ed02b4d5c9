"""Generated webhook bodies, authenticated, posted to a real loopback receiver: every call gets
a typed answer (never a raw exception), every unreadable body leaves a quarantine row, events
are kept only for known bookings, and a repeated call keeps nothing new."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hostile.conftest import ENV, record, tenant_data
from hostile.peers import HostileErp, Peer, serve, webhook_receiver
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from munivideo.config import parse_config
from munivideo.engine import Engine, build_engine, sync
from munivideo.plugins import load_plugins

from .conftest import PROFILE, Tally
from .strategies import JSON, NASTY

SECRET = "event-sync-shared-secret-0123456789"
TENANT = "gravatai"


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Engine, Peer]]:
    erp = HostileErp([[record(1)]])
    with tempfile.TemporaryDirectory() as folder, serve(erp.route) as erp_peer:
        video = {
            "provider": "jitsi",
            "settings": {
                "base_url": "https://meet.gravatai.example.gov.br",
                "app_id": "munivideo-tests",
                "app_secret": {"env": "MV_JITSI"},
                "webhook_secret": {"env": "MV_WEBHOOK"},
            },
        }
        data = tenant_data(erp_peer.url, Path(folder), video=video)
        engine = build_engine(
            parse_config(data, env={**ENV, "MV_WEBHOOK": SECRET}), plugins=load_plugins()
        )
        sync(engine)
        with serve(webhook_receiver(engine)) as peer:
            yield engine, peer
        engine.close()
        engine.store.close()


@st.composite
def jitsi_shaped(draw: st.DrawFn) -> Any:
    booking = draw(st.sampled_from(["AG-000001", "AG-000001", "AG-424242"]) | NASTY)
    occupant: dict[str, Any] = {
        "id": draw(st.just(f"mv1|{booking}|citizen|citizen-{booking}") | NASTY | JSON),
        "occupant_jid": draw(st.text(max_size=12) | NASTY),
        "joined_at": draw(st.integers(0, 2_000_000_000) | NASTY | JSON),
        "left_at": draw(st.integers(0, 2_000_000_000) | NASTY),
    }
    body: dict[str, Any] = {
        "event_name": draw(
            st.sampled_from(["muc-occupant-joined", "muc-occupant-left", "muc-room-created"])
            | NASTY
        ),
        "room_name": draw(st.text(max_size=12) | NASTY),
        "occupant": draw(st.just(occupant) | NASTY | JSON),
    }
    return body


BODIES = (
    jitsi_shaped().map(lambda d: json.dumps(d).encode())
    | JSON.map(lambda d: json.dumps(d).encode())
    | st.binary(max_size=64)
)


def _stored_elsewhere(engine: Engine) -> int:
    rows = engine.store._read(
        "SELECT COUNT(*) AS n FROM attendance_event WHERE booking_id != 'AG-000001'"
    )
    return int(rows[0]["n"])


@seed(20261130)
@settings(settings.get_profile(PROFILE))
@given(body=BODIES)
def test_every_authenticated_body_gets_a_typed_answer_and_nothing_leaks(
    receiver: tuple[Engine, Peer], body: bytes, tally: Tally
) -> None:
    engine, peer = receiver
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    first = requests.post(peer.url + "/hook", data=body, headers=headers, timeout=10)
    again = requests.post(peer.url + "/hook", data=body, headers=headers, timeout=10)
    typed = first.status_code in (200, 400) and again.status_code == first.status_code
    digest = hashlib.sha256(body).hexdigest()[:16]
    rows = {q.record_id for q in engine.store.list_quarantine(TENANT, limit=100_000)}
    lost = int(first.status_code == 400 and f"webhook:{digest}" not in rows)
    repeated = int(first.status_code == 200 and again.json().get("accepted") != 0)
    leaked = _stored_elsewhere(engine)
    good = first.status_code == 200 and first.json().get("accepted") == 1
    tally.add(
        "webhook-body",
        tried=1,
        bad=int(not good),
        handled=int(typed and not lost),
        lost=lost + int(not typed),
        duplicated=repeated,
    )
    assert typed, (first.status_code, first.text)
    assert lost == 0
    assert repeated == 0
    assert leaked == 0
