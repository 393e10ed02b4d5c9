from __future__ import annotations

import pytest
import requests

from munivideo.sandbox import Sandbox


@pytest.fixture
def sb(munivideo_sandbox: Sandbox) -> Sandbox:
    return munivideo_sandbox


@pytest.fixture
def rest(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sb.token()}"
    return session
