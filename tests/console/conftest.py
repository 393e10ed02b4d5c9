"""Fixtures for the console: a synced tenant on the sandbox ERP, two users, the app, and a
live uvicorn server on loopback for the browser tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from argon2 import PasswordHasher
from engine.conftest import TENANT, config_data, make_config, plugins_for_tests
from starlette.applications import Starlette
from starlette.testclient import TestClient

from munivideo.api import Munivideo
from munivideo.config import TenantConfig
from munivideo.console import create_app
from munivideo.console.users import Authenticator, ConsoleRole, ConsoleUser, UsersFile
from munivideo.console.web import ConsoleSettings
from munivideo.sandbox import Sandbox

# Cheap parameters so tests do not spend seconds hashing; production uses argon2's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
SERVANT = "AF-0001"  # Ana Luíza Gonçalves in the tax-office seed
WEBHOOK_AUTH = {"Authorization": "Bearer jitsi-secret-for-tests-only-0123456789"}


@dataclass
class ConsoleEnv:
    sb: Sandbox
    mv: Munivideo
    app: Starlette
    users: UsersFile


def users() -> UsersFile:
    def user(name: str, role: ConsoleRole, **extra: object) -> ConsoleUser:
        return ConsoleUser.model_validate(
            {"tenant": TENANT, "name": name, "role": role, "hash": FAST_HASHER.hash(PASSWORD)}
            | extra
        )

    return UsersFile(
        users=(
            user(
                "ana",
                ConsoleRole.SERVANT,
                servant_registration=SERVANT,
                display_name="Ana Luíza Gonçalves",
            ),
            user("joao", ConsoleRole.SERVANT, servant_registration="AF-0002"),
            user("rui", ConsoleRole.OPERATOR, display_name="Rui Operador"),
        )
    )


def console_config(sb: Sandbox, folder: Path) -> TenantConfig:
    """The engine tests' tenant, with a Jitsi webhook secret (webhooks fail closed without)."""
    video = config_data(sb, folder)["video"]
    settings = {**video["settings"], "webhook_secret": {"env": "MV_TEST_JITSI_SECRET"}}
    return make_config(sb, folder, video={**video, "settings": settings})


@pytest.fixture(scope="session")
def synced_store(
    _munivideo_sandbox_session: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A store synced once (AG-000001..10: rooms, links, invitations); each test gets a copy,
    which saves a second of invitation rendering per test."""
    sb = _munivideo_sandbox_session
    sb.reset()
    folder = tmp_path_factory.mktemp("synced")
    with Munivideo.from_config(console_config(sb, folder), plugins=plugins_for_tests()) as mv:
        mv.sync(page_size=10, max_pages=1)
    return folder / "munivideo.db"


@pytest.fixture
def console_env(
    munivideo_sandbox: Sandbox, synced_store: Path, tmp_path: Path
) -> Iterator[ConsoleEnv]:
    sb = munivideo_sandbox
    shutil.copyfile(synced_store, tmp_path / "munivideo.db")
    mv = Munivideo.from_config(console_config(sb, tmp_path), plugins=plugins_for_tests())
    accounts = users()
    app = create_app(
        {TENANT: mv},
        Authenticator(accounts, hasher=FAST_HASHER),
        ConsoleSettings(session_secret="s" * 40),
    )
    yield ConsoleEnv(sb=sb, mv=mv, app=app, users=accounts)
    mv.close()


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign ``name`` in; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"csrf_token": token, "tenant": TENANT, "name": name, "password": password},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get(answer.headers["location"]).text)


@pytest.fixture
def live_url(console_env: ConsoleEnv) -> Iterator[str]:
    """The console served by uvicorn on a loopback port, for a real browser."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            console_env.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
