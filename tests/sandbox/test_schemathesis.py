"""Property-based contract run: schemathesis generates requests from the pack's own OpenAPI and
checks every answer of the live sandbox against it (fixed seed, bounded examples)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode

from munivideo.packs import pack_dir
from munivideo.sandbox import Sandbox
from munivideo.sandbox.store import encode_cursor

schema = schemathesis.openapi.from_path(pack_dir("erp-rest", "v1") / "openapi.yaml")


@pytest.fixture(scope="module")
def live() -> Iterator[Sandbox]:
    with Sandbox(dialect="rest", seed="tax-office") as sb:
        yield sb


def _make_realistic(case: schemathesis.Case) -> None:
    """Schema-valid is not enough for two values only the server can mint; fix them up in
    positive cases so the 'valid data is accepted' check stays meaningful:

    * an opaque cursor must be one the server issued;
    * an Idempotency-Key reused with another payload is *supposed* to get 422 (IETF draft), so
      each generated create gets a fresh key.
    """
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if case.query and "cursor" in case.query:
        case.query["cursor"] = encode_cursor(datetime(2020, 1, 1, tzinfo=UTC), "AG-000000")
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())


@schema.parametrize()
@hypothesis.seed(20240305)
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_sandbox_honours_its_openapi(case: schemathesis.Case, live: Sandbox) -> None:
    _make_realistic(case)
    token = live.token()
    case.call_and_validate(
        base_url=live.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
