"""The ``munivideo`` command line.

Sub-commands that live in their own modules are loaded lazily (``LAZY_COMMANDS``), so
``munivideo --version`` stays fast and one broken area cannot break the whole CLI.
Exit codes: 0 ok, 1 work failed (something is waiting or quarantined), 2 usage or configuration
error, 3 a contract check found breaking changes.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from munivideo.__about__ import __version__
from munivideo.errors import MunivideoError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BREAKING = 3

LAZY_COMMANDS: dict[str, str] = {
    "sandbox": "munivideo.sandbox.cli:sandbox",
    "contracts": "munivideo.contract_tools.cli:contracts",
    "adapter": "munivideo.scaffold:adapter",
    "sync": "munivideo.jobs_cli:sync",
    "record": "munivideo.jobs_cli:record",
    "writeback": "munivideo.jobs_cli:writeback",
    "replay": "munivideo.jobs_cli:replay",
    "requeue": "munivideo.jobs_cli:requeue",
    "status": "munivideo.jobs_cli:status",
    "quarantine": "munivideo.operator_cli:quarantine",
    "outbox": "munivideo.operator_cli:outbox",
    "console": "munivideo.console.cli:console",
    "demo": "munivideo.demo:demo",
    "retention": "munivideo.retention:retention",
    "worker": "munivideo.workers.cli:worker",
}


LAZY_HELP: dict[str, str] = {
    "sandbox": "The sandbox ERP: the reference SOAP and REST contracts on loopback.",
    "contracts": "Validate recordings against a contract pack and flag breaking contract changes.",
    "adapter": "Adapters: scaffold a new ERP adapter, video provider or notifier.",
    "sync": "Pull changed bookings from the ERP; provision rooms; send invitations.",
    "record": "Classify one booking's attendance and put its protocol entry in the outbox.",
    "writeback": "Deliver due write-backs to the ERP, exactly once.",
    "replay": "Move dead letters back to pending, with an audit entry.",
    "requeue": "Make pending rows due now (e.g. after a long Retry-After), keeping their history.",
    "status": "Cursor, bindings, outbox by state (with stale leases) and quarantine, per tenant.",
    "quarantine": "Records that could not be processed: list them, re-admit them.",
    "outbox": "List and inspect outbox rows; requeue them or mark them done elsewhere.",
    "console": "The web console for servants and operators (see the Console page of the docs).",
    "demo": "Run the whole cycle on the embedded sandbox ERP (offline, under a minute).",
    "retention": "LGPD retention: erase personal data older than the configured period.",
    "worker": "Serve write-backs and periodic syncs for many tenants until SIGTERM.",
}
"""The one-line help ``munivideo --help`` shows for each lazy command, so listing the commands
imports none of them (a test keeps these equal to each command's own short help). A command
missing here is imported to read its help."""

EXTRAS: dict[str, str] = {
    "zeep": "soap",
    "lxml": "soap",
    "defusedxml": "soap",
    "xmlschema": "contracts",
    "openapi_core": "contracts",
    "jsonschema": "contracts",
    "werkzeug": "sandbox",
    "rich": "cli",
    "psycopg": "postgres",
    "procrastinate": "postgres",
    "prometheus_client": "metrics",
    "greenery": "contracts",
    "fhir": "fhir",
    "starlette": "console",
    "uvicorn": "console",
    "jinja2": "console",
    "multipart": "console",
    "itsdangerous": "console",
    "argon2": "console",
}
"""Which extra installs a third-party module a lazy command needs (``pip install munivideo[X]``)."""

_CONTRACTS_MODULES = frozenset(
    {"xmlschema", "openapi_core", "jsonschema", "lxml", "defusedxml", "greenery"}
)
_SANDBOX_MODULES = _CONTRACTS_MODULES | {"zeep", "werkzeug"}

COMMAND_EXTRAS: dict[str, tuple[str, frozenset[str]]] = {
    "contracts": (
        "contracts",
        _CONTRACTS_MODULES,
    ),
    "sandbox": (
        "sandbox",
        _SANDBOX_MODULES,
    ),
    "demo": (
        "sandbox",
        _SANDBOX_MODULES,
    ),
}
"""A command's own extra and the modules it installs: named instead of :data:`EXTRAS`' when
the missing module is one of them (``contracts diff`` without defusedxml asks for
``munivideo[contracts]``, which installs everything it needs, not ``munivideo[soap]``)."""


def _extra_for(name: str, module: str) -> str:
    """The extra to install for ``munivideo <name>`` when ``module`` is missing."""
    extra, modules = COMMAND_EXTRAS.get(name, ("", frozenset()))
    return extra if module in modules else EXTRAS[module]


class LazyGroup(click.Group):
    """A group whose sub-commands are imported only when run (or when their help is shown)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, eager and lazy (:data:`LAZY_COMMANDS`), sorted, without
        importing any lazy one."""
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, importing its module if it is lazy; ``None`` for an unknown
        name (click then reports it). When the import fails for a module of an optional extra
        (:data:`EXTRAS`, e.g. ``zeep`` -> ``soap``), a stand-in command is returned that
        prints ``pip install 'munivideo[<extra>]'`` and exits with status 2."""
        return super().get_command(ctx, cmd_name) or self._load(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The ``Commands`` section of ``munivideo --help``: lazy commands show their
        :data:`LAZY_HELP` line, so the help imports none of them (it stays fast)."""
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            if name in LAZY_HELP and name not in self.commands:
                rows.append((name, LAZY_HELP[name]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        """Run the chosen sub-command; when it (or anything it imports while running, e.g.
        ``munivideo demo`` importing werkzeug) fails for a module of an optional extra
        (:data:`EXTRAS`), print the ``pip install 'munivideo[<extra>]'`` line and exit 2
        instead of a traceback."""
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if missing not in EXTRAS:
                raise
            name = ctx.invoked_subcommand or ""
            _say_needs_extra(name, _extra_for(name, missing), missing)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if missing in EXTRAS:
                return _needs_extra(name, _extra_for(name, missing), missing)
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


def _needs_extra(name: str, extra: str, module: str) -> click.Command:
    """A stand-in for a command whose extra is not installed: it says what to install."""

    @click.command(
        name,
        help=f"(needs munivideo[{extra}])",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def stand_in() -> None:
        _say_needs_extra(name, extra, module)

    return stand_in


def _say_needs_extra(name: str, extra: str, module: str) -> NoReturn:
    """Print which extra installs ``module`` (needed by ``munivideo <name>``) and exit 2."""
    click.secho(
        f"error: `munivideo {name}` needs the '{extra}' extra ({module} is not installed): "
        f"pip install 'munivideo[{extra}]'",
        fg="red",
        err=True,
    )
    raise SystemExit(EXIT_USAGE)


def fail(error: MunivideoError, *, as_json: bool = False) -> None:
    """Print a munivideo error without a traceback and exit with the matching code."""
    if as_json:
        click.echo(json.dumps({"ok": False, "error": error.to_dict()}, ensure_ascii=False))
    else:
        click.secho(f"error: {error}", fg="red", err=True)
    raise SystemExit(EXIT_USAGE if error.recovery.value == "configure" else EXIT_FAILED)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="munivideo")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Video attendance for municipal ERPs."""
    from munivideo.redact import install_log_redaction

    if os.environ.get("NO_COLOR"):  # https://no-color.org: any non-empty value
        ctx.color = False
    install_log_redaction()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--strict", is_flag=True, help="Fail (exit 2) when any plugin fails to load.")
def plugins(as_json: bool, strict: bool) -> None:
    """List loaded plugins, their versions and hooks, and the plugins that failed to load."""
    from munivideo.plugins import load_plugins

    try:
        loaded = load_plugins(strict=strict or None)
    except MunivideoError as exc:
        fail(exc, as_json=as_json)
        return
    registrations = {
        "erp_adapters": {n: r.plugin for n, r in sorted(loaded.erp_adapters.items())},
        "video_providers": {n: r.plugin for n, r in sorted(loaded.video_providers.items())},
        "notifiers": {n: r.plugin for n, r in sorted(loaded.notifiers.items())},
    }
    if as_json:
        click.echo(
            json.dumps(
                {
                    "plugins": [vars(i) | {"hooks": list(i.hooks)} for i in loaded.infos],
                    "failures": [vars(f) for f in loaded.failures],
                    **registrations,
                },
                indent=2,
            )
        )
    else:
        rows = [("plugin", "version", "source", "hooks")] + [
            (i.name, i.version, i.source, ", ".join(i.hooks)) for i in loaded.infos
        ]
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        for row in rows:
            click.echo("".join(v.ljust(w + 2) for v, w in zip(row, widths, strict=False)) + row[3])
        for kind, names in registrations.items():
            click.echo(f"{kind}: " + (", ".join(f"{n} ({p})" for n, p in names.items()) or "-"))
        for failure in loaded.failures:
            click.secho(f"failed {failure.name} at {failure.stage}: {failure.error}", fg="red")
    if loaded.failures:
        raise SystemExit(EXIT_FAILED)


@main.group()
def config() -> None:
    """Tenant configuration files."""


@config.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--probe",
    is_flag=True,
    help="Build every adapter and make a read-only round trip to the ERP.",
)
def config_check(files: tuple[Path, ...], as_json: bool, probe: bool) -> None:
    """Validate tenant configuration FILES: the adapters they name are installed and build
    (mapping files checked); with --probe, the ERP answers a read-only round trip.
    Exit 2 for a configuration problem, 1 for a problem the probe found."""
    from munivideo.config_check import check_file
    from munivideo.plugins import load_plugins

    loaded = load_plugins()
    reports = [check_file(path, loaded, probe=probe) for path in files]
    if as_json:
        click.echo(
            json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False, default=str)
        )
    else:
        for report in reports:
            cfg = report.config
            for step in report.steps:
                click.echo(f"{report.file}: {step}")
            for problem in report.problems:
                click.secho(f"{report.file}: {problem}", fg="red", err=True)
            if report.ok and cfg is not None:
                bookings, protocols = cfg.erp.sources()
                erp = bookings.adapter
                if protocols != bookings:
                    erp = f"{bookings.adapter} (bookings) + {protocols.adapter} (protocols)"
                click.echo(
                    f"{report.file}: ok (tenant {cfg.tenant.id}, erp {erp}, "
                    f"video {cfg.video.provider}, notifiers "
                    f"{', '.join(n.name for n in cfg.notifiers)}, {len(cfg.services)} services)"
                )
    if any(r.problems and r.problems[0].step == "configuration" for r in reports):
        raise SystemExit(EXIT_USAGE)
    if any(not r.ok for r in reports):
        raise SystemExit(EXIT_FAILED)


@main.command("schema")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write into (default: the canonical pack).",
)
@click.option("--check", is_flag=True, help="Exit 1 if the files differ from the models.")
def schema_cmd(out: Path | None, check: bool) -> None:
    """Generate (or --check) the JSON Schema of the canonical models (and the pack manifest)."""
    from munivideo.packs import contracts_root
    from munivideo.schema import drift, write_canonical

    folder = out or contracts_root() / "canonical"
    if check:
        stale = drift(folder)
        if stale:
            click.secho(f"out of date: {', '.join(stale)}", fg="red", err=True)
            raise SystemExit(EXIT_FAILED)
        click.echo("canonical schemas up to date")
        return
    for path in write_canonical(folder):
        click.echo(f"wrote {path}")
    if out is None:
        from munivideo.packs_manifest import write_manifest

        # The manifest hashes every pack file, the canonical schemas included.
        click.echo(f"wrote {write_manifest()}")


def run() -> None:  # pragma: no cover - console entry for `python -m munivideo`
    """Run the ``munivideo`` command line and exit with its status: 0 ok, 1 failed, 2 usage
    or configuration error, 3 a breaking contract change (``contracts diff``)."""
    sys.exit(main())
