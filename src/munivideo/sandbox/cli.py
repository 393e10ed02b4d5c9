"""``munivideo sandbox serve``: run the sandbox ERP in the foreground."""

from __future__ import annotations

from typing import Any, get_args

import click

from munivideo.errors import MunivideoError
from munivideo.packs import ERP_PACK_VERSIONS
from munivideo.sandbox.behaviour import (
    CAPABILITY_SETS,
    WRITE_OPERATIONS,
    Idempotency,
    Lookup,
    Receipts,
)
from munivideo.sandbox.seeds import SEEDS


@click.group()
def sandbox() -> None:
    """The sandbox ERP: the reference SOAP and REST contracts on loopback."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="0 picks a free port.")
@click.option(
    "--dialect", type=click.Choice(["soap", "rest", "both"]), default="both", show_default=True
)
@click.option("--seed", type=click.Choice(sorted(SEEDS)), default="tax-office", show_default=True)
@click.option(
    "--faults", default="", help='Fault spec, e.g. "criarProtocolo=drop_after_commit@0.2".'
)
@click.option("--fault-seed", default=0, type=int, show_default=True)
@click.option("--db", default=":memory:", show_default=True, help="SQLite file (or :memory:).")
@click.option(
    "--capabilities",
    type=click.Choice(sorted(CAPABILITY_SETS)),
    default="keys",
    show_default=True,
    help="Capability set the ERP plays; the options below change single behaviours.",
)
@click.option("--idempotency", type=click.Choice(get_args(Idempotency)), default=None)
@click.option(
    "--unique-reference/--no-unique-reference",
    default=None,
    help="Refuse a second protocol with the same external reference.",
)
@click.option("--lookup", type=click.Choice(get_args(Lookup)), default=None)
@click.option("--lookup-delay", type=float, default=None, help="Seconds a 'late' lookup lags.")
@click.option(
    "--commit-delay", type=float, default=None, help="Seconds writes wait before committing."
)
@click.option(
    "--commit-delay-on",
    "commit_delay_on",
    type=click.Choice(sorted(WRITE_OPERATIONS)),
    multiple=True,
    help="Only these writes wait --commit-delay (repeatable; default: all four).",
)
@click.option("--receipts", type=click.Choice(get_args(Receipts)), default=None)
@click.option(
    "--allow-remote", is_flag=True, help="Allow a non-loopback --host (exposes the sandbox)."
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Host header answered besides loopback (repeatable; '*' answers any).",
)
@click.option("--public-url", default=None, help="Base URL the WSDL announces.")
@click.option(
    "--pack-version",
    type=click.Choice(ERP_PACK_VERSIONS),
    default="v1",
    show_default=True,
    help="Reference packs served: v2 also carries alphanumeric CNPJs and foreign phones.",
)
def serve(
    host: str,
    port: int,
    dialect: str,
    seed: str,
    faults: str,
    fault_seed: int,
    db: str,
    capabilities: str,
    idempotency: str | None,
    unique_reference: bool | None,
    lookup: str | None,
    lookup_delay: float | None,
    commit_delay: float | None,
    commit_delay_on: tuple[str, ...],
    receipts: str | None,
    allow_remote: bool,
    allowed_hosts: tuple[str, ...],
    public_url: str | None,
    pack_version: str,
) -> None:
    """Serve until interrupted (Ctrl-C)."""
    from munivideo.sandbox.behaviour import Behaviour
    from munivideo.sandbox.server import Sandbox

    chosen: dict[str, Any] = {
        "idempotency": idempotency,
        "unique_reference": unique_reference,
        "lookup": lookup,
        "lookup_delay_seconds": lookup_delay,
        "commit_delay_seconds": commit_delay,
        "commit_delay_operations": frozenset(commit_delay_on) or None,
        "receipts": receipts,
    }
    try:
        behaviour = Behaviour.preset(
            capabilities, **{k: v for k, v in chosen.items() if v is not None}
        )
        sb = Sandbox(
            dialect=dialect,
            seed=seed,
            faults=faults,
            fault_seed=fault_seed,
            host=host,
            port=port,
            db=db,
            behaviour=behaviour,
            allow_remote=allow_remote,
            allowed_hosts=allowed_hosts,
            public_url=public_url,
            pack_version=pack_version,
        )
    except MunivideoError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"munivideo sandbox ERP on {sb.base_url} ({dialect}, seed {seed}, packs {pack_version})"
    )
    if dialect in ("soap", "both"):
        click.echo(f"  WSDL      {sb.public_url}/soap?wsdl")
    if dialect in ("rest", "both"):
        click.echo(f"  REST      {sb.rest_url}   token: {sb.token_url}")
    click.echo(f"  FHIR R4   {sb.fhir_url}   (health-unit seed)")
    click.echo(
        f"  inspect   {sb.base_url}/_sandbox/health   effects: {sb.base_url}/_sandbox/effects"
    )
    click.echo(f"  behaviour {behaviour.model_dump_json()}")
    click.echo(f"  client    {sb.credentials[0]} / {sb.credentials[1]}")
    try:
        sb._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()


@sandbox.command()
@click.option("--url", default="http://127.0.0.1:8765", show_default=True, help="Sandbox base URL.")
@click.option("--timeout", default=30.0, show_default=True, type=float, help="Seconds to wait.")
def wait(url: str, timeout: float) -> None:
    """Wait until a sandbox answers its health check (for scripts that start it with '&').

    Exits 0 once GET URL/_sandbox/health answers 200, 1 after --timeout seconds.
    """
    import time

    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url.rstrip('/')}/_sandbox/health", timeout=1.0).ok:
                click.echo(f"sandbox ERP ready on {url}")
                return
        except requests.RequestException:
            pass
        if time.monotonic() >= deadline:
            click.secho(
                f"error: no sandbox answered on {url} within {timeout:g} s", fg="red", err=True
            )
            raise SystemExit(1)
        time.sleep(0.1)
