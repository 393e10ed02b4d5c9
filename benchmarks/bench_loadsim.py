"""Load simulation: many cities, `munivideo worker` processes, chaos; exactly once throughout.

``python -m benchmarks loadsim [CITIES] [SECONDS]`` (defaults 500 cities, 288 s: a 48-minute
slice of a business day's attendances compressed tenfold; pass 2880 for the whole 8-hour day).

* The ERP: four loopback sandbox ERPs (separate processes). Most cities share a healthy one;
  5 cities talk to a slow one (1.5 s per call), 5 to a flaky one (30% of calls answer 503), 5 to
  one that commits creates and attachments and then drops the connection (30%).
* The morning backlog (outcomes recorded while the ERP was down, one per city) is recorded at
  the start; then every city records outcomes at random moments over the run.
* PostgreSQL: two `munivideo worker` processes (Procrastinate, 4 jobs each). One worker is killed
  with -9 every ~third of the run and started again; PostgreSQL is restarted once, mid-run.
* SQLite, for comparison: the same load on one machine (one `munivideo worker`, local loop),
  without the chaos.

Reports, per store: effects per idempotency key at the ERP (exactly one for every key), rows
lost (recorded but not in the outbox: must be 0), rows not delivered at the end, healthy cities'
p50/p95 lag from outcome recorded to protocol delivered, throughput while draining the backlog
and overall; and a PNG of lag per city over time (``loadsim-lag.png``, matplotlib: the ``bench``
extra).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

CITIES = 500
SECONDS = 288
BOOKINGS = 60  # bookings per sandbox ERP; every city records outcomes for some of them
PER_CITY = 4  # outcomes per city over the run, besides the backlog's one
SLOW, FLAKY, DROPPY = "slow", "flaky", "droppy"
FAULTS = {
    "healthy": "",
    SLOW: "*=latency:1500ms",
    FLAKY: "*=unavailable:0@0.3",
    DROPPY: "criarProtocolo=drop_after_commit@0.3,anexarDocumento=drop_after_commit@0.3",
}
ENV = {"S": "sandbox-secret", "J": "bench-jitsi-secret-0123456789abcdef"}


def _kind(index: int) -> str:
    return (SLOW, FLAKY, DROPPY)[index // 5] if index < 15 else "healthy"


def _tenant_toml(city: str, base_url: str, store_url: str, outbox: Path) -> str:
    from munivideo.sandbox.seeds import DEPARTMENTS, SERVICES

    services = "".join(
        f'\n[[services]]\ncode = "{c}"\nname = "{n}"\nerp_subject_code = "{c}"\n'
        f'department_code = "{d}"\n'
        for c, (n, d) in SERVICES.items()
    )
    departments = "".join(
        f'\n[[departments]]\ncode = "{c}"\nname = "{n}"\n' for c, n in DEPARTMENTS.items()
    )
    return f"""
[tenant]
id = "{city}"
name = "Prefeitura {city}"

[erp]
adapter = "rest"

[erp.settings]
base_url = "{base_url}"
timeouts = {{ connect_seconds = 2, read_seconds = 10, total_seconds = 12 }}
retry = {{ max_attempts = 1, initial_backoff_seconds = 0.05, max_backoff_seconds = 0.2 }}

[erp.settings.auth]
scheme = "oauth2"
client_id = "munivideo-sandbox"
client_secret = {{ env = "S" }}
token_url = "{base_url}/oauth/token"

[video]
provider = "jitsi"

[video.settings]
base_url = "https://meet.bench.example"
app_id = "bench"
app_secret = {{ env = "J" }}

[[notifiers]]
name = "file"

[notifiers.settings]
path = "{outbox}"

[store]
url = "{store_url}"

[writeback]
max_attempts = 40
lease_seconds = 30
backoff_base_seconds = 0.5
backoff_max_seconds = 8

