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

VERSIONS = ("v1", "v2")
VALID = sorted(
    (p.parent.parent.parent.name, p)
    for v in VERSIONS
    for p in (pack_dir("erp-rest", v) / "examples" / "valid").glob("*.json")
)
INVALID = sorted(
    (p.parent.parent.parent.name, p)
    for v in VERSIONS
    for p in (pack_dir("erp-rest", v) / "examples" / "invalid").glob("*.json")
    if not p.name.endswith(".expect.json")
)
SERVER = "http://127.0.0.1:8765"
_OPENAPI: dict[str, OpenAPI] = {}


def _id(case: tuple[str, Path]) -> str:
    return f"{case[0]}/{case[1].name}"


@pytest.fixture(scope="module", params=VERSIONS)
def spec(request: pytest.FixtureRequest) -> dict[str, Any]:
    text = (pack_dir("erp-rest", request.param) / "openapi.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _openapi(version: str) -> OpenAPI:
    if version not in _OPENAPI:
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        path = pack_dir("erp-rest", version) / "openapi.yaml"
        _OPENAPI[version] = OpenAPI.from_file_path(str(path), config=config)
    return _OPENAPI[version]


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
    version = "v2" if spec["info"]["version"].startswith("2.") else "v1"
    covered = {
        json.loads(p.read_text(encoding="utf-8"))["operationId"] for v, p in VALID if v == version
    }
    assert operation_ids == covered


def test_posts_that_create_require_an_idempotency_key(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        post = item.get("post")
        if post is None or path == "/oauth/token":
            continue
        refs = [p.get("$ref", "") for p in post.get("parameters", [])]
        assert "#/components/parameters/IdempotencyKey" in refs, path


@pytest.mark.parametrize("case", VALID, ids=_id)
def test_valid_example_validates(case: tuple[str, Path]) -> None:
    version, path = case
    openapi = _openapi(version)
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


@pytest.mark.parametrize("case", INVALID, ids=_id)
def test_invalid_example_fails_as_declared(case: tuple[str, Path]) -> None:
    version, path = case
    openapi = _openapi(version)
    example = json.loads(path.read_text(encoding="utf-8"))
    expect = json.loads(
        path.with_name(path.name.replace(".json", ".expect.json")).read_text(encoding="utf-8")
    )
    request = _request(example["request"])
    errors = list(openapi.iter_request_errors(request))
    assert bool(errors) is not expect["schema_valid"], errors
