"""Run every ``benchmarks/bench_*.py`` module's ``main()`` in one process, one after another.

``python -m benchmarks`` runs all; ``python -m benchmarks erp sync`` runs ``bench_erp`` and
``bench_sync`` only. Each benchmark prints its own table with ratios against its baseline.
``--smoke`` runs each with tiny sizes and budgets (what ``make test`` does, so no benchmark can
rot): the same code paths and invariants, no figures worth reading.

Every ``bench_*.py`` module defines ``main(argv: list[str] | None = None, *, smoke: bool = False)``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    smoke = "--smoke" in argv
    argv = [a for a in argv if a != "--smoke"]
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    wanted = [f"bench_{a.removeprefix('bench_')}" for a in argv] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmarks: {', '.join(unknown)} (have: {', '.join(names)})")
        return 2
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        module.main([], smoke=smoke)
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
