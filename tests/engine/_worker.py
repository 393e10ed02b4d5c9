"""A write-back worker for kill -9 tests: ``python _worker.py CONFIG.json WORKER WAIT BATCH``.

Crash points come from ``MUNIVIDEO_CRASH_AT``, read here, by the test harness: the engine itself
never reads them from the environment (see :mod:`munivideo.engine.crash`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from munivideo.config import parse_config
from munivideo.engine import CrashPoints, build_engine, writeback
from munivideo.plugins import load_plugins


def main() -> int:
    data = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    engine = build_engine(
        parse_config(data),
        plugins=load_plugins(),
        worker_id=sys.argv[2],
    )
    engine.crash = CrashPoints.parse(os.environ.get("MUNIVIDEO_CRASH_AT", ""))
    result = writeback(engine, wait_seconds=float(sys.argv[3]), batch=int(sys.argv[4]))
    sys.stdout.write(result.model_dump_json() + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
