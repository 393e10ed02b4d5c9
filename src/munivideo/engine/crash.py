"""Crash points for kill -9 tests: the engine calls :meth:`CrashPoints.hit` between steps.

``MUNIVIDEO_CRASH_AT=after_create`` (a comma-separated list; ``name@N`` crashes on the N-th hit)
makes the process kill itself with SIGKILL at that point: no ``finally``, no flush, exactly like
an OOM kill or a pulled plug. Unset (the default), every hit is a no-op.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from dataclasses import dataclass, field

ENV = "MUNIVIDEO_CRASH_AT"

POINTS: tuple[str, ...] = (
    "before_create",
    "after_create",  # the ERP committed the protocol; the store does not know yet
    "after_create_recorded",
    "after_attach",
    "after_forward",
    "before_status",
    "after_status",
    "before_complete",
    "after_complete",
    "after_room",  # sync: room provisioned, binding not yet saved
    "after_send",  # sync: a message sent, not yet marked
)


@dataclass
class CrashPoints:
    armed: dict[str, int] = field(default_factory=dict)  # point -> hit number that kills
    hits: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> CrashPoints:
        spec = (environ if environ is not None else dict(os.environ)).get(ENV, "")
        armed: dict[str, int] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            name, _, nth = part.partition("@")
            armed[name] = int(nth) if nth.isdigit() else 1
        return cls(armed=armed)

    def hit(self, point: str) -> None:
        if point not in self.armed:
            return
        self.hits[point] += 1
        if self.hits[point] == self.armed[point]:
            os.kill(os.getpid(), signal.SIGKILL)
