"""``munivideo console``: the web console for the people in the loop (extra ``console``).

Servants see their day's agenda, a booking's page and the outcome form; operators see the
outbox (with replay, requeue and "done elsewhere"), the quarantine (with re-admission) and the
health of each city; video providers post attendance webhooks to it. Starlette + Jinja2 + htmx
(shipped in the package), pt-BR by default and English available. See ``docs/console.md``.

The names below load on first use, so ``munivideo console --help`` works (and says what to
install) where the ``console`` extra is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "create_app": "munivideo.console.app",
    "ConsoleSettings": "munivideo.console.web",
    "Authenticator": "munivideo.console.users",
    "ConsoleRole": "munivideo.console.users",
    "ConsoleUser": "munivideo.console.users",
    "UsersFile": "munivideo.console.users",
    "hash_password": "munivideo.console.users",
    "load_users": "munivideo.console.users",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'munivideo.console' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
