"""Meta-tests: every hook has a test and a documented signature (as datasette does)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from munivideo import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT}_spec")
)


def test_there_are_hooks() -> None:
    assert "register_erp_adapters" in HOOKS and "outcome_written" in HOOKS
    assert len(HOOKS) == 8


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_exact_signature(hook: str) -> None:
    docs = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    signature = f"{hook}{inspect.signature(getattr(hookspecs, hook))}".replace("'", "")
    assert f"### {hook}\n" in docs, f"docs/hooks.md has no section for {hook}"
    assert signature in docs, f"docs/hooks.md does not show the signature {signature}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    this = Path(__file__).resolve()
    candidates = [*(ROOT / "tests").rglob("test_*.py"), *(ROOT / "adapters").rglob("test_*.py")]
    for path in candidates:
        if path.resolve() != this and f"def {hook}(" in path.read_text(encoding="utf-8"):
            return
    pytest.fail(f"no test implements the hook {hook}")
