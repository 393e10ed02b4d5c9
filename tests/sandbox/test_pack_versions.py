"""The sandbox serves either version of the reference packs: v2 carries the alphanumeric CNPJ
and foreign phones through both dialects, v1 refuses them at the field; the WSDL and schemas it
publishes are the chosen pack's."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from click.testing import CliRunner

from munivideo.errors import ConfigurationError, InvalidRecordError
from munivideo.packs import pack_dir
from munivideo.sandbox import Sandbox
from munivideo.sandbox.cli import serve

from ._helpers import REQUERENTE, rest_novo, soap_novo, zeep_client

CNPJ = "12ABC34501DE35"  # alphanumeric (IN RFB 2.229/2024), valid check digits
PHONE = "+351912345678"  # Portugal, E.164
COMPANY = {"nome": "Padaria Pão de Mel Ltda", "cpfCnpj": CNPJ}


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, Sandbox]]:
    """One sandbox per pack version for the module (reset before each test)."""
    sandboxes = {v: Sandbox(pack_version=v, seed="empty").start() for v in ("v1", "v2")}
    yield sandboxes
    for sb in sandboxes.values():
        sb.stop()


@pytest.fixture
def sandbox_for(served: dict[str, Sandbox]) -> Callable[[str], Sandbox]:
    def get(version: str) -> Sandbox:
        sb = served[version]
        sb.reset()
        return sb

    return get


def _booking(**cidadao: str) -> dict[str, object]:
    return {
        "id": "AG-PJ-1",
        "codigoServico": "ISS",
        "cidadao": {"nome": "Padaria Pão de Mel Ltda", "cpfCnpj": "05278934123", **cidadao},
        "data": "2031-01-02",
        "horaInicio": "10:00",
        "horaFim": "10:30",
    }


@pytest.mark.parametrize(
    ("cidadao", "field"),
    [({"cpfCnpj": CNPJ}, "cidadao/cpfCnpj"), ({"telefone": PHONE}, "cidadao/telefone")],
)
def test_a_booking_v1_cannot_carry_is_refused_by_v1_and_kept_by_v2(
    sandbox_for: Callable[[str], Sandbox], cidadao: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidRecordError) as info:
        sandbox_for("v1").add_booking(_booking(**cidadao))
    assert info.value.field == field
    sb = sandbox_for("v2")
    sb.add_booking(_booking(**cidadao))
    headers = {"Authorization": f"Bearer {sb.token()}"}
    answer = requests.get(f"{sb.rest_url}/agendamentos/AG-PJ-1", headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["cidadao"].items() >= cidadao.items()
    agendamentos = zeep_client(sb).bind("AgendamentosService", "AgendamentosPort")
    read = agendamentos.obterAgendamento(id="AG-PJ-1").cidadao
    assert {k: getattr(read, k) for k in cidadao} == cidadao


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_rest_create_with_an_alphanumeric_cnpj(
    sandbox_for: Callable[[str], Sandbox], version: str
) -> None:
    sb = sandbox_for(version)
    headers = {"Authorization": f"Bearer {sb.token()}", "Idempotency-Key": f"pj:{version}"}
    body = rest_novo(requerentes=[COMPANY])
    answer = requests.post(f"{sb.rest_url}/protocolos", json=body, headers=headers, timeout=5)
    if version == "v1":
        assert answer.status_code == 400, answer.text
        assert answer.json()["campo"] == "requerentes/0/cpfCnpj"
        assert sb.effects() == {}
    else:
        assert answer.status_code == 201, answer.text
        assert answer.json()["requerentes"] == [COMPANY]
        assert sb.effects() == {body["referenciaExterna"]: {"create": 1}}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_soap_create_with_an_alphanumeric_cnpj(
    sandbox_for: Callable[[str], Sandbox], version: str
) -> None:
    from zeep.exceptions import Fault

    sb = sandbox_for(version)
    protocolos = zeep_client(sb).bind("ProtocolosService", "ProtocolosPort")
    novo = soap_novo(requerentes={"requerente": [COMPANY]})
    if version == "v1":
        with pytest.raises(Fault) as info:
            protocolos.criarProtocolo(chaveIdempotencia="pj:soap", protocolo=novo)
        assert "cpfCnpj" in str(info.value.detail[0].find("{*}campo").text)
        assert sb.effects() == {}
    else:
        created = protocolos.criarProtocolo(chaveIdempotencia="pj:soap", protocolo=novo)
        assert created.protocolo.requerentes.requerente[0].cpfCnpj == CNPJ
        assert sb.effects() == {novo["referenciaExterna"]: {"create": 1}}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_published_contract_is_the_chosen_packs(
    sandbox_for: Callable[[str], Sandbox], version: str
) -> None:
    sb = sandbox_for(version)
    served = requests.get(f"{sb.base_url}/soap/xsd/comum.xsd", timeout=5).content
    assert served == (pack_dir("erp-soap", version) / "xsd" / "comum.xsd").read_bytes()
    wsdl = requests.get(sb.wsdl_url, timeout=5).text
    assert f"reference SOAP ERP contract, {version}" in wsdl


def test_an_unknown_pack_version_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        Sandbox(pack_version="v3")
    assert info.value.field == "pack_version"
    result = CliRunner().invoke(serve, ["--pack-version", "v3", "--port", "0"])
    assert result.exit_code == 2 and "v3" in result.output


def test_v1_examples_stay_valid_on_a_v2_sandbox(sandbox_for: Callable[[str], Sandbox]) -> None:
    """Every v1 value is a v2 value: the CPF of v1's examples is still accepted."""
    sb = sandbox_for("v2")
    headers = {"Authorization": f"Bearer {sb.token()}", "Idempotency-Key": "cpf:v2"}
    body = rest_novo(requerentes=[REQUERENTE])
    answer = requests.post(f"{sb.rest_url}/protocolos", json=body, headers=headers, timeout=5)
    assert answer.status_code == 201, answer.text
