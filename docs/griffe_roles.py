"""Turn the Sphinx markup in munivideo's docstrings into links and code blocks in the API reference.

The docstrings are written in Sphinx style (``:class:`~munivideo.models.Booking```), which
mkdocstrings' Python handler parses for parameters but leaves the roles as literal text. This
griffe extension rewrites each role, once a package is loaded, into an *optional* autorefs link
(mkdocs-autorefs: linked when the target is rendered on some page, plain code otherwise, never a
warning), after resolving a short name in the scope of the object whose docstring holds it
(``:func:`names_for``` in ``munivideo.scaffold`` links ``munivideo.scaffold.names_for``).

A reST ``.. code-block:: LANG`` directive and its indented body become a fenced Markdown block.

Registered in ``mkdocs.yml`` under the python handler's ``extensions``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

#: ``:class:`target``` and its siblings; ``~`` before the target shows only its last part.
ROLE = re.compile(r":(?:py:)?(class|func|meth|attr|mod|data|exc|obj|const):`(~?)([^`]+)`")
#: ``:rfc:`9110``` links the IETF's page for that RFC.
RFC = re.compile(r":rfc:`(\d+)`")
#: ``.. code-block:: python`` then a blank line and the indented body (up to a dedent).
CODE_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)\.\. code-block::[ \t]*(?P<lang>\S*)[ \t]*\n(?:[ \t]*\n)*"
    r"(?P<body>(?:(?P=indent)[ \t]+\S[^\n]*\n|[ \t]*\n)+)",
    re.MULTILINE,
)


def _fence(match: re.Match[str]) -> str:
    indent, lang = match.group("indent"), match.group("lang")
    lines = match.group("body").rstrip("\n").splitlines()
    width = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
    body = "\n".join(indent + x[width:] if x.strip() else "" for x in lines)
    return f"{indent}```{lang}\n{body}\n{indent}```\n\n"


def _target(obj: griffe.Object, name: str) -> str | None:
    """The full path ``name`` refers to from ``obj``'s scope, or None when it cannot be told."""
    name = name.strip().removesuffix("()")
    head, _, rest = name.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except griffe.NameResolutionError:
            scope = scope.parent
            continue
        return f"{resolved}.{rest}" if rest else resolved
    return name if "." in name else None


def _rewrite(obj: griffe.Object, text: str) -> str:
    def role(match: re.Match[str]) -> str:
        short, name = match.group(2) == "~", match.group(3)
        shown = name.strip().rsplit(".", 1)[-1] if short else name.strip()
        code = f"<code>{html.escape(shown)}</code>"
        target = _target(obj, name)
        if target is None:
            return code
        return f'<autoref identifier="{html.escape(target)}" optional>{code}</autoref>'

    text = CODE_BLOCK.sub(_fence, text if text.endswith("\n") else text + "\n").rstrip("\n")
    text = ROLE.sub(role, text)
    return RFC.sub(
        lambda m: f"[RFC {m.group(1)}](https://www.rfc-editor.org/rfc/rfc{m.group(1)})", text
    )


def _walk(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = _rewrite(obj, obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            _walk(member)


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Called by griffe once ``pkg`` and all its modules are loaded."""
        _walk(pkg)
