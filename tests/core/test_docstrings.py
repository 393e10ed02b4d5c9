"""Every public name has a docstring (the API reference is generated from them).

Public: a module-level class or function not starting with ``_``, defined in a module whose
dotted path has no ``_``-prefixed part, and the public methods and properties such a class
defines itself; in ``munivideo`` and in every adapter distribution's package. ``UNDOCUMENTED``
is the ratchet of names that predate this test: it may only shrink (a name documented since
must leave it), and a new public name without a docstring fails at once.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATCHET = Path(__file__).with_name("undocumented.txt")
ADAPTER_PACKAGES = sorted(
    p.name
    for adapter in (ROOT / "adapters").iterdir()
    for p in (adapter / "src").glob("*")
    if (p / "__init__.py").exists()
)
PACKAGES = ["munivideo", *ADAPTER_PACKAGES]


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


def _public(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    found: list[tuple[str, object]] = []
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module_name:
            continue
        if inspect.isclass(value):
            found.append((f"{module_name}.{name}", value))
            for attr, member in vars(value).items():
                if attr.startswith("_"):
                    continue
                target = member.fget if isinstance(member, property) else member
                if isinstance(target, staticmethod | classmethod):
                    target = target.__func__
                if inspect.isfunction(target):
                    found.append((f"{module_name}.{name}.{attr}", target))
        elif inspect.isfunction(value):
            found.append((f"{module_name}.{name}", value))
    return found


def _undocumented() -> set[str]:
    missing: set[str] = set()
    for module_name in _modules():
        for dotted, value in _public(module_name):
            doc = value.__doc__ if inspect.isfunction(value) else vars(value).get("__doc__")
            if not (doc or "").strip():
                missing.add(dotted)
    return missing


def test_every_public_name_has_a_docstring() -> None:
    allowed = set(RATCHET.read_text(encoding="utf-8").split()) if RATCHET.exists() else set()
    missing = _undocumented()
    new = sorted(missing - allowed)
    assert not new, "public names without a docstring:\n" + "\n".join(new)
    fixed = sorted(allowed - missing)
    assert not fixed, f"documented (or gone) since: remove from {RATCHET.name}:\n" + "\n".join(
        fixed
    )
