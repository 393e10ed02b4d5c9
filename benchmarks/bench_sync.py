"""Sync throughput and memory: the engine pulling bookings from the REST sandbox ERP.

Three runs, each in a fresh process so its peak RSS (``resource.ru_maxrss``) is its own, against
a sandbox in another process (response validation off: we measure our side, not the
contract validator):

* ``raw read``   - baseline: page through the ERP with plain ``requests`` (no mapping, no store).
* ``bind 10k`` / ``bind 100k`` - the sync path for bookings awaiting a servant: paging, mapping
  to canonical models (CPF check digits, time zones), the ``booking_received`` hook, fingerprints
  and durable bindings + cursor per page. Peak memory must stay flat from 10k to 100k.
* ``full 1k``    - confirmed bookings through the whole pipeline: Jitsi room, room link written to
  the ERP, citizen + servant invitations rendered (jinja2, .ics) and written by the ``file``
  notifier. Too slow to repeat 100k times within a benchmark budget; its rate is reported.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PAGE = 500


def _rows(count: int, status: str) -> list[tuple[str, str, str]]:
    from munivideo.sandbox.seeds import AUDITORS, CITIZENS, make_cpf

    base = datetime.now(UTC) - timedelta(days=1)
    day0 = (datetime.now(UTC) + timedelta(days=1)).date()
    cpfs = [make_cpf(n) for n in range(1, 1001)]
    rows = []
    for i in range(count):
        start = 8 * 60 + (i % 16) * 30
        updated = base + timedelta(microseconds=i * 10)
        servant = status != "AG"
        doc = {
            "id": f"BK-{i + 1:07d}",
            "codigo_servico": ("IPTU", "ISS", "ITBI", "NFSE")[i % 4],
            "cidadao_nome": CITIZENS[i % len(CITIZENS)],
            "cidadao_cpf_cnpj": cpfs[i % 1000],
            "cidadao_email": f"cidadao{i % 1000}@example.com.br",
            "cidadao_telefone": None,
            "servidor_matricula": f"AF-{i % 10 + 1:04d}" if servant else None,
            "servidor_nome": AUDITORS[i % 10] if servant else None,
            "servidor_email": f"auditor{i % 10}@prefeitura.example.gov.br" if servant else None,
            "servidor_departamento": "SMF-FISC" if servant else None,
            "data": (day0 + timedelta(days=i // 160)).isoformat(),
            "hora_inicio": f"{start // 60:02d}:{start % 60:02d}",
            "hora_fim": f"{(start + 30) // 60:02d}:{(start + 30) % 60:02d}",
            "situacao": status,
            "observacoes": None,
            "consentimento": None,
            "sala_url": None,
            "sala_valida_ate": None,
            "data_atualizacao": updated.isoformat(),
            "sequencia": 0,
            "versao": 1,
        }
        rows.append(
            (
                doc["id"],
                json.dumps(doc, ensure_ascii=False),
                updated.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
            )  # type: ignore[union-attr]
        )
    return rows


def _serve(count: int, status: str, ready: Any, stop: Any) -> None:
    from munivideo.sandbox import Sandbox

    sb = Sandbox(dialect="rest", seed="empty", validate_responses=False)
    rows = _rows(count, status)
    for start in range(0, len(rows), 10_000):
        sb.store.put_rows(rows[start : start + 10_000])
    sb.start()
    ready.put(sb.base_url)
    stop.wait()
    sb.stop()


def _config(base_url: str, folder: Path) -> Any:
    from munivideo.config import parse_config
    from munivideo.sandbox.seeds import DEPARTMENTS, SERVICES

    return parse_config(
        {
            "tenant": {"id": "bench", "name": "Prefeitura de Benchmark"},
            "erp": {
                "adapter": "rest",
                "settings": {
                    "base_url": base_url,
                    "auth": {
                        "scheme": "oauth2",
                        "client_id": "munivideo-sandbox",
                        "client_secret": {"env": "S"},
                        "token_url": f"{base_url}/oauth/token",
                    },
                },
            },
            "video": {
                "provider": "jitsi",
                "settings": {
                    "base_url": "https://meet.bench.example",
                    "app_id": "bench",
                    "app_secret": {"env": "J"},
                },
            },
            "notifiers": [{"name": "file", "settings": {"path": str(folder / "outbox")}}],
            "store": {"url": f"sqlite:///{folder / 'bench.db'}"},
            "services": [
                {"code": c, "name": n, "erp_subject_code": c, "department_code": d}
                for c, (n, d) in SERVICES.items()
            ],
            "departments": [{"code": c, "name": n} for c, n in DEPARTMENTS.items()],
        },
        env={"S": "sandbox-secret", "J": "bench-jitsi-secret-0123456789abcdef"},
    )


def _engine_run(kind: str, base_url: str, out: Any) -> None:
    """Runs in its own process: one sync (or the raw read), then report rate and peak RSS."""
    import logging

    logging.getLogger("munivideo").setLevel(logging.ERROR)
    started = time.perf_counter()
    if kind == "raw":
        import requests

        session = requests.Session()
        token = session.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("munivideo-sandbox", "sandbox-secret"),
            timeout=10,
        ).json()
        session.headers["Authorization"] = f"Bearer {token['access_token']}"
        count, cursor = 0, None
        started = time.perf_counter()
        while True:
            params: dict[str, Any] = {"limite": PAGE}
            if cursor:
                params["cursor"] = cursor
            body = session.get(f"{base_url}/api/v1/agendamentos", params=params, timeout=30).json()
            count += len(body["itens"])
            cursor = body.get("proximoCursor")
            if not body.get("haMais"):
                break
        records = count
    else:
        from munivideo.engine import build_engine, sync

        with tempfile.TemporaryDirectory() as tmp:
            engine = build_engine(_config(base_url, Path(tmp)))
            started = time.perf_counter()
            result = sync(engine, page_size=PAGE)
            records = result.bound
            if result.quarantined or result.deferred:
                raise SystemExit(f"unexpected: {result}")
            engine.close()
            engine.store.close()
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.put({"records": records, "seconds": seconds, "peak_mb": peak_kb / 1024})


def _measure(kind: str, count: int, status: str) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    server = ctx.Process(target=_serve, args=(count, status, ready, stop), daemon=True)
    server.start()
    base_url = ready.get(timeout=120)
    worker = ctx.Process(target=_engine_run, args=(kind, base_url, out))
    worker.start()
    result: dict[str, float] = out.get(timeout=600)
    worker.join()
    stop.set()
    server.join(timeout=10)
    return result


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    big = int(args[0]) if args else 100_000
    small = big // 10
    runs = [
        ("raw read (baseline)", "raw", big, "AG"),
        (f"bind {small:,}", "bind", small, "AG"),
        (f"bind {big:,}", "bind", big, "AG"),
        ("full pipeline 300", "bind", 300, "CF"),
    ]
    rows = []
    for label, kind, count, status in runs:
        r = _measure(kind, count, status)
        rows.append((label, r))
        print(f"  {label}: {r['records']:.0f} records in {r['seconds']:.1f} s", flush=True)
    raw = rows[0][1]
    raw_rate = raw["records"] / raw["seconds"]
    print(f"\n{'run':<22}{'records':>10}{'seconds':>10}{'rec/s':>10}{'vs raw':>9}{'peak MB':>10}")
    for label, r in rows:
        rate = r["records"] / r["seconds"]
        print(
            f"{label:<22}{r['records']:>10.0f}{r['seconds']:>10.1f}{rate:>10.0f}"
            f"{rate / raw_rate:>9.2f}{r['peak_mb']:>10.1f}"
        )
    growth = rows[2][1]["peak_mb"] / rows[1][1]["peak_mb"]
    print(f"\npeak memory {big:,} / {small:,} bookings: {growth:.2f}x (flat means ~1.0)")


if __name__ == "__main__":
    main()
