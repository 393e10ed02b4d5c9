"""Jitsi provider: rooms, JWTs checked by PyJWT, event_sync webhooks, plugin registration."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from munivideo_jitsi import JitsiProvider, make_jitsi_provider
from pydantic import SecretStr

from munivideo.attendance import classify
from munivideo.config import parse_config
from munivideo.errors import (
    ConfigurationError,
    ContractViolationError,
    LifecycleError,
    RejectedError,
)
from munivideo.models import (
    Booking,
    BookingStatus,
    Citizen,
    EventKind,
    Outcome,
    Participant,
    Role,
    Servant,
    Tenant,
)
from munivideo.plugins import load_plugins
from munivideo.ports import VideoProvider

SECRET = "jitsi-app-secret-for-tests-0123456789"
START = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
TENANT = Tenant(id="gravatai", name="Prefeitura de Gravataí")
CITIZEN = Participant(
    id="citizen", name="Maria da Silva", email="maria@example.org", role=Role.CITIZEN
)
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


def provider(**extra: Any) -> JitsiProvider:
    settings: dict[str, Any] = {
        "base_url": "https://meet.gravatai.example",
        "app_id": "munivideo",
        "app_secret": SecretStr(SECRET),
        "audience": "jitsi",
        "webhook_secret": SecretStr("hook-secret"),
        **extra,
    }
    return make_jitsi_provider(TENANT, settings)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["jwt"][0]


def decode(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience="jitsi",
        issuer="munivideo",
        options={"verify_exp": False, "verify_nbf": False},
    )
    return claims


def test_is_a_video_provider() -> None:
    assert isinstance(provider(), VideoProvider)


def test_room_names_are_lowercase_and_unguessable() -> None:
    p = provider()
    names = {p.create_room(booking()).name for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"gravatai-[0-9a-f]{32}", name)  # 32 hex digits = 128 bits


def test_jwt_claims_per_participant() -> None:
    p = provider()
    room = p.create_room(booking())
    citizen = p.join_link(room, CITIZEN)
    servant = p.join_link(room, SERVANT)
    assert citizen.url.startswith(f"https://meet.gravatai.example/{room.name}?jwt=")
    c, s = decode(token_of(citizen.url)), decode(token_of(servant.url))
    assert c["room"] == room.name == room.name.lower()
    assert c["sub"] == "meet.gravatai.example"
    assert c["nbf"] == int((START - timedelta(minutes=15)).timestamp())
    assert c["exp"] == int((START + timedelta(minutes=60)).timestamp())
    assert c["context"]["user"] == {
        "id": "mv1|B-1|citizen|citizen",
        "name": "Maria da Silva",
        "email": "maria@example.org",
        "moderator": False,
    }
    assert s["context"]["user"]["moderator"] is True
    assert citizen.expires_at == room.valid_until
    assert "jwt" not in repr(citizen) and "<redacted>" in repr(citizen)


def test_jwt_window_is_enforced_by_pyjwt() -> None:
    p = provider(early_open_minutes=5, grace_minutes=10)
    room = p.create_room(booking())
    token = token_of(p.join_link(room, CITIZEN).url)
    opts = {"audience": "jitsi", "issuer": "munivideo", "algorithms": ["HS256"]}
    # nbf is in the future (the slot is in December 2026): PyJWT refuses it now.
    with pytest.raises(jwt.ImmatureSignatureError):
        jwt.decode(token, SECRET, **opts)  # type: ignore[arg-type]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-of-sufficient-length!", **opts)  # type: ignore[arg-type]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            token, SECRET, audience="other", algorithms=["HS256"], options={"verify_nbf": False}
        )


def test_reschedule_keeps_name_and_moves_window_close_refuses_links() -> None:
    p = provider()
    room = p.create_room(booking())
    moved = booking().reschedule(
        START + timedelta(days=1), START + timedelta(days=1, minutes=30), at=START
    )
    updated = p.update_room(room, moved)
    assert updated.name == room.name
    assert updated.valid_from == room.valid_from + timedelta(days=1)
    assert decode(token_of(p.join_link(updated, CITIZEN).url))["exp"] == int(
        updated.valid_until.timestamp()
    )
    closed = p.close_room(updated)
    with pytest.raises(LifecycleError) as info:
        p.join_link(closed, CITIZEN)
    assert info.value.record_id == "B-1"
    with pytest.raises(LifecycleError):
        p.update_room(closed, moved)


def test_public_server_mode_has_no_jwt() -> None:
    p = make_jitsi_provider(TENANT, {"base_url": "https://meet.jit.si", "use_jwt": False})
    room = p.create_room(booking())
    link = p.join_link(room, CITIZEN)
    assert "jwt=" not in link.url
    assert link.url.startswith(f"https://meet.jit.si/{room.name}")


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError) as info:
        make_jitsi_provider(TENANT, {"base_url": "https://meet.example"})
    assert info.value.field == "video.settings"
    with pytest.raises(ConfigurationError):
        make_jitsi_provider(TENANT, {"base_url": "not a url", "use_jwt": False})


def test_short_app_secret_is_refused_at_parse_time() -> None:
    # RFC 7518 section 3.2: an HS256 key shorter than 256 bits MUST NOT be used.
    with pytest.raises(ConfigurationError) as info:
        provider(app_secret=SecretStr("12345"))
    assert info.value.field == "video.settings.app_secret" and info.value.record_id == TENANT.id
    assert "12345" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        provider(app_secret=SecretStr("x" * 31))
    assert info.value.field == "video.settings.app_secret"
    provider(app_secret=SecretStr("x" * 32))
    # HS512 needs a key as long as its hash: 64 bytes.
    with pytest.raises(ConfigurationError) as info:
        provider(app_secret=SecretStr("x" * 63), algorithm="HS512")
    assert info.value.field == "video.settings.app_secret"
    provider(app_secret=SecretStr("x" * 64), algorithm="HS512")


def occupant_event(name: str, user_id: str, at: float, jid: str = "room@conf/abc") -> bytes:
    stamp = "joined_at" if name.endswith("joined") else "left_at"
    return json.dumps(
        {
            "event_name": name,
            "room_name": "gravatai-0123",
            "room_jid": "gravatai-0123@conference.meet.gravatai.example",
            "is_breakout": False,
            "occupant": {"id": user_id, "name": "X", "email": "", "occupant_jid": jid, stamp: at},
        }
    ).encode()


AUTH = {"Authorization": "Bearer hook-secret"}


def test_event_sync_webhook_to_attendance() -> None:
    p = provider()
    t = START.timestamp()
    calls = [
        occupant_event("muc-occupant-joined", "mv1|B-1|servant|S-9", t, "r@c/s"),
        occupant_event("muc-occupant-joined", "mv1|B-1|citizen|citizen", t + 60, "r@c/c"),
        occupant_event("muc-occupant-left", "mv1|B-1|citizen|citizen", t + 900, "r@c/c"),
        occupant_event("muc-occupant-left", "mv1|B-1|servant|S-9", t + 960, "r@c/s"),
    ]
    events = [e for body in calls for e in p.parse_webhook(AUTH, body)]
    assert [(e.role, e.kind) for e in events] == [
        (Role.SERVANT, EventKind.JOIN),
        (Role.CITIZEN, EventKind.JOIN),
        (Role.CITIZEN, EventKind.LEAVE),
        (Role.SERVANT, EventKind.LEAVE),
    ]
    assert events[1].at == START + timedelta(minutes=1)
    # a retried webhook gives the same event id, so it is counted once
    again = p.parse_webhook(AUTH, calls[1])
    assert again[0].event_id == events[1].event_id
    assert classify(booking(), events + again).attendance.outcome is Outcome.ATTENDED


def test_event_sync_webhook_checks_and_errors() -> None:
    p = provider()
    body = occupant_event("muc-occupant-joined", "mv1|B-1|citizen|citizen", 1.0)
    with pytest.raises(RejectedError):
        p.parse_webhook({}, body)
    with pytest.raises(RejectedError):
        p.parse_webhook({"Authorization": "Bearer wrong"}, body)
    with pytest.raises(ContractViolationError):
        p.parse_webhook(AUTH, b"{not json")
    with pytest.raises(ContractViolationError) as info:
        p.parse_webhook(
            AUTH,
            json.dumps({"event_name": "muc-occupant-joined", "occupant": {"id": "x"}}).encode(),
        )
    assert info.value.field == "occupant.joined_at"
    assert p.parse_webhook(AUTH, json.dumps({"event_name": "muc-room-created"}).encode()) == []
    anonymous = occupant_event("muc-occupant-joined", "guest-42", 1.0)
    assert p.parse_webhook(AUTH, anonymous) == []


def test_registered_by_entry_point() -> None:
    plugins = load_plugins(allow=["jitsi"], strict=True)
    factory = plugins.video_provider("jitsi")
    assert isinstance(
        factory(TENANT, {"base_url": "https://m.example", "use_jwt": False}), JitsiProvider
    )


def test_settings_from_tenant_toml_with_env_secret() -> None:
    config = parse_config(
        tomllib.loads(
            """
            [tenant]
            id = "gravatai"
            name = "Prefeitura de Gravataí"
            [erp]
            adapter = "rest"
            [video]
            provider = "jitsi"
            [video.settings]
            base_url = "https://meet.gravatai.example"
            app_id = "munivideo"
            app_secret = { env = "JITSI_APP_SECRET" }
            """
        ),
        env={"JITSI_APP_SECRET": SECRET},
    )
    p = make_jitsi_provider(config.tenant, config.video.settings)
    assert SECRET not in repr(p.settings)
    room = p.create_room(booking())
    assert decode(token_of(p.join_link(room, SERVANT).url))["context"]["user"]["moderator"] is True


def _hash_params(url: str) -> dict[str, Any]:
    """Read the fragment as Jitsi's ``parseURLParams`` does: ``key=value`` pairs split on ``&``,
    each value percent-decoded and then parsed as JSON."""
    from urllib.parse import unquote

    fragment = urlsplit(url).fragment
    out: dict[str, Any] = {}
    for part in fragment.split("&"):
        key, _, value = part.partition("=")
        out[key] = json.loads(unquote(value))
    return out


@pytest.mark.parametrize(
    "name", ['Padaria "Pão Quente" & Cia', "Maria da Silva", "O'Brien #1 = 100% \\ ok"]
)
def test_display_name_is_url_encoded_json(name: str) -> None:
    p = provider()
    room = p.create_room(booking())
    link = p.join_link(room, Participant(id="c", name=name, role=Role.CITIZEN))
    assert _hash_params(link.url) == {"userInfo.displayName": name}
    assert "&" not in urlsplit(link.url).fragment  # the name's & does not split the fragment
    claims = decode(token_of(link.url))
    assert claims["context"]["user"]["name"] == name
