"""The griffe extension that turns Sphinx roles into links in the generated API reference."""

from __future__ import annotations

import sys
from pathlib import Path

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))
import griffe_roles


def test_roles_become_optional_links_resolved_in_scope(tmp_path: Path) -> None:
    pkg = tmp_path / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""Package."""\n', encoding="utf-8")
    (pkg / "mod.py").write_text(
        '"""Module."""\n\n'
        "def names_for() -> None:\n"
        '    """Names."""\n\n\n'
        "class Store:\n"
        '    """See :func:`names_for`, :class:`~pkgx.mod.Store`, :mod:`os.path`, :rfc:`9110`\n'
        '    and :data:`UNKNOWN`."""\n',
        encoding="utf-8",
    )
    loaded = griffe.load(
        "pkgx",
        search_paths=[tmp_path],
        extensions=griffe.load_extensions(griffe_roles.SphinxRoles),
    )
    doc = loaded["mod.Store"].docstring.value
    assert ":func:" not in doc and ":class:" not in doc and ":rfc:" not in doc
    assert '<autoref identifier="pkgx.mod.names_for" optional><code>names_for</code>' in doc
    assert '<autoref identifier="pkgx.mod.Store" optional><code>Store</code></autoref>' in doc
    assert '<autoref identifier="os.path" optional><code>os.path</code></autoref>' in doc
    assert "[RFC 9110](https://www.rfc-editor.org/rfc/rfc9110)" in doc
    # a bare name nothing in scope defines stays code, unlinked
    assert "and <code>UNKNOWN</code>." in doc


def test_a_code_block_directive_becomes_a_fenced_block(tmp_path: Path) -> None:
    pkg = tmp_path / "pkgy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        '"""Package.\n\n.. code-block:: python\n\n    with x:\n        y()\n\nAfter."""\n',
        encoding="utf-8",
    )
    loaded = griffe.load(
        "pkgy",
        search_paths=[tmp_path],
        extensions=griffe.load_extensions(griffe_roles.SphinxRoles),
    )
    assert loaded.docstring is not None
    assert loaded.docstring.value == "Package.\n\n```python\nwith x:\n    y()\n```\n\nAfter."