[worker]
concurrency = 1
batch = 5
max_job_seconds = 5
sync_every_seconds = 0
{services}{departments}"""


@dataclass
class Run:
    """One simulated run on one store."""

    store: str
    recorded: dict[tuple[str, str], float] = field(default_factory=dict)  # (city, booking) -> t
    backlog: int = 0
    events: list[str] = field(default_factory=list)
    started: float = 0.0


def _servers() -> dict[str, Any]:
    from benchmarks.bench_sync import _Server

    return {kind: _Server(BOOKINGS, "CF") for kind in FAULTS}


def _inject(servers: dict[str, Any], *, on: bool) -> None:
    """Make the slow, flaky and droppy ERPs misbehave (``on``) or behave (to read bookings)."""
    for kind, spec in FAULTS.items():
        if not on:
            requests.delete(f"{servers[kind].base_url}/_sandbox/faults", timeout=30)
            continue
        if spec:
            requests.put(
                f"{servers[kind].base_url}/_sandbox/faults",
                json={"spec": spec, "seed": 7},
                timeout=10,
            ).raise_for_status()


def _bind_and_engines(
    folder: Path, cities: list[str], servers: dict[str, Any], store_url: str
) -> tuple[dict[str, Any], Any]:
    """Tenant files, bindings of every city's bookings, and one engine per city to record."""
    from munivideo.config import load_config
    from munivideo.engine import build_engine
    from munivideo.engine.keys import booking_fingerprint
    from munivideo.plugins import load_plugins
    from munivideo.store import Binding, open_store
    from munivideo.values import utcnow

    os.environ.update(ENV)
    plugins = load_plugins()
    store = open_store(store_url)
    tenants = folder / "tenants"
    tenants.mkdir()
    engines: dict[str, Any] = {}
    pages: dict[str, list[Any]] = {}
    for index, city in enumerate(cities):
        server = servers[_kind(index)]
        path = tenants / f"{city}.toml"
        path.write_text(_tenant_toml(city, server.base_url, store_url, folder / "mail"), "utf-8")
        engine = build_engine(load_config(path), plugins=plugins, store=store)
        engines[city] = engine
        kind = _kind(index)
        if kind not in pages:
            pages[kind] = engine.erp.list_bookings(None, BOOKINGS).bookings
        now = utcnow()
        store.save_bindings(
            [
                Binding(
                    tenant_id=city,
                    booking_id=b.id,
                    booking=b.model_copy(update={"tenant_id": city}),
                    fingerprint=booking_fingerprint(b),
                    created_at=now,
                    updated_at=now,
                )
                for b in pages[kind]
            ],
            now=now,
        )
    return engines, store


def _record(engine: Any, booking_id: str, n: int) -> None:
    from munivideo.engine import record
    from munivideo.models import Outcome, OutcomeForm

    form = OutcomeForm(
        booking_id=booking_id,
        servant_registration=f"AF-{n % 10 + 1:04d}",
        summary="Atendimento realizado.",
        outcome=Outcome.ATTENDED,
    )
    assert record(engine, [], form).created


def _worker(folder: Path, name: str, concurrency: int) -> subprocess.Popen[bytes]:
    log = (folder / f"{name}.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "munivideo",
            "worker",
            "--config-dir",
            str(folder / "tenants"),
            "--concurrency",
            str(concurrency),
            "--name",
            name,
        ],
        env={**os.environ, **ENV},
        stdout=log,
        stderr=log,
    )


def _simulate(
    run: Run,
    folder: Path,
    cities: list[str],
    servers: dict[str, Any],
    store_url: str,
    seconds: float,
    chaos: Any | None,
    workers: int,
    concurrency: int,
) -> tuple[Any, list[subprocess.Popen[bytes]]]:
    rng = random.Random(15)
    _inject(servers, on=False)
    engines, store = _bind_and_engines(folder, cities, servers, store_url)
    _inject(servers, on=True)
    booking_ids = [f"BK-{n:07d}" for n in range(1, BOOKINGS + 1)]
    schedule: list[tuple[float, str, str]] = []
    for city in cities:
        picks = rng.sample(booking_ids, PER_CITY + 1)
        schedule.append((0.0, city, picks[0]))  # the morning backlog
        schedule.extend((rng.uniform(1, seconds), city, b) for b in picks[1:])
    schedule.sort()
    run.backlog = len(cities)
    procs = [_worker(folder, f"w{i}", concurrency) for i in range(workers)]
    deadline = time.monotonic() + 180
    while not all("serving" in (folder / f"w{i}.log").read_text("utf-8") for i in range(workers)):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.2)
    run.started = time.monotonic()
    if chaos is not None:
        threading.Thread(
            target=_chaos, args=(run, chaos, procs, folder, seconds, concurrency), daemon=True
        ).start()
    for n, (at, city, booking_id) in enumerate(schedule):
        time.sleep(max(0.0, at - (time.monotonic() - run.started)))
        for attempt in range(20):  # the store may be restarting: a caller retries
            try:
                _record(engines[city], booking_id, n)
                break
            except Exception:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        run.recorded[(city, booking_id)] = time.monotonic() - run.started
    return store, procs


