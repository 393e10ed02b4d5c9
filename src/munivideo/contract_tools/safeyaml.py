"""Bounded YAML reading for contracts and exception files (they may come from anywhere).

``yaml.safe_load`` builds no arbitrary objects, but it still accepts a 1 GB file or a "billion
laughs" document (aliases of aliases that expand to millions of nodes in whatever walks the
result). We cap the size of the text, the number of aliases and the nesting depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent

from munivideo.errors import ConfigurationError

MAX_YAML_BYTES = 8 * 1024 * 1024
"""Largest YAML document we read (bytes)."""
MAX_YAML_ALIASES = 1000
"""Most ``*alias`` references one document may use."""
MAX_YAML_DEPTH = 100
"""Deepest nesting of mappings and sequences."""
MAX_YAML_NODES = 1_000_000
"""Most nodes the document may expand to once every alias is followed ("billion laughs")."""


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias followed (memoized by identity)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
    memo[id(node)] = min(total, MAX_YAML_NODES + 1)
    return memo[id(node)]


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(path: Path, *, field: str | None = None) -> Any:
    """The YAML document at ``path``, within the bounds above.

    :raises ConfigurationError: unreadable, too big, too many aliases, too deep, or not YAML;
        the message names the file.
    """
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigurationError(
                f"{path}: {size} bytes is over the {MAX_YAML_BYTES}-byte limit for YAML",
                field=field,
            )
        text = path.read_text(encoding="utf-8")
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded(node, {}) > MAX_YAML_NODES:
                raise yaml.YAMLError(f"expands to more than {MAX_YAML_NODES} nodes through aliases")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}", field=field) from None
