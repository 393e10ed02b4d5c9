"""Negative tests: no page without a role, no POST without the session's CSRF token, cookies
and headers as documented. Starlette's TestClient is enough here: these are HTTP rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine.conftest import TENANT, plugins_for_tests
from starlette.testclient import TestClient

from munivideo.api import Munivideo
from munivideo.console import create_app
from munivideo.console.users import Authenticator, ConsoleRole, ConsoleUser, UsersFile
from munivideo.console.web import ConsoleSettings
from munivideo.models import Tenant

from .conftest import FAST_HASHER, PASSWORD, ConsoleEnv, console_config, csrf_of, sign_in

SERVANT_PAGES = ["/agenda", "/bookings/AG-000001", "/bookings/AG-000001/writeback"]
OPERATOR_PAGES = ["/outbox", "/outbox/1", "/quarantine", "/health"]
POSTS = [
    "/bookings/AG-000001/outcome",
    "/outbox/1/replay",
    "/outbox/1/requeue",
    "/outbox/1/done",
    "/quarantine/1/readmit",
]


def test_no_page_without_signing_in(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    for path in SERVANT_PAGES + OPERATOR_PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    token = csrf_of(client.get("/login").text)  # a valid token does not replace a sign-in
    for path in POSTS:
        answer = client.post(path, data={"csrf_token": token, "reason": "x"})
        assert answer.status_code == 403, path
    assert console_env.mv.outbox() == []


def test_each_role_sees_only_its_pages(console_env: ConsoleEnv) -> None:
    servant = TestClient(console_env.app)
    sign_in(servant, "ana")
    for path in OPERATOR_PAGES:
        assert servant.get(path).status_code == 403, path
    operator = TestClient(console_env.app)
    sign_in(operator, "rui")
    for path in SERVANT_PAGES:
        assert operator.get(path).status_code == 403, path
    assert servant.get("/agenda").status_code == 200
    assert operator.get("/outbox").status_code == 200


def test_a_servant_cannot_open_another_servants_booking(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    token = sign_in(client, "joao")  # AF-0002; AG-000001 belongs to AF-0001
    assert client.get("/bookings/AG-000001").status_code == 403
    answer = client.post(
        "/bookings/AG-000001/outcome", data={"csrf_token": token, "outcome": "attended"}
    )
    assert answer.status_code == 403
    assert console_env.mv.outbox() == []


@pytest.mark.parametrize("variant", ["missing", "wrong", "other-session", "cross-origin"])
def test_a_post_without_the_sessions_csrf_token_changes_nothing(
    console_env: ConsoleEnv, variant: str
) -> None:
    client = TestClient(console_env.app)
    token = sign_in(client, "ana")
    other = TestClient(console_env.app)
    other_token = sign_in(other, "ana")
    assert other_token != token
    data = {"outcome": "attended", "summary": "forged"}
    headers = {}
    if variant == "wrong":
        data["csrf_token"] = token[:-2] + "xx"
    elif variant == "other-session":
        data["csrf_token"] = other_token
    elif variant == "cross-origin":
        data["csrf_token"] = token
        headers["Origin"] = "https://evil.example"
    answer = client.post("/bookings/AG-000001/outcome", data=data, headers=headers)
    assert answer.status_code == 403
    assert "expirado" in answer.text  # pt-BR by default
    assert console_env.mv.outbox() == []
    # the same post with the token is accepted: the oracle can fail
    ok = client.post(
        "/bookings/AG-000001/outcome",
        data={"csrf_token": token, "outcome": "attended"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert len(console_env.mv.outbox()) == 1


def test_sign_in_itself_needs_the_token_and_the_right_password(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    form = {"tenant": TENANT, "name": "ana", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403  # login CSRF
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data=form | {"csrf_token": token, "password": "nope"})
    assert wrong.status_code == 401
    assert "incorretos" in wrong.text
    unknown = client.post("/login", data=form | {"csrf_token": token, "name": "nobody"})
    assert unknown.status_code == 401
    right = client.post("/login", data=form | {"csrf_token": token}, follow_redirects=False)
    assert right.status_code == 303
    assert right.headers["location"] == "/agenda"
    # the session (and its CSRF token) is new after signing in
    assert csrf_of(client.get("/agenda").text) != token


def test_repeated_failures_lock_the_name_for_a_while(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    token = csrf_of(client.get("/login").text)
    form = {"csrf_token": token, "tenant": TENANT, "name": "rui"}
    for _ in range(5):
        assert client.post("/login", data=form | {"password": "guess"}).status_code == 401
    # even the right password is refused now
    assert client.post("/login", data=form | {"password": PASSWORD}).status_code == 401


def test_cookie_flags_and_security_headers(console_env: ConsoleEnv) -> None:
    plain = TestClient(console_env.app)
    page = plain.get("/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    secure = TestClient(console_env.app, base_url="https://console.example")
    assert "secure" in secure.get("/login").headers["set-cookie"].lower()


def test_an_open_redirect_after_sign_in_is_refused(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={
            "csrf_token": token,
            "tenant": TENANT,
            "name": "ana",
            "password": PASSWORD,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/agenda"


def test_bodies_over_the_cap_are_refused(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    answer = client.post(f"/webhooks/{TENANT}/jitsi", content=b"x" * (256 * 1024 + 1))
    assert answer.status_code == 413


def test_sign_out_needs_the_token_and_ends_the_session(console_env: ConsoleEnv) -> None:
    client = TestClient(console_env.app)
    token = sign_in(client, "rui")
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/outbox").status_code == 200  # still signed in
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.headers["location"] == "/login"
    assert client.get("/outbox", follow_redirects=False).status_code == 303


def test_an_operator_sees_only_the_tenants_given(console_env: ConsoleEnv, tmp_path: Path) -> None:
    canoas = console_config(console_env.sb, tmp_path).model_copy(
        update={"tenant": Tenant(id="canoas", name="Prefeitura Municipal de Canoas")}
    )
    both = ConsoleUser(
        tenant=TENANT,
        name="vera",
        role=ConsoleRole.OPERATOR,
        tenants=("canoas",),
        hash=FAST_HASHER.hash(PASSWORD),
    )
    accounts = UsersFile(users=(*console_env.users.users, both))
    with Munivideo.from_config(canoas, plugins=plugins_for_tests()) as other:
        app = create_app(
            {TENANT: console_env.mv, "canoas": other},
            Authenticator(accounts, hasher=FAST_HASHER),
            ConsoleSettings(session_secret="s" * 40),
        )
        rui = TestClient(app)
        sign_in(rui, "rui")
        assert rui.get("/outbox?tenant=canoas").status_code == 403
        assert rui.get("/quarantine?tenant=canoas").status_code == 403
        assert "Canoas" not in rui.get("/health").text
        vera = TestClient(app)
        sign_in(vera, "vera")
        assert vera.get("/outbox?tenant=canoas").status_code == 200
        assert "Prefeitura Municipal de Canoas" in vera.get("/health").text


def test_the_sign_in_throttle_stays_bounded() -> None:
    from munivideo.console.app import Throttle

    throttle = Throttle(limit=2, window=60, max_names=3)
    for name in ("a", "b", "c", "d", "e"):
        throttle.failed(name, 0.0)
    assert len(throttle.failures) == 3
    throttle.failed("e", 1.0)
    assert throttle.blocked("e", 2.0)
    assert not throttle.blocked("e", 100.0)  # the window passed
