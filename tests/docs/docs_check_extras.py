"""``python -m docs_check_extras ARGS``: what a docs page's ``pip install ARGS`` line is checked
with in the offline test suite: every ``munivideo[...]`` extra it names exists in pyproject.toml
and every other distribution it names is one of the repository's adapters."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(args: list[str]) -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project["optional-dependencies"])
    adapters = {p.name for p in (ROOT / "adapters").iterdir() if (p / "pyproject.toml").exists()}
    for arg in (a.strip("'\"") for a in args if not a.startswith("-")):
        match = re.fullmatch(r"([\w.-]+)(?:\[([\w,-]+)\])?", arg)
        if match is None and Path(arg).exists():
            continue  # a local path (`pip install -e adapters/...`)
        if match is None:
            print(f"cannot read requirement {arg!r}")
            return 1
        name, wanted = match.group(1), match.group(2)
        if name != "munivideo" and name not in adapters:
            print(f"{name} is neither munivideo nor one of its adapters")
            return 1
        missing = sorted(set((wanted or "").split(",")) - extras - {""})
        if missing:
            print(f"munivideo has no extra {', '.join(missing)} (has: {', '.join(sorted(extras))})")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
