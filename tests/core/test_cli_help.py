"""What ``munivideo ... --help`` says: true for the command, plain text (no reST markup),
and no repository paths a pip install does not have."""

from __future__ import annotations

from click.testing import CliRunner

from munivideo.cli import main


def _help(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_record_help_says_one_config() -> None:
    text = _help("record")
    assert "repeat for several tenants" not in text
    assert "exactly one" in text
