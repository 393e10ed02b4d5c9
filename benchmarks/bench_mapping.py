"""Mapping throughput: the declarative mapper vs a hand-written dict comprehension plus the same
model validation (target: within 1.5x), for the reference REST dialect and for SIGMUN, a dialect
shaped unlike it (dotted CPFs, DD/MM/YYYY + HH:MM, strftime change stamps, numeric codes; see
tests/erps). Bounded to ~10 s each."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from munivideo.mapping import ErpMappers
from munivideo.models import Booking
from munivideo.values import cpf_check_digits, from_local

ROOT = Path(__file__).resolve().parents[1]
REST = ROOT / "adapters/munivideo-erp-rest/src/munivideo_erp_rest/mappings/rest-v1.toml"
SIGMUN = ROOT / "tests/erps/sigmun/mapping.toml"
STATUS = {"AG": "requested", "CF": "confirmed", "RM": "rescheduled", "CA": "cancelled"}
SIGMUN_STATUS = {1: "requested", 2: "confirmed", 3: "rescheduled", 4: "cancelled"}
BUDGET_SECONDS = 10.0


def _records(count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        base = f"{(i * 7919 + 10203) % 1_000_000_000:09d}"
        out.append(
            {
                "id": f"AG-{i:06d}",
                "codigoServico": "IPTU",
                "cidadao": {
                    "nome": "João da Conceição Araújo",
                    "cpfCnpj": base + cpf_check_digits(base),
                    "email": "joao@example.com.br",
                },
                "servidor": {"matricula": "AF-0001", "nome": "Ana Luíza Gonçalves"},
                "data": "2031-03-05",
                "horaInicio": "14:00",
                "horaFim": "14:30",
                "situacao": ("AG", "CF", "RM", "CA")[i % 4],
                "observacoes": "Dúvida sobre o IPTU.",
                "dataAtualizacao": "2031-03-01T09:15:22.123456-03:00",
                "sequencia": i % 3,
                "versao": 1,
            }
        )
    return out


def hand_written(record: dict[str, Any], tenant_id: str) -> Booking:
    day = record["data"]
    c = record["cidadao"]
    s = record.get("servidor")
    doc = c["cpfCnpj"]
    data = {
        "id": record["id"],
        "tenant_id": tenant_id,
        "service_code": record["codigoServico"],
        "citizen": {
            "name": c["nome"],
            ("cpf" if len(doc) == 11 else "cnpj"): doc,
            **({"email": c["email"]} if "email" in c else {}),
        },
        **({"servant": {"registration": s["matricula"], "name": s["nome"]}} if s else {}),
        "start": from_local(datetime.fromisoformat(f"{day}T{record['horaInicio']}")),
        "end": from_local(datetime.fromisoformat(f"{day}T{record['horaFim']}")),
        "status": STATUS[record["situacao"]],
        "notes": record.get("observacoes", ""),
        "updated_at": datetime.fromisoformat(record["dataAtualizacao"]),
        "sequence": record["sequencia"],
    }
    return Booking.model_validate(data)


def _sigmun_records(count: int) -> list[dict[str, Any]]:
    out = []
    for r in _records(count):
        cpf = r["cidadao"]["cpfCnpj"]
        out.append(
            {
                "codigo_agendamento": r["id"],
                "servico": {"codigo": r["codigoServico"]},
                "cidadao": {
                    "nome_completo": r["cidadao"]["nome"],
                    "cpf": f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}",
                    "email": r["cidadao"]["email"],
                },
                "atendente": {"matricula": "AF-0001", "nome": "Ana Luíza Gonçalves"},
                "data_atendimento": "05/03/2031",
                "hora_inicio": "14:00",
                "hora_fim": "14:30",
                "situacao": ("AG", "CF", "RM", "CA").index(r["situacao"]) + 1,
                "observacoes": "Dúvida sobre o IPTU.",
                "ultima_alteracao": "01/03/2031 09:15:22",
                "versao_agenda": r["sequencia"],
            }
        )
    return out


def hand_written_sigmun(record: dict[str, Any], tenant_id: str) -> Booking:
    c = record["cidadao"]
    s = record.get("atendente")
    day = datetime.strptime(record["data_atendimento"], "%d/%m/%Y").date()

    def at(hour: str) -> datetime:
        return from_local(datetime.combine(day, datetime.strptime(hour, "%H:%M").time()))

    data = {
        "id": record["codigo_agendamento"],
        "tenant_id": tenant_id,
        "service_code": record["servico"]["codigo"],
        "citizen": {
            "name": c["nome_completo"],
            "cpf": c["cpf"].replace(".", "").replace("-", ""),
            **({"email": c["email"]} if "email" in c else {}),
        },
        **({"servant": {"registration": s["matricula"], "name": s["nome"]}} if s else {}),
        "start": at(record["hora_inicio"]),
        "end": at(record["hora_fim"]),
        "status": SIGMUN_STATUS[record["situacao"]],
        "notes": record.get("observacoes", ""),
        "updated_at": from_local(
            datetime.strptime(record["ultima_alteracao"], "%d/%m/%Y %H:%M:%S")
        ),
        "sequence": record["versao_agenda"],
    }
    return Booking.model_validate(data)


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    """Declarative mapper vs hand-written dict + pydantic, per dialect; ``smoke``: 1 round of
    100 records."""
    _compare("reference REST", REST, _records, hand_written, smoke=smoke)
    _compare("SIGMUN", SIGMUN, _sigmun_records, hand_written_sigmun, smoke=smoke)


def _compare(
    label: str,
    mapping: Path,
    make: Any,
    hand: Any,
    *,
    smoke: bool,
) -> None:
    budget = 0.0 if smoke else BUDGET_SECONDS
    mappers = ErpMappers.from_file(mapping)
    records = make(100 if smoke else 2000)
    extra = {"tenant_id": "gravatai"}
    ours = [mappers.booking.to_canonical(r, extra) for r in records[:50]]
    assert ours == [hand(r, "gravatai") for r in records[:50]], "both must agree"
    rates: dict[str, list[float]] = {"mapper": [], "hand-written": []}
    deadline = time.perf_counter() + budget
    rounds = 0
    while rounds == 0 or (time.perf_counter() < deadline and rounds < 20):
        rounds += 1
        started = time.perf_counter()
        for r in records:
            hand(r, "gravatai")
        rates["hand-written"].append(len(records) / (time.perf_counter() - started))
        started = time.perf_counter()
        for r in records:
            mappers.booking.to_canonical(r, extra)
        rates["mapper"].append(len(records) / (time.perf_counter() - started))
    base = statistics.median(rates["hand-written"])
    mine = statistics.median(rates["mapper"])
    size = len(records)
    print(f"{label}: ({rounds} interleaved rounds x {size})")
    print(f"{'variant':<16}{'records/s':>12}{'ratio':>8}")
    print(f"{'hand-written':<16}{base:>12,.0f}{1.0:>8.2f}")
    print(f"{'mapper':<16}{mine:>12,.0f}{base / mine:>8.2f}   target <= 1.50x slower")


if __name__ == "__main__":
    main()
