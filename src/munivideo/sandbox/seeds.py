"""Named seed data sets, and a fast bulk seeder for benchmarks.

``tax-office`` models a city tax office (10 tax auditors attending IPTU, ISS, ITBI and NFS-e
questions by video), plus occupational health (SESMT) and HR, with accented names and CPFs whose
check digits are valid. Dates are relative to "today" so the demo always has upcoming slots.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from munivideo.errors import ConfigurationError
from munivideo.sandbox.records import BookingRecord
from munivideo.sandbox.store import Store
from munivideo.values import SAO_PAULO, cpf_check_digits

SERVICES: dict[str, tuple[str, str]] = {
    # code: (name, department)
    "IPTU": ("Imposto Predial e Territorial Urbano", "SMF-FISC"),
    "ISS": ("Imposto Sobre Serviços", "SMF-FISC"),
    "ITBI": ("Imposto de Transmissão de Bens Imóveis", "SMF-FISC"),
    "NFSE": ("Nota Fiscal de Serviços Eletrônica", "SMF-FISC"),
    "SESMT": ("Saúde e Segurança do Trabalho", "SMA-SESMT"),
    "RH": ("Recursos Humanos", "SMA-RH"),
}

DEPARTMENTS: dict[str, str] = {
    "SMF-FISC": "Fiscalização Tributária",
    "SMF-CAD": "Cadastro Imobiliário",
    "SMF-DIV": "Dívida Ativa",
    "SMA-SESMT": "Serviço Especializado em Segurança e Medicina do Trabalho",
    "SMA-RH": "Departamento de Recursos Humanos",
}

AUDITORS: tuple[str, ...] = (
    "Ana Luíza Gonçalves",
    "João Antônio Peçanha",
    "Márcia Simões Brandão",
    "José Inácio Conceição",
    "Fernanda Lúcia Araújo",
    "Sérgio Ávila Nogueira",
    "Cláudia Magalhães Érico",
    "Otávio Gusmão Leão",
    "Patrícia Açores Falcão",
    "Rogério Fontoura Câmara",
)

OTHER_SERVANTS: tuple[tuple[str, str, str], ...] = (
    ("MT-0001", "Dra. Beatriz Helena Lima", "SMA-SESMT"),
    ("MT-0002", "Dr. Caio Estêvão Moreira", "SMA-SESMT"),
    ("RH-0001", "Luíza Mendonça Ribeiro", "SMA-RH"),
)

CITIZENS: tuple[str, ...] = (
    "João da Conceição Araújo",
    "Maria Aparecida dos Santos",
    "Antônio Carlos Sebastião",
    "Francisca Gonçalves Sá",
    "Raimundo Nonato Assunção",
    "Conceição de Fátima Brito",
    "Vinícius Araújo Peixoto",
    "Letícia Guimarães Ávila",
    "Ângela Cristina Loureiro",
    "Ênio Barroso Tavares",
    "Íris Damasceno Queiroz",
    "Úrsula Medeiros Leão",
)

SERVANT_CREDENTIALS = {"client_id": "munivideo-sandbox", "client_secret": "sandbox-secret"}


def make_cpf(n: int) -> str:
    """A valid CPF from a small integer (leading zeros kept; never eleven equal digits)."""
    base = f"{(n * 7919 + 10203) % 1_000_000_000:09d}"
    if base == base[0] * 9:
        base = f"{(int(base) + 1) % 1_000_000_000:09d}"
    return base + cpf_check_digits(base)


def _slug(name: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    parts = [p for p in plain.lower().replace(".", "").split() if p not in ("dr", "dra")]
    return f"{parts[0]}.{parts[-1]}"


def _local_to_utc(day: date, hhmm: str) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=SAO_PAULO).astimezone(UTC)


def tax_office_bookings(today: date, now: datetime) -> list[BookingRecord]:
    """30 bookings over the next days: tax office, SESMT and HR; a few with no servant yet."""
    rng = random.Random(2024)  # fixed: the seed data is the same on every run
    servants = [(f"AF-{i + 1:04d}", name, "SMF-FISC") for i, name in enumerate(AUDITORS)]
    servants += list(OTHER_SERVANTS)
    tax_services = ("IPTU", "ISS", "ITBI", "NFSE")
    statuses = ("CF",) * 6 + ("AG", "AG", "RM", "CA")
    records: list[BookingRecord] = []
    for i in range(30):
        if i < 24:
            service = tax_services[i % 4]
            matricula, servant, dept = servants[i % 10]
        elif i < 27:
            service, (matricula, servant, dept) = "SESMT", OTHER_SERVANTS[i % 2]
        else:
            service, (matricula, servant, dept) = "RH", OTHER_SERVANTS[2]
        citizen = CITIZENS[i % len(CITIZENS)]
        day = today + timedelta(days=1 + i // 8)
        start_min = 9 * 60 + (i % 8) * 45
        start = f"{start_min // 60:02d}:{start_min % 60:02d}"
        end = f"{(start_min + 30) // 60:02d}:{(start_min + 30) % 60:02d}"
        status = statuses[i % len(statuses)]
        assigned = status != "AG"
        records.append(
            BookingRecord(
                id=f"AG-{i + 1:06d}",
                codigo_servico=service,
                cidadao_nome=citizen,
                cidadao_cpf_cnpj=make_cpf(i + 1),
                cidadao_email=f"{_slug(citizen)}@example.com.br",
                cidadao_telefone=f"519{rng.randrange(10_000_000, 99_999_999)}",
                servidor_matricula=matricula if assigned else None,
                servidor_nome=servant if assigned else None,
                servidor_email=f"{_slug(servant)}@prefeitura.example.gov.br" if assigned else None,
                servidor_departamento=dept if assigned else None,
                data=day,
                hora_inicio=start,
                hora_fim=end,
                situacao=status,
                observacoes=f"Atendimento por vídeo: {SERVICES[service][0]}.",
                consentimento=True if service == "SESMT" else None,
                data_atualizacao=now - timedelta(hours=2) + timedelta(seconds=i),
                sequencia=1 if status in ("RM", "CA") else 0,
                versao=2 if status != "AG" else 1,
            )
        )
    return records


def seed_tax_office(store: Store) -> int:
    """The ``tax-office`` seed: :func:`tax_office_bookings` for today's date in America/Sao_Paulo
    (the same 30 bookings on every run, dated from tomorrow on), written into ``store`` (which
    :func:`apply_seed` has emptied).

    :returns: how many bookings were written (30).
    """
    now = datetime.now(UTC)
    return store.put_bookings(
        tax_office_bookings(now.astimezone(SAO_PAULO).date(), now), seeded=True
    )


def seed_empty(store: Store) -> int:
    """The ``empty`` seed: no bookings and no protocols (tests that add their own data).

    :returns: 0.
    """
    return 0


SEEDS: dict[str, Callable[[Store], int]] = {"tax-office": seed_tax_office, "empty": seed_empty}


def apply_seed(store: Store, name: str) -> int:
    """Reset ``store`` and load the named seed; returns how many bookings were loaded."""
    seed = SEEDS.get(name)
    if seed is None:
        raise ConfigurationError(
            f"unknown seed {name!r} (known: {', '.join(sorted(SEEDS))})", field="seed"
        )
    store.reset()
    return seed(store)


def bulk_seed(store: Store, count: int, *, start: date | None = None, prefix: str = "BK") -> int:
    """Insert ``count`` synthetic bookings fast (benchmarks): rows are serialised by hand and
    written with one ``executemany`` per 10k rows; every 10th citizen has a CNPJ-free CPF with a
    leading zero so digit-string handling gets exercised."""
    day0 = start or datetime.now(UTC).astimezone(SAO_PAULO).date()
    base = datetime.now(UTC) - timedelta(days=1)
    services = ("IPTU", "ISS", "ITBI", "NFSE")
    cpfs = [make_cpf(n) for n in range(1, 1001)]
    chunk: list[tuple[str, str, str]] = []
    for i in range(count):
        slot = i % 16
        start_min = 8 * 60 + slot * 30
        updated = base + timedelta(microseconds=i * 10)
        booking_id = f"{prefix}-{i + 1:07d}"
        doc: dict[str, object] = {
            "id": booking_id,
            "codigo_servico": services[i % 4],
            "cidadao_nome": CITIZENS[i % len(CITIZENS)],
            "cidadao_cpf_cnpj": cpfs[i % 1000],
            "cidadao_email": None,
            "cidadao_telefone": None,
            "servidor_matricula": f"AF-{i % 10 + 1:04d}",
            "servidor_nome": AUDITORS[i % 10],
            "servidor_email": None,
            "servidor_departamento": "SMF-FISC",
            "data": (day0 + timedelta(days=i // 160)).isoformat(),
            "hora_inicio": f"{start_min // 60:02d}:{start_min % 60:02d}",
            "hora_fim": f"{(start_min + 30) // 60:02d}:{(start_min + 30) % 60:02d}",
            "situacao": "CF",
            "observacoes": None,
            "consentimento": None,
            "sala_url": None,
            "sala_valida_ate": None,
            "data_atualizacao": updated.isoformat(),
            "sequencia": 0,
            "versao": 1,
        }
        chunk.append(
            (
                booking_id,
                json.dumps(doc, ensure_ascii=False),
                updated.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
            )
        )
        if len(chunk) >= 10_000:
            store.put_rows(chunk)
            chunk = []
    if chunk:
        store.put_rows(chunk)
    return count
