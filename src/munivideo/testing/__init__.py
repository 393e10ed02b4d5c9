"""munivideo's pytest plugin (entry point ``pytest11``): fixtures for the sandbox ERP.

Imports stay lazy so that merely having munivideo installed costs pytest nothing.

* ``munivideo_sandbox`` - one sandbox per session (both dialects, ``tax-office`` seed, ephemeral
  port), reset before every test that uses it.
* ``munivideo_sandbox_v2`` - the same on the ``v2`` reference packs (alphanumeric CNPJ, foreign
  phones), one per session, reset before every test that uses it.
* ``munivideo_sandbox_factory`` - ``factory(faults="...", seed="empty", dialect="rest", ...)``
  starts a dedicated sandbox, stopped at the end of the test.

``munivideo.testing.acceptance`` (the adapter acceptance suite) lives next to this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from munivideo.testing.live import *  # noqa: F403  - pytest options and fixtures for CI

if TYPE_CHECKING:
    from munivideo.sandbox.server import Sandbox


@pytest.fixture(scope="session")
def _munivideo_sandbox_session() -> Iterator[Sandbox]:
    from munivideo.sandbox.server import Sandbox

    with Sandbox(dialect="both", seed="tax-office") as sb:
        yield sb


@pytest.fixture
def munivideo_sandbox(_munivideo_sandbox_session: Sandbox) -> Sandbox:
    """The shared sandbox ERP, freshly reset (seed data, no faults, no idempotency keys)."""
    _munivideo_sandbox_session.reset()
    return _munivideo_sandbox_session


@pytest.fixture(scope="session")
def _munivideo_sandbox_v2_session() -> Iterator[Sandbox]:
    from munivideo.sandbox.server import Sandbox

    with Sandbox(dialect="both", seed="tax-office", pack_version="v2") as sb:
        yield sb


@pytest.fixture
def munivideo_sandbox_v2(_munivideo_sandbox_v2_session: Sandbox) -> Sandbox:
    """The shared sandbox ERP on the ``v2`` reference packs, freshly reset."""
    _munivideo_sandbox_v2_session.reset()
    return _munivideo_sandbox_v2_session


@pytest.fixture
def munivideo_sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start dedicated sandboxes (e.g. with a fault spec); all are stopped after the test."""
    from munivideo.sandbox.server import Sandbox

    started: list[Sandbox] = []

    def factory(**kwargs: Any) -> Sandbox:
        sb = Sandbox(**kwargs).start()
        started.append(sb)
        return sb

    yield factory
    for sb in started:
        sb.stop()
