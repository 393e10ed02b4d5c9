"""Every code block in docs/ runs (Sybil), as a newcomer would run it from a fresh clone with the
virtual environment activated.

Each page gets its own working directory: a copy of the repository's tracked files with `.venv`
linked in. Blocks run in page order and share that directory (and, for Python blocks, one
namespace), so a page is a path to follow literally:

* ``python`` blocks run in the page's namespace;
* ``sh`` / ``bash`` blocks run in ``bash -euo pipefail`` with ``.venv/bin`` first on ``PATH``; a
  process started with ``&`` lives until the page ends;
* the page is one terminal session: what a shell block exports is set for the next shell and
  Python blocks;
* ``console`` blocks are sessions: each ``$ command`` runs as above and the lines after it are its
  expected output, compared as doctest does with ELLIPSIS (``...`` stands for any text);
* ``toml`` / ``json`` / ``yaml`` blocks must parse; preceded by ``<!-- file: NAME -->`` they are
  written to ``NAME`` first, for the next blocks to use;
* ``python`` blocks preceded by ``<!-- file: NAME -->`` are written to ``NAME`` too, then run;
* ``text`` blocks (output, diagrams) are prose, not code.

A few commands cannot run inside the test suite itself; :data:`STAND_INS` says, per command, what
runs in their place (``make test`` is the suite that runs this page: its recipe is checked with
``make -n``). Nothing is skipped.
"""

from __future__ import annotations

import contextlib
import doctest
import functools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import yaml
from sybil import Document, Example, Region, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
SHELLS = ("sh", "bash")
DATA = ("toml", "json", "yaml")
PROSE = ("text",)

STAND_INS: tuple[tuple[re.Pattern[str], str], ...] = (
    # `make test` is the run that executes this page: check its recipe without recursing.
    (re.compile(r"^make test\b"), "make -n test"),
    # An adapter the page scaffolded is installed for real, but into the page's own folder (on
    # its PYTHONPATH), so the shared .venv never gains the page's entry points.
    (
        re.compile(r"^pip install -e (adapters/[\w.-]+)$"),
        r"pip install --quiet --no-deps --no-build-isolation --no-index --target .docs-site \1",
    ),
    # Installing from PyPI needs the network the suite does not have: the extras must exist.
    (re.compile(r"^pip install (.*)$"), "python -m docs_check_extras \\1"),
)
"""Commands replaced, line by line, before a shell block runs: (pattern, replacement)."""

PENDING: frozenset[str] = frozenset()
"""Pages whose blocks do not run (excluded while one is rewritten as a runnable path); empty, and
tests/docs/test_docs_run.py keeps it so."""

PYTHON = PythonEvaluator()

collect_ignore = ["tutorial"]  # its files are run by tests/docs/test_tutorial.py


def _stand_in(line: str) -> str:
    for pattern, replacement in STAND_INS:
        if pattern.search(line.strip()):
            return pattern.sub(replacement, line.strip())
    return line


COPIED = ("examples", "docs", "adapters")
"""Top-level folders a page may change: copied. The rest of the clone is linked (read-only by
convention: no page edits the library's own sources)."""


@functools.cache
def _tracked_tops() -> tuple[str, ...]:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return tuple(sorted({name.decode().split("/")[0] for name in tracked if name}))


def _work_dir() -> Path:
    work = Path(tempfile.mkdtemp(prefix="munivideo-docs-"))
    for top in _tracked_tops():
        source, target = ROOT / top, work / top
        if source.is_dir() and top in COPIED:
            shutil.copytree(source, target)
        elif source.is_dir():
            target.symlink_to(source)
        elif source.is_file():
            shutil.copy2(source, target)
    (work / ".venv").symlink_to(VENV)
    return work


def setup(namespace: dict[str, Any]) -> None:
    work = _work_dir()
    namespace["__work__"] = work
    namespace["__cwd__"] = os.getcwd()
    namespace["__groups__"] = []
    namespace["__env__"] = _env(work)
    os.chdir(work)


def teardown(namespace: dict[str, Any]) -> None:
    for group in namespace["__groups__"]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
    os.chdir(namespace["__cwd__"])
    shutil.rmtree(namespace["__work__"], ignore_errors=True)


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{work / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(work / ".venv")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "docs"), str(work / ".docs-site")])
    env.pop("NO_COLOR", None)
    return env


def run_shell(example: Example) -> None:
    _run(example, "\n".join(_stand_in(line) for line in str(example.parsed).splitlines()))


