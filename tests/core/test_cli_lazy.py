"""The CLI lists its commands without importing them, and names the extra a command needs."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from munivideo import cli


@pytest.mark.parametrize("name", sorted(cli.LAZY_COMMANDS))
def test_lazy_help_matches_the_command(name: str) -> None:
    assert name in cli.LAZY_HELP, f"add {name!r} to munivideo.cli.LAZY_HELP"
    command = cli.LazyGroup._load(name)
    assert command is not None
    assert cli.LAZY_HELP[name] == command.get_short_help_str(limit=1000)


def test_help_imports_no_lazy_command() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from munivideo.cli import main, LAZY_COMMANDS\n"
        "out = CliRunner().invoke(main, ['--help']).output\n"
        "assert all(name in out for name in LAZY_COMMANDS), out\n"
        "loaded = sorted(t.partition(':')[0] for t in LAZY_COMMANDS.values()"
        " if t.partition(':')[0] in sys.modules)\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_job_commands_do_not_load_the_contract_tools() -> None:
    # every job command loads every adapter; the SOAP one uses contract_tools.safexml, which
    # must not drag in the contract checker's XML Schema and OpenAPI machinery (~0.5 s each run)
    code = (
        "import sys\n"
        "from munivideo.plugins import load_plugins\n"
        "load_plugins()\n"
        "import munivideo.contract_tools as tools\n"
        "heavy = ('xmlschema', 'openapi_core', 'jsonschema', 'munivideo.contract_tools.check')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "assert sorted(tools._HOME) == sorted(tools.__all__)\n"
        "assert tools.diff_files.__module__ == 'munivideo.contract_tools.check'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(_name: str) -> object:
        raise ModuleNotFoundError("No module named 'werkzeug'", name="werkzeug")

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    result = CliRunner().invoke(cli.main, ["sandbox", "serve"])
    assert result.exit_code == cli.EXIT_USAGE
    assert "pip install 'munivideo[sandbox]'" in result.output


def test_no_color_strips_ansi(monkeypatch: pytest.MonkeyPatch) -> None:
    @cli.main.command("_colour_probe", hidden=True)
    def probe() -> None:
        click.secho("red", fg="red")

    try:
        monkeypatch.setenv("NO_COLOR", "1")
        plain = CliRunner().invoke(cli.main, ["_colour_probe"], color=True).output
        monkeypatch.delenv("NO_COLOR")
        coloured = CliRunner().invoke(cli.main, ["_colour_probe"], color=True).output
    finally:
        cli.main.commands.pop("_colour_probe")
    assert plain == "red\n"
    assert "\x1b[" in coloured


RUN_WITHOUT = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
from munivideo.cli import main
main(sys.argv[2:], prog_name="munivideo")
"""


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["demo"], "sandbox"),
        (["contracts", "diff", "a/openapi.yaml", "b/openapi.yaml"], "contracts"),
        (["sandbox", "serve"], "sandbox"),
    ],
)
def test_a_command_whose_extra_is_missing_at_run_time_names_it(args: list[str], extra: str) -> None:
    # the module imports fine; the extra's modules are imported only once the command runs
    blocked = "zeep,lxml,defusedxml,xmlschema,openapi_core,jsonschema,greenery,werkzeug,fhir"
    done = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT, blocked, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == cli.EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert f"pip install 'munivideo[{extra}]'" in done.stderr
