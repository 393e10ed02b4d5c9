"""``munivideo console add-user | hash-password | serve``: the users file and a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from argon2 import PasswordHasher
from click.testing import CliRunner
from engine._toml import to_toml
from engine.conftest import SECRET_ENV, config_data

from munivideo.cli import main
from munivideo.console.users import Authenticator, ConsoleRole, load_users
from munivideo.sandbox import Sandbox

PASSWORD = "uma senha longa o bastante"


def _add(users: Path, *args: str, password: str = PASSWORD) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["console", "add-user", "--users", str(users), "--password-stdin", *args],
        input=password + "\n",
    )
    return result.exit_code, result.output


def test_add_user_writes_hashes_that_sign_in(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    code, out = _add(
        users,
        "--tenant",
        "gravatai",
        "--name",
        "ana",
        "--role",
        "servant",
        "--registration",
        "AF-0001",
        "--display-name",
        "Ana Luíza Gonçalves",
    )
    assert code == 0, out
    code, out = _add(
        users,
        "--tenant",
        "gravatai",
        "--name",
        "rui",
        "--role",
        "operator",
        "--also-tenant",
        "canoas",
    )
    assert code == 0, out
    text = users.read_text(encoding="utf-8")
    assert PASSWORD not in text and "$argon2id$" in text
    assert users.stat().st_mode & 0o777 == 0o600
    loaded = load_users(users)
    assert [u.key for u in loaded.users] == ["gravatai/ana", "gravatai/rui"]
    rui = loaded.find("gravatai", "rui")
    assert rui is not None and rui.role is ConsoleRole.OPERATOR
    assert rui.visible_tenants == ("gravatai", "canoas")
    auth = Authenticator(loaded, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    assert auth.verify("gravatai", "ana", PASSWORD) is not None
    assert auth.verify("gravatai", "ana", PASSWORD + "x") is None
    # replacing keeps one entry; a servant without registration and a short password fail
    code, out = _add(
        users,
        "--tenant",
        "gravatai",
        "--name",
        "ana",
        "--role",
        "servant",
        "--registration",
        "AF-0002",
        password="outra senha bem longa",
    )
    assert code == 0 and "replaced" in out
    assert len(load_users(users).users) == 2
    code, out = _add(users, "--tenant", "gravatai", "--name", "bia", "--role", "servant")
    assert code == 2 and "servant_registration" in out
    code, out = _add(
        users, "--tenant", "gravatai", "--name", "bia", "--role", "operator", password="curta"
    )
    assert code == 2 and "12 characters" in out


def test_hash_password_prints_an_argon2id_hash() -> None:
    result = CliRunner().invoke(
        main, ["console", "hash-password", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0
    assert PasswordHasher().verify(result.output.strip(), PASSWORD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_needs_its_secret_and_then_serves(munivideo_sandbox: Sandbox, tmp_path: Path) -> None:
    config = tmp_path / "gravatai.toml"
    config.write_text(to_toml(config_data(munivideo_sandbox, tmp_path)), encoding="utf-8")
    users = tmp_path / "users.toml"
    assert _add(users, "--tenant", "gravatai", "--name", "rui", "--role", "operator")[0] == 0
    args = ["console", "serve", "--config", str(config), "--users", str(users)]
    refused = CliRunner(env={**SECRET_ENV, "MUNIVIDEO_CONSOLE_SECRET": ""}).invoke(main, args)
    assert refused.exit_code == 2
    assert "MUNIVIDEO_CONSOLE_SECRET" in refused.output
    port = _free_port()
    env = {**os.environ, **SECRET_ENV, "MUNIVIDEO_CONSOLE_SECRET": "k" * 48}
    command = [sys.executable, "-m", "munivideo", *args, "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert "Prefeitura Municipal de Gravataí" in answer.text
        assert "server" not in {k.lower() for k in answer.headers}
        assert requests.get(f"http://127.0.0.1:{port}/outbox", timeout=2).url.endswith(
            "/login?next=%2Foutbox"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
