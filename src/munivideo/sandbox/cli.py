"""``munivideo sandbox serve``: run the sandbox ERP in the foreground."""

from __future__ import annotations

import click

from munivideo.errors import MunivideoError
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
def serve(
    host: str, port: int, dialect: str, seed: str, faults: str, fault_seed: int, db: str
) -> None:
    """Serve until interrupted (Ctrl-C)."""
    from munivideo.sandbox.server import Sandbox

    try:
        sb = Sandbox(
            dialect=dialect,
            seed=seed,
            faults=faults,
            fault_seed=fault_seed,
            host=host,
            port=port,
            db=db,
        )
    except MunivideoError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"munivideo sandbox ERP on {sb.base_url} ({dialect}, seed {seed})")
    if dialect in ("soap", "both"):
        click.echo(f"  WSDL      {sb.wsdl_url}")
    if dialect in ("rest", "both"):
        click.echo(f"  REST      {sb.rest_url}   token: {sb.token_url}")
    click.echo(f"  inspect   {sb.base_url}/_sandbox/health")
    click.echo(f"  client    {sb.credentials[0]} / {sb.credentials[1]}")
    try:
        sb._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