def _chaos(
    run: Run,
    cluster: Any,
    procs: list[subprocess.Popen[bytes]],
    folder: Path,
    seconds: float,
    concurrency: int,
) -> None:
    """Kill a worker with -9 (and start it again) at 30%, 60% and 90% of the run; restart
    PostgreSQL at 50%."""
    rng = random.Random(9)
    plan = sorted([(seconds * f, "kill") for f in (0.3, 0.6, 0.9)] + [(seconds * 0.5, "pg")])
    for at, what in plan:
        time.sleep(max(0.0, at - (time.monotonic() - run.started)))
        now = time.monotonic() - run.started
        if what == "kill":
            victim = rng.randrange(len(procs))
            procs[victim].kill()
            procs[victim].wait()
            procs[victim] = _worker(folder, f"w{victim}", concurrency)
            run.events.append(f"{now:.0f}s: worker w{victim} killed (-9), restarted")
        else:
            started = time.monotonic()
            cluster.restart()
            down = time.monotonic() - started
            run.events.append(f"{now:.0f}s: PostgreSQL restarted ({down:.1f} s down)")


def _drain(store: Any, cities: list[str], run: Run, timeout: float) -> float:
    from munivideo.values import utcnow

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = 0
        for city in cities:
            counts = store.outbox_counts(city, now=utcnow())
            busy += counts.pending + counts.in_flight
        if busy == 0:
            break
        time.sleep(1.0)
    return time.monotonic() - run.started


def _report(
    run: Run, store: Any, cities: list[str], servers: dict[str, Any], wall: float
) -> dict[str, Any]:
    from munivideo.store import OutboxState

    items: list[Any] = []
    for city in cities:
        after = None
        while page := store.list_items(city, limit=500, after=after):
            items.extend(page)
            after = page[-1].id
    found = {(i.tenant_id, i.booking_id) for i in items}
    lost = len(set(run.recorded) - found)
    states: dict[str, int] = {}
    for i in items:
        states[i.state.value] = states.get(i.state.value, 0) + 1
    # effects on protocols are counted per external reference munivideo:<city>:<booking>
    # (one idempotency key per step); this run's cities have their own prefix
    prefix = f"munivideo:{cities[0][:2]}"
    effects: dict[str, int] = {}
    for server in servers.values():
        report = requests.get(f"{server.base_url}/_sandbox/effects", timeout=60).json()
        for subject, steps in report["effects"].items():
            if subject.startswith(prefix):
                for step, count in steps.items():
                    effects[f"{subject}|{step}"] = count
    duplicates = sum(1 for count in effects.values() if count > 1)
    creates = [c for k, c in effects.items() if k.split("|", 1)[1].startswith("create")]
    kinds = {city: _kind(i) for i, city in enumerate(cities)}
    delivered = [i for i in items if i.state is OutboxState.DELIVERED and i.delivered_at]
    lags = {
        (i.tenant_id, i.booking_id): (i.delivered_at - i.created_at).total_seconds()
        for i in delivered
    }
    healthy = sorted(v for (c, _), v in lags.items() if kinds[c] == "healthy")
    first = min((i.created_at for i in items), default=None)
    last = max((i.delivered_at for i in delivered if i.delivered_at), default=None)
    backlog_keys = {k for k, t in run.recorded.items() if t < 1.0 and kinds[k[0]] == "healthy"}
    backlog_done = max(
        (i.delivered_at for i in delivered if (i.tenant_id, i.booking_id) in backlog_keys),
        default=None,
    )
    return {
        "store": run.store,
        "recorded": len(run.recorded),
        "rows_lost": lost,
        "states": states,
        "erp_effect_keys": len(effects),
        "effects_per_key": sorted(set(effects.values())),
        "duplicate_effects": duplicates,
        "creates": len(creates),
        "healthy_p50": statistics.median(healthy) if healthy else None,
        "healthy_p95": healthy[int(len(healthy) * 0.95) - 1] if len(healthy) > 1 else None,
        "backlog_throughput": (
            len(backlog_keys) / (backlog_done - first).total_seconds()
            if backlog_done and first
            else None
        ),
        "overall_throughput": (
            len(delivered) / (last - first).total_seconds() if last and first else None
        ),
        "wall_seconds": wall,
        "events": run.events,
        "lags": [
            (i.tenant_id, kinds[i.tenant_id], (i.created_at - first).total_seconds(), lag)
            for i in delivered
            if first is not None
            for lag in [lags[(i.tenant_id, i.booking_id)]]
        ],
    }


