"""``munivideo contracts``: validate recordings, check a published contract, diff two versions.

Exit codes: 0 ok, 1 a recording is invalid, 2 usage or configuration error, 3 breaking changes
(not covered by an accepted exception).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from munivideo.cli import EXIT_BREAKING, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from munivideo.errors import ConfigurationError, MunivideoError

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
    help="Report format.",
)
OUTPUT_OPTION = click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file (default: standard output).",
)
EXCEPTIONS_OPTION = click.option(
    "--exceptions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Accepted exceptions (default: contract-exceptions.yaml next to the contract).",
)


def _usage_error(exc: MunivideoError) -> None:
    click.secho(f"error: {exc}", fg="red", err=True)
    raise SystemExit(EXIT_USAGE)


def _contract_file(path: Path) -> Path:
    """``path``, or the main contract file in it when it is a pack folder
    (:func:`~munivideo.contract_tools.sources.folder_contract`: ``erp.wsdl``, ``openapi.yaml``).

    :raises munivideo.errors.ConfigurationError: a folder with neither (field ``contract``).
    """
    from munivideo.contract_tools.sources import folder_contract

    if not path.is_dir():
        return path
    found = folder_contract(path)
    if found is None:
        raise ConfigurationError(
            f"{path} is a folder: pass its openapi.yaml or erp.wsdl", field="contract"
        )
    return found


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        # A CI recipe names `reports/diff.xml` before anything created `reports/`.
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"report written to {output}", err=True)


@click.group()
def contracts() -> None:
    """Validate recordings against a contract pack and flag breaking contract changes."""


@contracts.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--pack", default=None, help="Contract pack NAME/VERSION, e.g. erp-soap/v1.")
@click.option(
    "--contract",
    default=None,
    type=click.Path(path_type=Path),
    help="The tenant's own contract instead: a WSDL, OpenAPI 3 or Swagger 2.0 file.",
)
@click.option("--operation", default=None, help="Operation id (REST bare bodies; SOAP: assert).")
@click.option("--kind", type=click.Choice(["request", "response"]), default=None)
@click.option("--status", type=int, default=None, help="HTTP status of a bare REST response body.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate(
    files: tuple[Path, ...],
    pack: str | None,
    contract: Path | None,
    operation: str | None,
    kind: str | None,
    status: int | None,
    as_json: bool,
) -> None:
    """Validate recorded requests/responses FILES against a pack or the tenant's own contract
    (--contract: WSDL, OpenAPI 3 or Swagger 2.0)."""
    from munivideo.contract_tools.validate import PackValidator

    try:
        validator = PackValidator(pack, contract=contract)
        reports = [
            validator.validate_file(f, operation=operation, kind=kind, status=status) for f in files
        ]
    except MunivideoError as exc:
        _usage_error(exc)
        return
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False))
    else:
        for report in reports:
            what = f"{report.operation or '?'} {report.kind or ''}".strip()
            if report.ok:
                click.echo(f"{report.source}: valid ({what})")
            for violation in report.violations:
                click.secho(f"{report.source}: {violation}", fg="red", err=True)
    raise SystemExit(EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED)


@contracts.command()
@click.option("--pack", required=True, help="Contract pack NAME/VERSION: what our adapter needs.")
@click.option("--wsdl", default=None, help="Published WSDL: local path or http(s) URL.")
@click.option("--openapi", default=None, help="Published OpenAPI document: path or URL.")
@click.option("--timeout", type=float, default=15.0, show_default=True, help="Seconds per fetch.")
@EXCEPTIONS_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def check(
    pack: str,
    wsdl: str | None,
    openapi: str | None,
    timeout: float,
    exceptions: Path | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Is a live or published ERP contract still compatible with what the pack needs?"""
    from munivideo.contract_tools.check import check_published
    from munivideo.contract_tools.model import Flavor
    from munivideo.contract_tools.reports import render

    if (wsdl is None) == (openapi is None):
        click.secho("error: give exactly one of --wsdl or --openapi", fg="red", err=True)
        raise SystemExit(EXIT_USAGE)
    published = wsdl if wsdl is not None else openapi
    assert published is not None
    flavor = Flavor.SOAP if wsdl is not None else Flavor.REST
    try:
        result = check_published(
            pack, published, expect=flavor, timeout=timeout, exceptions=exceptions
        )
    except MunivideoError as exc:
        _usage_error(exc)
        return
    title = f"contract check: pack {pack} against {published}"
    _emit(render(fmt, title, result.changes, result.expired), output)
    raise SystemExit(EXIT_BREAKING if result.breaking else EXIT_OK)


@contracts.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@EXCEPTIONS_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def diff(old: Path, new: Path, exceptions: Path | None, fmt: str, output: Path | None) -> None:
    """Breaking and non-breaking changes from contract OLD to NEW (WSDL, XSD or OpenAPI; a pack
    folder stands for its erp.wsdl or openapi.yaml)."""
    from munivideo.contract_tools.check import diff_files
    from munivideo.contract_tools.reports import render

    try:
        old, new = _contract_file(old), _contract_file(new)
        result = diff_files(old, new, exceptions=exceptions)
    except MunivideoError as exc:
        _usage_error(exc)
        return
    _emit(render(fmt, f"contract diff: {old} -> {new}", result.changes, result.expired), output)
    raise SystemExit(EXIT_BREAKING if result.breaking else EXIT_OK)
