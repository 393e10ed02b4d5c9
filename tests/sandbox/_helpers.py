"""Shared payloads and clients for the sandbox tests."""

from __future__ import annotations

from typing import Any

import requests
from zeep import Client, Settings
from zeep.transports import Transport

from munivideo.sandbox import Sandbox

NOVO: dict[str, Any] = {
    "referenciaExterna": "munivideo:test:AG-000001",
    "idAgendamento": "AG-000001",
    "codigoAssunto": "IPTU-REV",
    "codigoDepartamento": "SMF-FISC",
    "matriculaServidor": "AF-0001",
    "horaAbertura": "14:35",
    "resumo": "Atendimento por vídeo: orientação sobre o IPTU.",
    "nivelAcesso": "interno",
    "resultadoAtendimento": "AT",
}
REQUERENTE = {"nome": "João da Conceição Araújo", "cpfCnpj": "05278934123"}


def soap_novo(**changes: Any) -> dict[str, Any]:
    return {
        **NOVO,
        "requerentes": {"requerente": [REQUERENTE]},
        "dataAbertura": "05/03/2024",
        **changes,
    }


def rest_novo(**changes: Any) -> dict[str, Any]:
    return {**NOVO, "requerentes": [REQUERENTE], "dataAbertura": "2024-03-05", **changes}


def zeep_client(sb: Sandbox, *, timeout: float = 5.0, auth: bool = True) -> Client:
    session = requests.Session()
    if auth:
        session.auth = sb.credentials
    transport = Transport(session=session, timeout=timeout, operation_timeout=timeout)
    return Client(sb.wsdl_url, settings=Settings(strict=True, forbid_dtd=True), transport=transport)


class Erp:
    """The four write-back steps and the lookup, over REST or SOAP with plain ``requests``.

    Raw envelopes (not zeep) so that every dialect fails the same way on the wire: a dropped
    connection is a ``requests.ConnectionError``, a slow commit a ``requests.ReadTimeout``.
    Answers are (HTTP status, the protocol or booking as a dict of strings / numbers).
    """

    def __init__(self, sb: Sandbox, dialect: str, *, timeout: float = 5.0) -> None:
        self.sb, self.dialect, self.timeout = sb, dialect, timeout
        self.session = requests.Session()
        if dialect == "rest":
            self.session.headers["Authorization"] = f"Bearer {sb.token()}"
        else:
            self.session.auth = sb.credentials

    def _soap(self, service: str, operation: str, content: dict[str, Any]) -> tuple[int, Any]:
        from lxml import etree

        from munivideo.sandbox.xml_io import envelope_bytes, payload_element

        answer = self.session.post(
            self.sb.soap_urls[service],
            data=envelope_bytes(payload_element(operation, content)),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=self.timeout,
        )
        if answer.status_code != 200:
            return answer.status_code, answer.text
        root = etree.fromstring(answer.content)
        found = root.find(".//{http://munivideo.org/erp/v1}protocolo")
        if found is None:
            found = root.find(".//{http://munivideo.org/erp/v1}agendamento")
        if found is None:
            return 200, None
        return 200, {etree.QName(el).localname: el.text for el in found}

    def _rest(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        answer = self.session.request(
            method, f"{self.sb.rest_url}{path}", json=body, headers=headers, timeout=self.timeout
        )
        is_json = "json" in answer.headers.get("Content-Type", "")
        return answer.status_code, answer.json() if is_json else answer.text

    def create(self, booking: str = "AG-000001", key: str = "c", ref: str | None = None) -> Any:
        ref = ref or f"munivideo:test:{booking}"
        if self.dialect == "rest":
            body = rest_novo(referenciaExterna=ref, idAgendamento=booking)
            return self._rest("POST", "/protocolos", body, key)
        novo = {
            "referenciaExterna": ref,
            "idAgendamento": booking,
            "codigoAssunto": NOVO["codigoAssunto"],
            "requerentes": {"requerente": [REQUERENTE]},
            "codigoDepartamento": NOVO["codigoDepartamento"],
            "dataAbertura": "05/03/2024",
            "horaAbertura": NOVO["horaAbertura"],
            "resumo": NOVO["resumo"],
            "nivelAcesso": NOVO["nivelAcesso"],
            "resultadoAtendimento": NOVO["resultadoAtendimento"],
        }
        return self._soap(
            "protocolos", "criarProtocolo", {"chaveIdempotencia": key, "protocolo": novo}
        )

    def attach(self, ano: int, numero: int, sha: str, key: str = "a") -> Any:
        anexo = {"nome": "rg.pdf", "tipo": "RG", "sha256": sha}
        if self.dialect == "rest":
            return self._rest("POST", f"/protocolos/{ano}/{numero}/anexos", anexo, key)
        content = {"chaveIdempotencia": key, "numero": numero, "ano": ano, "anexo": anexo}
        return self._soap("protocolos", "anexarDocumento", content)

    def forward(self, ano: int, numero: int, to: str, key: str = "f") -> Any:
        body = {"codigoDepartamentoDestino": to, "despacho": "Inscrever em dívida."}
        if self.dialect == "rest":
            return self._rest("POST", f"/protocolos/{ano}/{numero}/tramitacoes", body, key)
        content = {"chaveIdempotencia": key, "numero": numero, "ano": ano, **body}
        return self._soap("protocolos", "tramitarProtocolo", content)

    def status(self, booking: str, situacao: str) -> Any:
        if self.dialect == "rest":
            return self._rest("PUT", f"/agendamentos/{booking}/situacao", {"situacao": situacao})
        return self._soap(
            "agendamentos", "atualizarSituacao", {"id": booking, "situacao": situacao}
        )

    def find(self, ref: str) -> Any:
        """(status, the referenciaExterna found or None)."""
        if self.dialect == "rest":
            status, body = self._rest("GET", f"/protocolos?referenciaExterna={ref}")
            if status != 200:
                return status, body
            return status, body["itens"][0]["referenciaExterna"] if body["itens"] else None
        status, found = self._soap(
            "protocolos", "buscarPorReferenciaExterna", {"referenciaExterna": ref}
        )
        return status, found["referenciaExterna"] if isinstance(found, dict) else found
