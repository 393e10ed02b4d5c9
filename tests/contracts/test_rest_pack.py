"""The REST pack is a valid OpenAPI 3.1 document, and every golden example validates (or fails)
as declared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from munivideo.packs import pack_dir

PACK = pack_dir("erp-rest", "v1")
VALID = sorted((PACK / "examples" / "valid").glob("*.json"))
INVALID = sorted(
    p for p in (PACK / "examples" / "invalid").glob("*.json") if not p.name.endswith(".expect.json")
)
SERVER = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PACK / "openapi.yaml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_file_path(str(PACK / "openapi.yaml"), config=config)


def _request(req: dict[str, Any]) -> MockRequest:
    headers = dict(req.get("headers", {}))
    if "form" in req:
        data: bytes | None = urlencode(req["form"]).encode()
    elif "body" in req:
        data = json.dumps(req["body"]).encode()
    else:
        data = None
    return MockRequest(
        SERVER,
        req["method"].lower(),
        req["path"],
        args=req.get("query", {}),
        headers=headers,
        data=data,
        content_type=headers.get("Content-Type", "application/json"),
    )


def test_openapi_document_is_valid(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_operation_has_an_example(spec: dict[str, Any]) -> None:
    operation_ids = {
        op["operationId"]
        for path in spec["paths"].values()
        for op in path.values()
        if "operationId" in op
    }
    covered = {json.loads(p.read_text(encoding="utf-8"))["operationId"] for p in VALID}
    assert operation_ids == covered


def test_posts_that_create_require_an_idempotency_key(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        post = item.get("post")
        if post is None or path == "/oauth/token":
            continue
        refs = [p.get("$ref", "") for p in post.get("parameters", [])]
        assert "#/components/parameters/IdempotencyKey" in refs, path


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example_validates(path: Path, openapi: OpenAPI) -> None:
    example = json.loads(path.read_text(encoding="utf-8"))
    request = _request(example["request"])
    openapi.validate_request(request)
    resp = example["response"]
    response = MockResponse(
        json.dumps(resp["body"]).encode(),
        status_code=resp["status"],
        headers=resp["headers"],
        content_type=resp["headers"]["Content-Type"],
    )
    openapi.validate_response(request, response)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_fails_as_declared(path: Path, openapi: OpenAPI) -> None:
    example = json.loads(path.read_text(encoding="utf-8"))
    expect = json.loads(
        path.with_name(path.name.replace(".json", ".expect.json")).read_text(encoding="utf-8")
    )
    request = _request(example["request"])
    errors = list(openapi.iter_request_errors(request))
    assert bool(errors) is not expect["schema_valid"], errors
