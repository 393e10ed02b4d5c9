"""Each fault kind really happens on the wire, deterministically."""

from __future__ import annotations

import time

import pytest
import requests
from zeep.exceptions import Fault

from munivideo.errors import ConfigurationError
from munivideo.sandbox import FaultPlan, Sandbox

from ._helpers import rest_novo, soap_novo, zeep_client


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("criarprotocolo=drop", "unknown operation 'criarprotocolo'"),
        ("criarProtocolo=explode", "unknown action 'explode'"),
        ("*=latency:20", "must look like 20ms or 1.5s"),
        ("*=error:404", "500-599"),
        ("*=drop@1.5", "probability must be in [0, 1]"),
        ("*=fault:OOPS", "fault code must be one of"),
        ("*=drop:3", "drop takes no argument"),
        ("*", "expected TARGET=ACTION"),
    ],
)
def test_bad_specs_are_refused_clearly(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        FaultPlan(spec)
    assert message in str(info.value)
    assert info.value.field == "faults"


def test_plans_are_deterministic_per_seed() -> None:
    def run(seed: int) -> list[str | None]:
        plan = FaultPlan("criarProtocolo=drop_after_commit@0.3,*=latency:1ms", seed)
        out = []
        for _ in range(50):
            d = plan.decide("criarProtocolo")
            assert d.delay == pytest.approx(0.001)
            out.append(d.action.action if d.action else None)
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert 5 < run(7).count("drop_after_commit") < 30


def test_times_cap_and_first_rule_wins() -> None:
    plan = FaultPlan("obterAgendamento=unavailable:2#2,obterAgendamento=error:502")
    actions = [plan.decide("obterAgendamento").action for _ in range(3)]
    assert [a.action if a else None for a in actions] == ["unavailable", "unavailable", "error"]


def test_latency(sb: Sandbox, rest: requests.Session) -> None:
    sb.inject("obterAgendamento=latency:150ms")
    start = time.perf_counter()
    assert rest.get(f"{sb.rest_url}/agendamentos/AG-000001", timeout=5).status_code == 200
    assert time.perf_counter() - start >= 0.15


def test_error_unavailable_ratelimit_fault(sb: Sandbox, rest: requests.Session) -> None:
    url = f"{sb.rest_url}/agendamentos/AG-000001"
    sb.inject("obterAgendamento=error:502#1")
    bad = rest.get(url, timeout=5)
    assert (bad.status_code, bad.headers["Content-Type"].split(";")[0]) == (502, "text/html")
    sb.inject("obterAgendamento=unavailable:7#1")
    busy = rest.get(url, timeout=5)
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "7")
    sb.inject("obterAgendamento=ratelimit:3#1")
    slow = rest.get(url, timeout=5)
    assert (slow.status_code, slow.headers["Retry-After"]) == (429, "3")
    sb.inject("obterAgendamento=fault:INDISPONIVEL#1")
    fault = rest.get(url, timeout=5)
    assert (fault.status_code, fault.json()["codigo"]) == (500, "INDISPONIVEL")
    assert rest.get(url, timeout=5).status_code == 200  # every rule was capped at #1


def test_soap_fault_and_503(sb: Sandbox) -> None:
    ag = zeep_client(sb).bind("AgendamentosService", "AgendamentosPort")
    sb.inject("obterAgendamento=fault#1")
    with pytest.raises(Fault) as info:
        ag.obterAgendamento(id="AG-000001")
    assert info.value.code.endswith("Server")
    sb.inject("obterAgendamento=unavailable:4#1")
    answer = requests.post(
        sb.soap_urls["agendamentos"],
        data=b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<s:Body><e:obterAgendamento xmlns:e="http://munivideo.org/erp/v1"><e:id>AG-000001'
        b"</e:id></e:obterAgendamento></s:Body></s:Envelope>",
        headers={"Content-Type": "text/xml"},
        auth=sb.credentials,
        timeout=5,
    )
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "4")
    assert b"<erp:tentarNovamenteEmSegundos>4<" in answer.content


def test_read_timeout_still_commits(sb: Sandbox) -> None:
    sb.inject("criarProtocolo=timeout:0.6s#1")
    pr = zeep_client(sb, timeout=0.2).bind("ProtocolosService", "ProtocolosPort")
    with pytest.raises(requests.ReadTimeout):
        pr.criarProtocolo(chaveIdempotencia="to-1", protocolo=soap_novo())
    deadline = time.monotonic() + 3
    while not sb.protocols() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sb.protocols()) == 1


def test_drop_loses_nothing_and_does_nothing(sb: Sandbox, rest: requests.Session) -> None:
    sb.inject("criarProtocolo=drop#1")
    with pytest.raises(requests.ConnectionError):
        rest.post(
            f"{sb.rest_url}/protocolos",
            json=rest_novo(),
            headers={"Idempotency-Key": "d"},
            timeout=5,
        )
    assert sb.protocols() == []


def test_drop_after_commit_then_replay(sb: Sandbox, rest: requests.Session) -> None:
    sb.inject("criarProtocolo=drop_after_commit#1")
    url, headers = f"{sb.rest_url}/protocolos", {"Idempotency-Key": "dac"}
    with pytest.raises(requests.ConnectionError):
        rest.post(url, json=rest_novo(), headers=headers, timeout=5)
    assert len(sb.protocols()) == 1  # committed although the client got no answer
    replay = rest.post(url, json=rest_novo(), headers=headers, timeout=5)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(sb.protocols()) == 1


def test_drop_after_commit_on_soap(sb: Sandbox) -> None:
    sb.inject("criarProtocolo=drop_after_commit#1")
    pr = zeep_client(sb).bind("ProtocolosService", "ProtocolosPort")
    with pytest.raises(requests.ConnectionError):
        pr.criarProtocolo(chaveIdempotencia="s-dac", protocolo=soap_novo())
    again = pr.criarProtocolo(chaveIdempotencia="s-dac", protocolo=soap_novo())
    assert again.repeticao is True
    assert len(sb.protocols()) == 1


def test_malformed_body(sb: Sandbox, rest: requests.Session) -> None:
    sb.inject("obterAgendamento=malformed#1")
    answer = rest.get(f"{sb.rest_url}/agendamentos/AG-000001", timeout=5)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_faults_settable_through_inspection_api(sb: Sandbox) -> None:
    put = requests.put(
        f"{sb.base_url}/_sandbox/faults",
        json={"spec": "obterAgendamento=ratelimit:1", "seed": 3},
        timeout=5,
    )
    assert put.json()["rules"][0]["rule"] == "obterAgendamento=ratelimit:1"
    bad = requests.put(f"{sb.base_url}/_sandbox/faults", json={"spec": "x=y"}, timeout=5)
    assert bad.status_code == 500 or bad.status_code == 400
    assert "unknown operation" in bad.json()["error"]
    assert requests.get(f"{sb.rest_url}/agendamentos/AG-000001", timeout=5).status_code == 429
    requests.delete(f"{sb.base_url}/_sandbox/faults", timeout=5)
    assert sb.faults()["rules"] == []


def test_spec_given_at_start(munivideo_sandbox_factory: object) -> None:
    factory = munivideo_sandbox_factory
    sb = factory(seed="empty", dialect="rest", faults="*=unavailable:2", fault_seed=1)  # type: ignore[operator]
    answer = requests.post(sb.token_url, data={"grant_type": "client_credentials"}, timeout=5)
    assert answer.status_code == 503
    assert requests.get(f"{sb.base_url}/soap?wsdl", timeout=5).status_code == 404  # REST only
