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
