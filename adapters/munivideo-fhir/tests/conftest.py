from __future__ import annotations

import pytest

from munivideo.sandbox import Sandbox


@pytest.fixture
def sb(munivideo_sandbox: Sandbox) -> Sandbox:
    return munivideo_sandbox
