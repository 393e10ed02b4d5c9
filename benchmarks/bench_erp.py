"""ERP adapters vs raw clients against the same sandbox ERP on loopback, interleaved.

* per call (``obterAgendamento``): our SOAP adapter vs raw zeep, our REST adapter vs raw
  requests (target: overhead within 10%); our calls also map to the canonical model;
* a second tenant's SOAP service vs building the first client (target: under 5%).

The sandbox runs with response validation off so the server's own cost does not hide ours.
Bounded to ~20 s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import requests
from munivideo_erp_rest import create_adapter as create_rest
from munivideo_erp_soap import create_adapter as create_soap
from zeep import Client
from zeep.transports import Transport

from munivideo.mapping.erp import _cached_mappers
from munivideo.models import Tenant
from munivideo.packs import pack_dir
from munivideo.sandbox import Sandbox
from munivideo.transport import AuthSettings, Timeouts
from munivideo.transport.soap import create_service, parsed_document, safe_settings, tenant_client

CALL_BUDGET_SECONDS = 7.0
BUILD_ROUNDS = 5
BOOKING = "AG-000007"


def _interleaved(pairs: dict[str, Callable[[], object]], budget: float) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in pairs}
    for fn in pairs.values():  # warm up connections and caches
        for _ in range(5):
            fn()
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline and len(next(iter(samples.values()))) < 2000:
        for name, fn in pairs.items():
            started = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def _row(name: str, ms: float, base: float, target: str = "") -> None:
    print(f"{name:<34}{ms:>10.3f}{ms / base:>8.3f}  {target}")


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    """Per-call overhead of the ERP adapters and SOAP client build; ``smoke``: a few calls."""
    call_budget = 0.2 if smoke else CALL_BUDGET_SECONDS
    build_rounds = 1 if smoke else BUILD_ROUNDS
    wsdl = pack_dir("erp-soap", "v1") / "erp.wsdl"
    with Sandbox(dialect="both", validate_responses=False) as sb:
        user, secret = sb.credentials
        tenant = Tenant(id="gravatai", name="Gravataí")
        soap = create_soap(
            tenant,
            {
                "base_url": sb.base_url,
                "auth": {"scheme": "basic", "username": user, "password": secret},
            },
        )
        rest = create_rest(
            tenant,
            {
                "base_url": sb.base_url,
                "auth": {
                    "scheme": "oauth2",
                    "client_id": user,
                    "client_secret": secret,
                    "token_url": sb.token_url,
                },
            },
        )
        session = requests.Session()
        session.auth = (user, secret)
        raw_client = Client(
            str(wsdl),
            settings=safe_settings(),
            transport=Transport(session=session, timeout=5, operation_timeout=5),
        )
        raw_soap = raw_client.create_service(
            "{http://munivideo.org/erp/v1/wsdl}AgendamentosBinding", sb.soap_urls["agendamentos"]
        )
        raw_rest = requests.Session()
        raw_rest.headers["Authorization"] = f"Bearer {sb.token()}"
        url = f"{sb.rest_url}/agendamentos/{BOOKING}"

        def raw_rest_call() -> object:
            answer = raw_rest.get(url, timeout=5)
            answer.raise_for_status()
            return answer.json()

        calls = _interleaved(
            {
                "raw zeep": lambda: raw_soap.obterAgendamento(id=BOOKING),
                "soap adapter": lambda: soap.get_booking(BOOKING),
                "raw requests": raw_rest_call,
                "rest adapter": lambda: rest.get_booking(BOOKING),
            },
            call_budget,
        )
        print(f"{'per call (median ms)':<34}{'ms':>10}{'ratio':>8}")
        _row("raw zeep", calls["raw zeep"], calls["raw zeep"])
        _row("soap adapter (+ mapping)", calls["soap adapter"], calls["raw zeep"], "target <= 1.10")
        _row("raw requests", calls["raw requests"], calls["raw requests"])
        _row(
            "rest adapter (+ mapping)",
            calls["rest adapter"],
            calls["raw requests"],
            "target <= 1.10",
        )
        soap.close()
        rest.close()

        first: list[float] = []
        second: list[float] = []
        service_only: list[float] = []
        for i in range(build_rounds):
            parsed_document.cache_clear()
            _cached_mappers.cache_clear()
            started = time.perf_counter()
            create_soap(tenant, {"base_url": sb.base_url}).close()
            first.append(time.perf_counter() - started)
            started = time.perf_counter()
            create_soap(
                Tenant(id=f"city-{i}", name="Outra cidade"), {"base_url": sb.base_url}
            ).close()
            second.append(time.perf_counter() - started)
            started = time.perf_counter()
            client = tenant_client(wsdl, Timeouts(), AuthSettings())
            create_service(client, "AgendamentosBinding", sb.soap_urls["agendamentos"])
            create_service(client, "ProtocolosBinding", sb.soap_urls["protocolos"])
            service_only.append(time.perf_counter() - started)
            client.transport.session.close()
        base = statistics.median(first) * 1000
        print(f"\n{'SOAP client build (median ms)':<34}{'ms':>10}{'ratio':>8}")
        _row("first tenant (parses WSDL, mapping)", base, base)
        _row(
            "second tenant: services only",
            statistics.median(service_only) * 1000,
            base,
            "target <= 0.05",
        )
        _row(
            "second tenant: whole adapter",
            statistics.median(second) * 1000,
            base,
            "target <= 0.05",
        )


if __name__ == "__main__":
    main()
