"""Crash points are a test seam the environment cannot arm in a production engine."""

from __future__ import annotations

import pytest

from munivideo.engine import CrashPoints
from munivideo.engine.context import Engine


def test_an_engine_ignores_the_test_harness_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNIVIDEO_CRASH_AT", "after_create,before_create")
    crash = Engine.__dataclass_fields__["crash"].default_factory()  # type: ignore[misc]
    assert crash.armed == {}
    crash.hit("after_create")  # a no-op: this test process is still alive
    assert crash.hits == {}


def test_parse_arms_named_points() -> None:
    assert CrashPoints.parse("after_create, after_attach@2").armed == {
        "after_create": 1,
        "after_attach": 2,
    }


def test_parse_refuses_an_unknown_point() -> None:
    with pytest.raises(ValueError, match="unknown crash point"):
        CrashPoints.parse("after_lunch")
