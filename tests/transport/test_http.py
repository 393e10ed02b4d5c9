"""Sessions always carry a timeout; auth schemes; OAuth2 refresh on expiry and on one 401."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from pydantic import SecretStr, ValidationError

from munivideo.errors import ConfigurationError, ContractViolationError
from munivideo.sandbox import Sandbox
from munivideo.transport import (
    AuthSettings,
    OAuth2ClientCredentials,
    Timeouts,
    auth_for,
    build_session,
)

TOKEN_URL = "https://erp.example/oauth/token"


@responses.activate
def test_every_call_gets_the_default_timeout() -> None:
    responses.get("https://erp.example/x", json={})
    session = build_session(Timeouts(connect_seconds=1.5, read_seconds=7))
    session.get("https://erp.example/x")
    session.get("https://erp.example/x", timeout=3)
    assert responses.calls[0].request.req_kwargs["timeout"] == (1.5, 7)
    assert responses.calls[1].request.req_kwargs["timeout"] == 3


def test_pool_is_sized_and_urllib3_does_not_retry() -> None:
    session = build_session(Timeouts(), pool_size=7)
    adapter = session.get_adapter("https://erp.example/")
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter.max_retries.total == 0
    assert adapter._pool_maxsize == 7  # type: ignore[attr-defined]


def test_auth_settings_are_complete_and_secret() -> None:
    with pytest.raises(ValidationError, match="needs password"):
        AuthSettings(scheme="basic", username="u")
    auth = AuthSettings(scheme="oauth2", client_id="c", client_secret="s3cr3t", token_url=TOKEN_URL)
    assert "s3cr3t" not in repr(auth) and "s3cr3t" not in str(auth.model_dump())
    built = auth_for(auth, Timeouts())
    assert isinstance(built, OAuth2ClientCredentials) and "s3cr3t" not in repr(built)


@responses.activate
def test_bearer_and_api_key_headers() -> None:
    responses.get("https://erp.example/x", json={})
    for settings, header, value in (
        (AuthSettings(scheme="bearer", token="tok"), "Authorization", "Bearer tok"),
        (AuthSettings(scheme="api_key", header="X-Key", api_key="k1"), "X-Key", "k1"),
        (AuthSettings(scheme="basic", username="u", password="p"), "Authorization", "Basic dTpw"),
    ):
        build_session(Timeouts(), auth=auth_for(settings, Timeouts())).get("https://erp.example/x")
        assert responses.calls[-1].request.headers[header] == value


@responses.activate
def test_oauth2_refreshes_before_expiry() -> None:
    now = [0.0]
    tokens = iter(["t1", "t2"])

    def token_callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return (
            200,
            {},
            json.dumps({"access_token": next(tokens), "token_type": "Bearer", "expires_in": 100}),
        )

    responses.add_callback(responses.POST, TOKEN_URL, callback=token_callback)
    responses.get("https://erp.example/x", json={})
    auth = OAuth2ClientCredentials(TOKEN_URL, "c", SecretStr("s"), clock=lambda: now[0])
    session = build_session(Timeouts(), auth=auth)
    session.get("https://erp.example/x")
    session.get("https://erp.example/x")
    assert auth.fetches == 1
    now[0] = 75.0  # inside the early-refresh margin
    session.get("https://erp.example/x")
    assert auth.fetches == 2
    sent = [c.request.headers.get("Authorization") for c in responses.calls if "x" in c.request.url]
    assert sent[-1] == "Bearer t2"


@responses.activate
def test_oauth2_refreshes_once_on_401() -> None:
    tokens = iter(["old", "new", "newer"])

    def token_callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return (
            200,
            {},
            json.dumps({"access_token": next(tokens), "token_type": "Bearer", "expires_in": 900}),
        )

    def api(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        ok = request.headers["Authorization"] == "Bearer new"
        return (200, {}, "{}") if ok else (401, {}, "{}")

    responses.add_callback(responses.POST, TOKEN_URL, callback=token_callback)
    responses.add_callback(responses.GET, "https://erp.example/x", callback=api)
    auth = OAuth2ClientCredentials(TOKEN_URL, "c", SecretStr("s"))
    session = build_session(Timeouts(), auth=auth)
    assert session.get("https://erp.example/x").status_code == 200
    assert auth.fetches == 2
    # A second 401 right after a refresh is returned, not looped on.
    responses.replace(responses.GET, "https://erp.example/x", status=401, json={})
    assert session.get("https://erp.example/x").status_code == 401
    assert auth.fetches == 3


def test_oauth2_against_the_sandbox_and_bad_secret(munivideo_sandbox: Sandbox) -> None:
    client_id, secret = munivideo_sandbox.credentials
    good = OAuth2ClientCredentials(munivideo_sandbox.token_url, client_id, SecretStr(secret))
    assert good.current_token()
    bad = OAuth2ClientCredentials(munivideo_sandbox.token_url, client_id, SecretStr("wrong"))
    with pytest.raises(ConfigurationError) as info:
        bad.current_token()
    assert "wrong" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"token_type": "Bearer", "expires_in": 900}', "access_token"),
        (b"<html>login</html>", "access_token"),
        (b'["t1"]', "access_token"),
        (b'{"access_token": "t1", "expires_in": "soon"}', "expires_in"),
    ],
)
def test_a_token_answer_without_a_token_is_a_contract_violation(body: bytes, field: str) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Token(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Token)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/token"
        auth = OAuth2ClientCredentials(
            url, "c", SecretStr("s"), timeouts=Timeouts(connect_seconds=2, read_seconds=2)
        )
        with pytest.raises(ContractViolationError) as info:
            auth.current_token()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert info.value.field == field and seen == ["/token"]
    assert auth.fetches == 0