def run_console(example: Example) -> None:
    """``$ command`` lines run one by one; the lines after each are its expected output."""
    session: list[tuple[str, list[str]]] = []
    for line in str(example.parsed).splitlines():
        if line.startswith("$ "):
            session.append((_stand_in(line[2:]), []))
        elif session:
            session[-1][1].append(line)
        else:
            raise AssertionError(f"{example.path}:{example.line}: output before any `$ ` line")
    checker = doctest.OutputChecker()
    for command, expected in session:
        output = _run(example, command)
        want = "\n".join(expected).strip()
        if want and not checker.check_output(want + "\n", output.strip() + "\n", doctest.ELLIPSIS):
            raise AssertionError(
                f"{example.path}:{example.line}: `{command}` printed\n{output}\nexpected\n{want}"
            )


def _run(example: Example, script: str) -> str:
    namespace = example.namespace
    work: Path = namespace["__work__"]
    saved = work / ".docs-session.env"
    # Keep what the block exported for the rest of the page, as one terminal session would.
    script = f"{script}\nenv -0 > {shlex.quote(str(saved))}\n"
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env=namespace["__env__"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: `cmd &` is killed when the page ends
    )
    namespace["__groups__"].append(process.pid)
    try:
        output, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"{example.path}:{example.line}: timed out") from None
    if process.returncode != 0:
        raise AssertionError(
            f"{example.path}:{example.line}: exit {process.returncode}\n{script}\n---\n"
            + output.decode(errors="replace")[-4000:]
        )
    if saved.exists():
        pairs = (item.partition("=") for item in saved.read_bytes().decode().split("\0") if item)
        namespace["__env__"] = {key: value for key, _, value in pairs}
    return output.decode(errors="replace")


def run_python(example: Example) -> None:
    """A Python block sees the environment the page's shell blocks exported; preceded by
    ``<!-- file: NAME -->`` it is also written to ``NAME`` (a module or test file the page uses)."""
    named = DataBlockParser.NAMED.search(example.document.text, 0, example.start)
    if named is not None:
        target = Path(example.namespace["__work__"]) / named.group("name")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(example.parsed), encoding="utf-8")
    before = dict(os.environ)
    os.environ.update(example.namespace["__env__"])
    try:
        PYTHON(example)
    finally:
        os.environ.clear()
        os.environ.update(before)


class DataBlockParser:
    """``toml``/``json``/``yaml`` blocks parse; a ``<!-- file: NAME -->`` before one writes it."""

    FILE = re.compile(r"<!--\s*file:\s*(?P<name>\S+)\s*-->\s*\n```(?P<lang>\w+)\n", re.S)
    NAMED = re.compile(r"<!--\s*file:\s*(?P<name>\S+)\s*-->\s*\n\Z")

    def __call__(self, document: Document) -> Iterable[Region]:
        named = {m.start("lang") - 3: m.group("name") for m in self.FILE.finditer(document.text)}
        for language in DATA:
            yield from CodeBlockParser(language, self._check(language, named))(document)

    @staticmethod
    def _check(language: str, named: dict[int, str]) -> Any:
        def evaluate(example: Example) -> None:
            text = str(example.parsed)
            if language == "toml":
                tomllib.loads(text)
            elif language == "json":
                json.loads(text)
            else:
                yaml.safe_load(text)
            name = named.get(example.start)
            if name is not None:
                target = Path(example.namespace["__work__"]) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text + "\n", encoding="utf-8")

        return evaluate


class UnknownBlockParser:
    """A fenced block in a language this page runner does not know fails, so nothing is
    silently left unrun."""

    KNOWN: ClassVar[frozenset[str]] = frozenset({"python", "console", *SHELLS, *DATA, *PROSE})
    FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n", re.M)

    def __call__(self, document: Document) -> Iterable[Region]:
        inside = False
        for match in self.FENCE.finditer(document.text):
            if inside:
                inside = False
                continue
            inside = True
            language = match.group("lang").strip()
            if language not in self.KNOWN:
                yield Region(match.start(), match.end(), language, self._fail)

    @staticmethod
    def _fail(example: Example) -> None:
        raise AssertionError(
            f"{example.path}:{example.line}: code block language {example.parsed!r} is neither "
            f"run nor declared prose; use one of {sorted(UnknownBlockParser.KNOWN)}"
        )


_ = DirectiveInHTMLCommentLexer  # the `file:` directive is matched by DataBlockParser
pytest_collect_file = Sybil(
    parsers=[
        CodeBlockParser("python", run_python),
        *(CodeBlockParser(language, run_shell) for language in SHELLS),
        CodeBlockParser("console", run_console),
        DataBlockParser(),
        UnknownBlockParser(),
    ],
    patterns=["*.md"],
    excludes=sorted(PENDING),
    setup=setup,
    teardown=teardown,
).pytest()

sys.path.insert(0, str(ROOT / "tests" / "docs"))
