"""Crash points for kill -9 tests: the engine calls :meth:`CrashPoints.hit` between steps.

An engine's crash points are disarmed unless the code that builds it arms them:
``engine.crash = CrashPoints.parse("after_create")`` (a comma-separated list; ``name@N`` crashes
on the N-th hit) makes the process kill itself with SIGKILL at that point: no ``finally``, no
flush, exactly like an OOM kill or a pulled plug. Nothing in munivideo reads them from the
environment: a test seam must not be able to kill a production worker. The kill -9 tests' worker
script (``tests/engine/_worker.py``) arms them from its own ``MUNIVIDEO_CRASH_AT``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from dataclasses import dataclass, field

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
    """Where the process kills itself (``armed``: point -> the hit number that kills) and how
    often each point was passed (``hits``). Empty (the default): every hit is a no-op."""

    armed: dict[str, int] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    @classmethod
    def parse(cls, spec: str) -> CrashPoints:
        """``"after_create,after_attach@2"`` -> armed points (``@N``: the N-th hit kills).

        :raises ValueError: a name that is not in :data:`POINTS`.
        """
        armed: dict[str, int] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            name, _, nth = part.partition("@")
            if name not in POINTS:
                raise ValueError(f"unknown crash point {name!r} (known: {', '.join(POINTS)})")
            armed[name] = int(nth) if nth.isdigit() else 1
        return cls(armed=armed)

    def hit(self, point: str) -> None:
        """Pass ``point``; SIGKILL this process if it is armed and this is the fatal hit."""
        if point not in self.armed:
            return
        self.hits[point] += 1
        if self.hits[point] == self.armed[point]:
            os.kill(os.getpid(), signal.SIGKILL)
