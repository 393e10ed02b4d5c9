"""Limits on tenant templates: time, output size, loop iterations and call depth.

Tenant templates are third-party input. jinja2's sandbox stops attribute escapes but not a
template that loops ten billion times (``{% for i in range(100000) %}{% for j in range(100000)
%}...``), builds a gigabyte string, or recurses without end. :class:`LimitedSandbox` counts, per
render, every loop step over ``range``, every call and every string/list multiplication against
a :class:`Budget` carried in the render context (no global state), and :func:`render_limited`
streams the output and stops at the size cap. Every breach raises :class:`TemplateLimitError`,
which the renderer turns into a :class:`munivideo.errors.ConfigurationError` naming the template.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

BUDGET_KEY = "__munivideo_budget__"


@dataclass(frozen=True)
class TemplateLimits:
    """Per-render limits for tenant templates (``[invitations]`` in the tenant file).

    :param seconds: wall-clock time one template may take to render.
    :param max_output_chars: characters one template may produce.
    :param max_iterations: loop steps over ``range`` plus calls, per render.
    :param max_depth: nested calls (macros calling macros, recursive loops).
    """

    seconds: float = 1.0
    max_output_chars: int = 100_000
    max_iterations: int = 100_000
    max_depth: int = 50


class TemplateLimitError(Exception):
    """A template went past one of its :class:`TemplateLimits` (which one is in the text)."""


@dataclass
class Budget:
    """What one render has used so far; created fresh for every render."""

    limits: TemplateLimits
    deadline: float = 0.0
    steps: int = 0
    depth: int = 0
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.deadline = self.started + self.limits.seconds

    def step(self, n: int = 1) -> None:
        """Count ``n`` steps and check the step budget and the deadline."""
        self.steps += max(n, 0)
        if self.steps > self.limits.max_iterations:
            raise TemplateLimitError(f"more than {self.limits.max_iterations} loop steps or calls")
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"took longer than {self.limits.seconds:g} s")


def _budget(context: Any) -> Budget | None:
    getter = getattr(context, "get", None)
    found = getter(BUDGET_KEY) if getter is not None else None
    return found if isinstance(found, Budget) else None


@jinja2.pass_context
def _range(context: Any, *args: int) -> Iterator[int]:
    budget = _budget(context)
    for value in range(*args):
        if budget is not None:
            budget.step()
        yield value


class LimitedSandbox(SandboxedEnvironment):
    """jinja2's sandbox plus per-render budgets (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *args: Any, limits: TemplateLimits | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits or TemplateLimits()
        self.globals["range"] = _range

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """jinja2's rule, and nothing of the render budget is reachable."""
        # The budget sits in the context; a template must not reach (and reset) it.
        if isinstance(obj, Budget):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """``*`` may not build a value longer than the output cap; ``**`` exponents stay small."""
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise TemplateLimitError("exponent larger than 64")
        if operator == "*":
            count, item = (right, left) if isinstance(right, int) else (left, right)
            repeated = isinstance(count, int) and isinstance(item, str | list | tuple)
            if repeated and len(item) * count > self.limits.max_output_chars:
                raise TemplateLimitError(
                    f"a repeated value longer than {self.limits.max_output_chars}"
                )
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call counts one step and one level of depth against the render's budget."""
        budget = _budget(__context)
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        budget.step()
        budget.depth += 1
        try:
            if budget.depth > budget.limits.max_depth:
                raise TemplateLimitError(f"calls nested deeper than {budget.limits.max_depth}")
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1


def render_limited(
    template: jinja2.Template, context: dict[str, Any], limits: TemplateLimits
) -> str:
    """Render ``template`` under ``limits``; raises :class:`TemplateLimitError` on a breach."""
    budget = Budget(limits)
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate({**context, BUDGET_KEY: budget}):
            size += len(chunk)
            if size > limits.max_output_chars:
                raise TemplateLimitError(f"output longer than {limits.max_output_chars} characters")
            budget.step(0)
            parts.append(chunk)
    except RecursionError:
        raise TemplateLimitError("recursion too deep") from None
    except MemoryError:
        raise TemplateLimitError("ran out of memory") from None
    return "".join(parts)
