"""Every public name has a docstring (the API reference is generated from them).

Public: a module-level class or function not starting with ``_``, defined in a module whose
dotted path has no ``_``-prefixed part, and the public methods and properties such a class
defines itself; in ``munivideo`` and in every adapter distribution's package. There is no
exception list: the ratchet of names that predated this test has been emptied.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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


def _generated(value: object, doc: str) -> bool:
    """A docstring Python wrote, not a person: ``@dataclass`` and ``NamedTuple`` set a class's
    ``__doc__`` to its name and signature (``Rule(action, error, reason)``), which says nothing."""
    return inspect.isclass(value) and doc.startswith(f"{value.__name__}(")


def _undocumented() -> set[str]:
    missing: set[str] = set()
    for module_name in _modules():
        for dotted, value in _public(module_name):
            doc = value.__doc__ if inspect.isfunction(value) else vars(value).get("__doc__")
            doc = (doc or "").strip()
            if not doc or _generated(value, doc):
                missing.add(dotted)
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing = sorted(_undocumented())
    assert not missing, "public names without a docstring:\n" + "\n".join(missing)


def test_field_markers_begin_a_line() -> None:
    """``:raises X:`` in the middle of prose is not parsed as a field: mkdocstrings shows it as
    text and leaves the error out of the Raises table (``check_webhook_secret`` did)."""
    inline = re.compile(r"\S\s+:(param|raises|returns|return|rtype|type)\b[^`\n]*:")
    found = []
    for module_name in _modules():
        for dotted, value in _public(module_name):
            doc = value.__doc__ if inspect.isfunction(value) else vars(value).get("__doc__")
            found += [dotted for line in (doc or "").splitlines() if inline.search(line)]
    assert not found, "a field marker inside a line of prose:\n" + "\n".join(found)
