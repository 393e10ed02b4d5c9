from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from munivideo.config import parse_config
from munivideo.engine import Engine, build_engine
from munivideo.plugins import load_plugins
from munivideo.sandbox.seeds import DEPARTMENTS, SERVICES

from .peers import HostileErp, serve

TENANT = "gravatai"
ENV = {"MV_JITSI": "jitsi-secret-for-tests-only-0123456789"}


def record(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid booking of the reference REST contract (confirmed, with a servant)."""
    doc: dict[str, Any] = {
        "id": f"AG-{n:06d}",
        "codigoServico": "IPTU",
        "cidadao": {
            "nome": "João da Conceição Araújo",
            "cpfCnpj": "05278934123",
            "email": "joao.araujo@example.com.br",
        },
        "servidor": {
            "matricula": "AF-0001",
            "nome": "Ana Luíza Gonçalves",
            "email": "ana.goncalves@fazenda.example.gov.br",
            "codigoDepartamento": "SMF-FISC",
        },
        "data": "2031-03-05",
        "horaInicio": "14:00",
        "horaFim": "14:30",
        "situacao": "CF",
        "dataAtualizacao": f"2031-03-01T09:15:{n % 60:02d}.000000-03:00",
        "sequencia": 0,
    }
    doc.update(overrides)
    return doc


def tenant_data(erp_url: str, folder: Path, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tenant": {"id": TENANT, "name": "Prefeitura Municipal de Gravataí"},
        "erp": {
            "adapter": "rest",
            "settings": {
                "base_url": erp_url,
                "timeouts": {"connect_seconds": 2, "read_seconds": 2, "total_seconds": 5},
                "retry": {
                    "max_attempts": 2,
                    "initial_backoff_seconds": 0.01,
                    "max_backoff_seconds": 0.02,
                },
            },
        },
        "video": {
            "provider": "jitsi",
            "settings": {
                "base_url": "https://meet.gravatai.example.gov.br",
                "app_id": "munivideo-tests",
                "app_secret": {"env": "MV_JITSI"},
            },
        },
        "notifiers": [
            {
                "name": "file",
                "settings": {
                    "path": str(folder / "outbox"),
                    "sender": "atendimento@gravatai.example.gov.br",
                },
            }
        ],
        "store": {"url": f"sqlite:///{folder / 'munivideo.db'}"},
        "services": [
            {"code": c, "name": n, "erp_subject_code": f"{c}-VIDEO", "department_code": d}
            for c, (n, d) in SERVICES.items()
        ],
        "departments": [{"code": c, "name": n} for c, n in DEPARTMENTS.items()],
    }
    data.update(overrides)
    return data


ErpFactory = Callable[..., tuple[Engine, HostileErp]]


@pytest.fixture
def hostile_erp(tmp_path: Path) -> Iterator[ErpFactory]:
    """``factory(pages, **config_overrides) -> (engine, erp)``: an engine whose REST ERP is a
    real loopback server serving ``pages``."""
    opened: list[Any] = []

    def factory(pages: list[Any], **overrides: Any) -> tuple[Engine, HostileErp]:
        erp = HostileErp(pages)
        context = serve(erp.route)
        peer = context.__enter__()
        opened.append(context)
        config = parse_config(tenant_data(peer.url, tmp_path, **overrides), env=ENV)
        engine = build_engine(config, plugins=load_plugins())
        opened.append(engine)
        return engine, erp

    yield factory
    for item in reversed(opened):
        if isinstance(item, Engine):
            item.close()
            item.store.close()
        else:
            item.__exit__(None, None, None)


def outbox_files(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "outbox").rglob("*") if p.is_file())
