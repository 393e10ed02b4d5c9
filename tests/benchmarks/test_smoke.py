"""Every benchmark runs in smoke mode (tiny sizes, no figures asserted), so none can rot unseen.

The list comes from the files on disk: a new ``benchmarks/bench_*.py`` is run here without anyone
having to remember to add it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))


def test_benchmarks_are_found() -> None:
    assert len(BENCHMARKS) >= 6, BENCHMARKS


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_in_smoke_mode(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{name} failed in smoke mode:\n{done.stdout}\n{done.stderr}"
    assert f"=== {name} ===" in done.stdout
