"""``munivideo console serve | add-user | hash-password``.

``serve`` needs the ``console`` extra (``pip install 'munivideo[console]'``) and the session
secret in the environment variable ``MUNIVIDEO_CONSOLE_SECRET`` (at least 32 characters; it
signs the session cookies, so every console process of a deployment uses the same one).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from munivideo.cli import EXIT_USAGE, fail
from munivideo.errors import ConfigurationError, MunivideoError

SECRET_ENV = "MUNIVIDEO_CONSOLE_SECRET"  # noqa: S105 - a variable name, not a secret
"""Where ``serve`` reads the session secret."""


def _extra_missing(exc: ModuleNotFoundError) -> None:
    click.secho(
        f"error: the console needs the 'console' extra ({exc.name} is not installed): "
        "pip install 'munivideo[console]'",
        fg="red",
        err=True,
    )
    raise SystemExit(EXIT_USAGE)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def console() -> None:
    """The web console for servants and operators (see the Console page of the docs)."""


@console.command()
@click.option(
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Tenant configuration file (repeat for several tenants).",
)
@click.option(
    "--users",
    "users_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Users file (munivideo console add-user writes it).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxies trusted for X-Forwarded-Proto/For (cookies become Secure behind https).",
)
def serve(
    configs: tuple[Path, ...],
    users_file: Path,
    host: str,
    port: int,
    forwarded_allow_ips: str | None,
) -> None:
    """Serve the console for the tenants in CONFIG files."""
    try:
        import uvicorn

        from munivideo.console.app import create_app
        from munivideo.console.users import Authenticator, load_users
        from munivideo.console.web import ConsoleSettings
    except ModuleNotFoundError as exc:
        _extra_missing(exc)
        return
    from munivideo.api import Munivideo
    from munivideo.plugins import load_plugins

    tenants: dict[str, Munivideo] = {}
    try:
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            raise ConfigurationError(f"set {SECRET_ENV} (32+ characters)", field=SECRET_ENV)
        settings = ConsoleSettings(session_secret=secret)
        auth = Authenticator(load_users(users_file))
        plugins = load_plugins()
        for path in configs:
            mv = Munivideo.from_config(path, plugins=plugins)
            tenants[mv.tenant_id] = mv
    except MunivideoError as exc:
        for mv in tenants.values():
            mv.close()
        fail(exc)
        return
    app = create_app(tenants, auth, settings)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=forwarded_allow_ips,
            server_header=False,
            log_level="info",
        )
    finally:
        for mv in tenants.values():
            mv.close()


@console.command("hash-password")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def hash_password_cmd(password_stdin: bool) -> None:
    """Print an Argon2id hash for a users file entry."""
    try:
        from munivideo.console.users import hash_password
    except ModuleNotFoundError as exc:
        _extra_missing(exc)
        return
    try:
        click.echo(hash_password(_password(password_stdin)))
    except MunivideoError as exc:
        fail(exc)


@console.command("add-user")
@click.option(
    "--users",
    "users_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Users file to create or update.",
)
@click.option("--tenant", required=True, help="Tenant id the user signs in to.")
@click.option("--name", required=True, help="User name (lowercase letters, digits, . _ -).")
@click.option("--role", required=True, type=click.Choice(["servant", "operator"]))
@click.option("--registration", default=None, help="A servant's registration (matrícula).")
@click.option("--display-name", default="", help="Name shown in the console.")
@click.option(
    "--also-tenant", "also", multiple=True, help="Another tenant an operator may see (repeat)."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add_user(
    users_file: Path,
    tenant: str,
    name: str,
    role: str,
    registration: str | None,
    display_name: str,
    also: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Add (or replace) a user in the users file; asks for the password."""
    try:
        from pydantic import ValidationError

        from munivideo.console.users import (
            ConsoleUser,
            UsersFile,
            hash_password,
            load_users,
            save_users,
        )
    except ModuleNotFoundError as exc:
        _extra_missing(exc)
        return
    try:
        users = load_users(users_file) if users_file.exists() else UsersFile()
        try:
            user = ConsoleUser.model_validate(
                {
                    "tenant": tenant,
                    "name": name,
                    "role": role,
                    "servant_registration": registration,
                    "display_name": display_name,
                    "tenants": also,
                    "hash": "$argon2id$placeholder",
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigurationError(
                f"user: {first['msg']}", field=".".join(str(p) for p in first["loc"]) or None
            ) from None
        user = user.model_copy(update={"hash": hash_password(_password(password_stdin))})
        replaced = users.find(tenant, name) is not None
        save_users(users_file, users.with_user(user))
    except MunivideoError as exc:
        fail(exc)
        return
    click.echo(f"{'replaced' if replaced else 'added'} {user.key} ({role}) in {users_file}")
