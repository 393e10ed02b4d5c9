"""Sync throughput and memory: the engine pulling bookings from the REST sandbox ERP.

The sandbox runs in its own process (response validation off: we measure our side, not the
contract validator), seeded with SIZE bookings (default 100,000). Each measurement runs in a
fresh process and reads its own peak RSS from ``VmHWM`` in ``/proc/self/status`` (Linux keeps
``ru_maxrss`` across ``exec``, so a spawned child's ``ru_maxrss`` reports its parent's peak).
The sandbox is warmed up by one untimed read before the first measurement, so the baseline does
not pay for a cold server:

* ``raw read`` - baseline: page through the ERP with plain ``requests`` (no mapping, no store).
* ``bind 10k`` / ``bind 100k`` - the sync path for bookings awaiting a servant: paging through
  the REST adapter, mapping to canonical models (CPF check digits, time zones), the
  ``booking_received`` hook, fingerprints, and bindings + cursor stored per page. Peak memory
  must stay flat from 10k to 100k.
* ``full pipeline`` - confirmed bookings through everything: Jitsi room, room link written to
  the ERP, citizen and servant invitations rendered (jinja2, .ics) and written by the ``file``
  notifier. It costs ~50 ms a booking, mostly MIME and calendar rendering and the ERP call, so
  100k of them do not fit a benchmark budget; its rate is measured on 100 bookings.
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


def _config(base_url: str, folder: Path, store_options: str = "") -> Any:
    from munivideo.config import parse_config
    from munivideo.sandbox.seeds import DEPARTMENTS, SERVICES

    return parse_config(
        {
            "tenant": {"id": "bench", "name": "Prefeitura de Benchmark"},
            "erp": {
                "adapter": "rest",
                "settings": {
                    "base_url": base_url,
                    "retry": {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.1},
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
            "store": {"url": f"sqlite:///{folder / 'bench.db'}{store_options}"},
            "services": [
                {"code": c, "name": n, "erp_subject_code": c, "department_code": d}
                for c, (n, d) in SERVICES.items()
            ],
            "departments": [{"code": c, "name": n} for c, n in DEPARTMENTS.items()],
        },
        env={"S": "sandbox-secret", "J": "bench-jitsi-secret-0123456789abcdef"},
    )


def _engine_run(kind: str, base_url: str, limit: int | None, out: Any) -> None:
    """Runs in its own process: one sync (or the raw read), then report rate and peak RSS."""
    import logging

    logging.getLogger("munivideo").setLevel(logging.ERROR)
    pages = None if limit is None else max(1, limit // PAGE)
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
        count, cursor, done = 0, None, 0
        started = time.perf_counter()
        while pages is None or done < pages:
            params: dict[str, Any] = {"limite": PAGE}
            if cursor:
                params["cursor"] = cursor
            body = session.get(f"{base_url}/api/v1/agendamentos", params=params, timeout=30).json()
            count += len(body["itens"])
            done += 1
            cursor = body.get("proximoCursor")
            if not body.get("haMais"):
                break
        records = count
        seconds = time.perf_counter() - started
    else:
        from munivideo.engine import build_engine, sync

        with tempfile.TemporaryDirectory() as tmp:
            engine = build_engine(_config(base_url, Path(tmp)))
            started = time.perf_counter()
            result = sync(engine, page_size=PAGE, max_pages=pages)
            seconds = time.perf_counter() - started
            records = result.bound
            if result.quarantined or result.deferred:
                raise SystemExit(f"unexpected: {result}")
            engine.close()
            engine.store.close()
    out.put({"records": records, "seconds": seconds, "peak_mb": _peak_rss_kb() / 1024})


def _peak_rss_kb() -> int:
    """This process's own peak resident set (kB): ``VmHWM`` belongs to the current address space,
    unlike ``ru_maxrss``, which Linux carries over from the parent across ``exec``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class _Server:
    def __init__(self, count: int, status: str) -> None:
        self.ctx = mp.get_context("spawn")
        ready = self.ctx.Queue()
        self.stop = self.ctx.Event()
        self.process = self.ctx.Process(
            target=_serve, args=(count, status, ready, self.stop), daemon=True
        )
        self.process.start()
        self.base_url: str = ready.get(timeout=120)

    def measure(self, kind: str, limit: int | None = None) -> dict[str, float]:
        out = self.ctx.Queue()
        worker = self.ctx.Process(target=_engine_run, args=(kind, self.base_url, limit, out))
        worker.start()
        result: dict[str, float] = out.get(timeout=600)
        worker.join()
        return result

    def close(self) -> None:
        self.stop.set()
        self.process.join(timeout=10)


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    """``python -m benchmarks.bench_sync [SIZE]`` (default 100,000); ``smoke``: 200 bookings."""
    big = 200 if smoke else int(argv[0]) if argv else 100_000
    small = big // 10
    full = 5 if smoke else 100
    rows: list[tuple[str, dict[str, float]]] = []
    server = _Server(big, "AG")
    try:
        # Warm-up, untimed: the baseline must not pay for a cold server.
        server.measure("raw", small)
        for label, kind, limit in (
            (f"raw read {small:,} (baseline)", "raw", small),
            (f"bind {small:,}", "bind", small),
            (f"bind {big:,}", "bind", None),
        ):
            rows.append((label, server.measure(kind, limit)))
            print(f"  {label}: done", flush=True)
    finally:
        server.close()
    server = _Server(full, "CF")
    try:
        rows.append((f"full pipeline {full}", server.measure("bind")))
    finally:
        server.close()
    raw = rows[0][1]
    raw_rate = raw["records"] / raw["seconds"]
    print(f"\n{'run':<28}{'records':>9}{'seconds':>9}{'rec/s':>9}{'vs raw':>8}{'peak MB':>9}")
    for label, r in rows:
        rate = r["records"] / r["seconds"]
        print(
            f"{label:<28}{r['records']:>9.0f}{r['seconds']:>9.1f}{rate:>9.0f}"
            f"{rate / raw_rate:>8.2f}{r['peak_mb']:>9.1f}"
        )
    growth = rows[2][1]["peak_mb"] / rows[1][1]["peak_mb"]
    print(f"\npeak RSS, {big:,} vs {small:,} bookings: {growth:.2f}x (flat means ~1.0)")


if __name__ == "__main__":
    main(sys.argv[1:])
