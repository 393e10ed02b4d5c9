"""SMS short links are served by the console: ``GET /j/{tenant}/{token}`` redirects inside the
room window only, and needs no session (the citizen has only the link)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from munivideo.engine import shortlinks
from munivideo.errors import LifecycleError, NotFoundError

from .conftest import TENANT, ConsoleEnv


@pytest.mark.parametrize(
    ("raised", "status"),
    [(None, 302), (LifecycleError("the room window is over"), 410), (NotFoundError("x"), 404)],
)
def test_a_short_link_redirects_or_says_why_not(
    console_env: ConsoleEnv,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception | None,
    status: int,
) -> None:
    seen: list[str] = []

    def resolve(engine: object, token: str) -> str:
        seen.append(token)
        if raised is not None:
            raise raised
        return "https://meet.example.gov.br/sala?jwt=abc"

    monkeypatch.setattr(shortlinks, "resolve", resolve)
    client = TestClient(console_env.app)
    answer = client.get(f"/j/{TENANT}/tok3n", follow_redirects=False)
    assert answer.status_code == status
    assert seen == ["tok3n"]
    assert answer.headers["cache-control"] == "no-store"
    if status == 302:
        assert answer.headers["location"] == "https://meet.example.gov.br/sala?jwt=abc"


def test_an_unknown_tenant_is_404_without_resolving(
    console_env: ConsoleEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shortlinks, "resolve", lambda *_: pytest.fail("must not resolve"))
    answer = TestClient(console_env.app).get("/j/outra-cidade/tok3n", follow_redirects=False)
    assert answer.status_code == 404