def _one(
    store_kind: str,
    cities: list[str],
    servers: dict[str, Any],
    seconds: float,
    workers: int,
    concurrency: int,
) -> dict[str, Any]:
    from munivideo.testing.postgres import throwaway_cluster

    cluster = throwaway_cluster(fast=True) if store_kind == "postgres" else None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if cluster is not None:
                url = cluster.create_database("loadsim")
            else:
                url = f"sqlite:///{folder / 'loadsim.db'}?synchronous=normal"
            run = Run(store=store_kind)
            store, procs = _simulate(
                run, folder, cities, servers, url, seconds, cluster, workers, concurrency
            )
            wall = _drain(store, cities, run, timeout=max(120.0, seconds))
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)
            return _report(run, store, cities, servers, wall)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        if cluster is not None:
            cluster.stop()


def _plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 5), squeeze=False)
    colors = {"healthy": "tab:blue", SLOW: "tab:orange", FLAKY: "tab:red", DROPPY: "tab:purple"}
    for ax, result in zip(axes[0], results, strict=True):
        for kind, color in colors.items():
            points = [(t, lag) for _, k, t, lag in result["lags"] if k == kind]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.scatter(xs, ys, s=4 if kind == "healthy" else 10, c=color, label=kind, alpha=0.6)
        ax.set_yscale("log")
        ax.set_xlabel("outcome recorded at (s since start)")
        ax.set_ylabel("lag to protocol delivered (s)")
        ax.set_title(f"{result['store']}: lag per city (dot = one outcome)")
        for event in result["events"]:
            ax.axvline(float(event.split("s:", 1)[0]), color="grey", linestyle=":", linewidth=1)
        ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    args = argv if argv is not None else sys.argv[1:]
    cities_n = 6 if smoke else int(args[0]) if args else CITIES
    seconds = 10.0 if smoke else float(args[1]) if len(args) > 1 else SECONDS
    servers = _servers()
    try:
        results = [
            _one(
                "postgres",
                [f"pg{i:03d}" for i in range(cities_n)],
                servers,
                seconds,
                workers=2,
                concurrency=4,
            )
        ]
        if not smoke:  # smoke mode: the PostgreSQL run's code paths are the point
            results.append(
                _one(
                    "sqlite",
                    [f"sq{i:03d}" for i in range(cities_n)],
                    servers,
                    seconds,
                    workers=1,
                    concurrency=4,
                )
            )
    finally:
        for server in servers.values():
            server.close()
    # smoke runs (the test suite) must not leave files in the clone
    out = Path(tempfile.gettempdir() if smoke else ".") / "loadsim-lag.png"
    _plot(results, out)
    for r in results:
        assert r["rows_lost"] == 0, r["rows_lost"]
        assert r["duplicate_effects"] == 0, r["duplicate_effects"]
        # every row delivered: a worker that refuses every job (a tenant file the lease check
        # rejects) must fail the run, not report zero losses over zero deliveries
        assert r["states"] == {"delivered": r["recorded"]}, r["states"]
    print(f"\n{cities_n} cities, {seconds:.0f} s of outcomes ({cities_n * (PER_CITY + 1)} per run)")
    header = f"{'':<34} {'postgres (2 workers)':>22} {'sqlite (1 worker)':>20}"
    print(header)

    def row(label: str, key: str, fmt: str = "{}") -> None:
        values = [fmt.format(r[key]) if r[key] is not None else "-" for r in results]
        print(f"{label:<34} " + " ".join(f"{v:>22}" for v in values))

    row("outcomes recorded", "recorded")
    row("rows lost", "rows_lost")
    row("ERP effect keys", "erp_effect_keys")
    row("effects per key (distinct values)", "effects_per_key")
    row("duplicate effects", "duplicate_effects")
    row("rows by state at the end", "states")
    row("healthy cities lag p50 (s)", "healthy_p50", "{:.1f}")
    row("healthy cities lag p95 (s)", "healthy_p95", "{:.1f}")
    row("backlog drain (rows/s)", "backlog_throughput", "{:.1f}")
    row("overall (rows/s)", "overall_throughput", "{:.1f}")
    row("wall time (s)", "wall_seconds", "{:.0f}")
    for r in results:
        for event in r["events"]:
            print(f"  {r['store']}: {event}")
    print(f"plot: {out.resolve()}")
    print(f"(run at {datetime.now().isoformat(timespec='seconds')}, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
