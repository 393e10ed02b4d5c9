"""Fuzz harness settings and the tally of bad inputs (printed at the end of the run).

``make test`` runs a small, fixed budget (derandomized: the same examples every run);
``make fuzz`` sets ``MUNIVIDEO_FUZZ=large`` for a larger one. The variable only picks a
hypothesis profile for these tests; nothing in munivideo reads it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz-small",
    max_examples=12,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
settings.register_profile(
    "fuzz-large",
    max_examples=int(os.environ.get("MUNIVIDEO_FUZZ_EXAMPLES", "300")),
    derandomize=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
PROFILE = "fuzz-large" if os.environ.get("MUNIVIDEO_FUZZ") == "large" else "fuzz-small"

KINDS = ("rest-record", "soap-record", "webhook-body")
COLUMNS = ("tried", "bad", "handled", "lost", "duplicated")


class Tally:
    """Counts per kind of input: tried, bad (not a valid record/body), handled (synced or
    quarantined with its id; a typed answer for a body), lost, duplicated (a side effect
    repeated)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {k: Counter() for k in KINDS}

    def add(self, kind: str, **numbers: int) -> None:
        self.counts[kind].update(numbers)

    def table(self) -> str:
        lines = ["kind           " + " ".join(f"{c:>10}" for c in COLUMNS)]
        for kind in KINDS:
            row = self.counts[kind]
            lines.append(f"{kind:<15}" + " ".join(f"{row[c]:>10}" for c in COLUMNS))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {k: {c: self.counts[k][c] for c in COLUMNS} for k in KINDS}


_TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return _TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not any(_TALLY.counts[k]["tried"] for k in KINDS):
        return
    terminalreporter.write_sep("-", f"fuzz tally ({PROFILE})")
    terminalreporter.write_line(_TALLY.table())
    target = os.environ.get("MUNIVIDEO_FUZZ_TALLY")
    if target:
        with open(target, "w", encoding="utf-8") as out:
            json.dump(_TALLY.as_dict(), out, indent=2)
