"""Contract validation throughput: ``PackValidator`` on the packs' golden examples vs the bare
schema library call on the same payload (xmlschema on the parsed Body element; a prebuilt
jsonschema validator on the request and response bodies). The gap is what munivideo adds: safe
parsing, operation detection, parameters, security, and readable violations. Bounded to ~12 s."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from lxml import etree

from munivideo.contract_tools import PackValidator
from munivideo.contract_tools.openapi_model import resolve
from munivideo.contract_tools.validate import RestPack, SoapPack
from munivideo.packs import pack_dir

BUDGET_SECONDS = 2.0  # per measurement


def _rate(work: Callable[[], None], budget: float = BUDGET_SECONDS) -> float:
    """Calls per second of ``work``, measured for about ``budget`` seconds."""
    work()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget:
        work()
        count += 1
    return count / (time.perf_counter() - started)


def _soap(budget: float) -> tuple[float, float, int]:
    files = sorted((pack_dir("erp-soap", "v1") / "examples" / "valid").glob("*.xml"))
    payloads = [f.read_bytes() for f in files]
    validator = PackValidator("erp-soap/v1")
    soap = validator.soap
    assert isinstance(soap, SoapPack)
    elements = {**soap.requests, **{k + "Resposta": v for k, v in soap.responses.items()}}
    parser = etree.XMLParser(resolve_entities=False, no_network=True)

    def ours() -> None:
        for data in payloads:
            assert validator.validate_bytes(data, source="bench").ok

    def bare() -> None:
        for data in payloads:
            body = etree.fromstring(data, parser).find(
                "{http://schemas.xmlsoap.org/soap/envelope/}Body"
            )
            assert body is not None
            payload = body[0]
            name = etree.QName(payload).localname
            if name in elements:
                assert elements[name].is_valid(payload)

    return _rate(ours, budget) * len(payloads), _rate(bare, budget) * len(payloads), len(payloads)


def _rest(budget: float) -> tuple[float, float, int]:
    files = sorted((pack_dir("erp-rest", "v1") / "examples" / "valid").glob("*.json"))
    payloads = [f.read_bytes() for f in files]
    validator = PackValidator("erp-rest/v1")
    rest = validator.rest
    assert isinstance(rest, RestPack)
    doc = rest.doc
    prepared: list[tuple[Any, Any, Any, Any]] = []
    for data in payloads:
        interaction = json.loads(data)
        _, _, op, _, _ = rest.find(interaction["operationId"], None, None)
        body = resolve(doc, op.get("requestBody")) if op.get("requestBody") else None
        req_schema = rest._content_schema(doc, body, None) if body else None
        status = str(interaction["response"]["status"])
        answer = resolve(doc, op["responses"].get(status) or op["responses"]["default"])
        res_schema = rest._content_schema(doc, answer, None)

        def build(schema: Any) -> Any:
            if schema is None:
                return None
            return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})

        prepared.append(
            (
                build(req_schema),
                interaction["request"].get("body"),
                build(res_schema),
                interaction["response"].get("body"),
            )
        )

    def ours() -> None:
        for data in payloads:
            validator.validate_bytes(data, source="bench")

    def bare() -> None:
        for req_validator, req_body, res_validator, res_body in prepared:
            if req_validator is not None and req_body is not None:
                req_validator.is_valid(req_body)
            if res_validator is not None and res_body is not None:
                res_validator.is_valid(res_body)

    return _rate(ours, budget) * len(payloads), _rate(bare, budget) * len(payloads), len(payloads)


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    """Validation rate of the contract packs' golden examples; ``smoke``: 0.05 s per case."""
    budget = 0.05 if smoke else BUDGET_SECONDS
    print(f"{'pack':<14}{'files':>6}{'munivideo/s':>14}{'bare lib/s':>13}{'ratio':>8}")
    for name, measure in (("erp-soap/v1", _soap), ("erp-rest/v1", _rest)):
        ours, bare, files = measure(budget)
        print(f"{name:<14}{files:>6}{ours:>14.0f}{bare:>13.0f}{bare / ours:>7.2f}x")
    print("ratio: how many times faster the bare schema call is (baseline: the library alone)")


if __name__ == "__main__":
    main()
