"""``MalformedResponseError`` is a failure *before* classification, like ``HttpStatusError``:
it may be raised only where the retry loop (``call_with_retry``) will classify it - inside an
``attempt`` function handed to it, or inside the SOAP transport zeep calls within one. A check
after the call must use ``malformed_answer``, so nothing raw escapes an adapter. This test
reads every ``raise MalformedResponseError`` in munivideo and the adapters and names the
enclosing function of any that is elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
# Functions the retry loop runs: the adapters' attempt closures, and zeep's transport hooks
# (HardenedTransport.post and the re-encoding it calls), which run inside call_soap's attempt.
ALLOWED = {"attempt", "post", "transcode_to_utf8"}


def _raises_outside_attempts(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []

    def visit(node: ast.AST, enclosing: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = enclosing
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if isinstance(child, ast.Raise) and child.exc is not None:
                target = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                named = isinstance(target, ast.Name) and target.id == "MalformedResponseError"
                if named and enclosing not in ALLOWED:
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno} in {enclosing}")
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_malformed_response_error_is_raised_only_where_the_retry_loop_classifies_it() -> None:
    files = [*(ROOT / "src" / "munivideo").rglob("*.py"), *ROOT.glob("adapters/*/src/**/*.py")]
    assert len(files) > 50
    outside = [hit for path in files for hit in _raises_outside_attempts(path)]
    assert outside == []
