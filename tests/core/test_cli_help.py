"""What ``munivideo ... --help`` says: true for the command, plain text (no reST markup),
and no repository paths a pip install does not have."""

from __future__ import annotations

import click
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


def _paths(
    group: click.Group, ctx: click.Context, prefix: tuple[str, ...]
) -> list[tuple[str, ...]]:
    found = [prefix]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            found += _paths(command, click.Context(command, parent=ctx), (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_help_is_plain_text_without_repository_paths() -> None:
    paths = _paths(main, click.Context(main), ())
    assert ("adapter", "new") in paths and ("sandbox", "wait") in paths
    for path in paths:
        text = _help(*path)
        assert "``" not in text, f"reST markup in munivideo {' '.join(path)} --help:\n{text}"
        assert ":func:" not in text and ":data:" not in text, text
        # a pip install has no docs/ folder: name the page, not the repository path
        assert "docs/" not in text, f"a repository path in munivideo {' '.join(path)} --help"
