"""The server itself: TCP_NODELAY on accepted sockets, inspection API, seeds, CLI."""

from __future__ import annotations

import socket

import requests
from click.testing import CliRunner

from munivideo.sandbox import Sandbox
from munivideo.sandbox.cli import sandbox as sandbox_cli
from munivideo.sandbox.seeds import make_cpf
from munivideo.sandbox.store import Store
from munivideo.values import Cpf


def test_accepted_sockets_have_tcp_nodelay(sb: Sandbox) -> None:
    from munivideo.sandbox.server import _Handler

    server_side: list[int] = []

    class Probe(_Handler):
        def setup(self) -> None:
            super().setup()
            server_side.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    from munivideo.sandbox.app import SandboxApp
    from munivideo.sandbox.server import build_server

    server = build_server(SandboxApp(sb.ctx), port=0)
    server.RequestHandlerClass = Probe
    import threading

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        requests.get(f"http://127.0.0.1:{server.port}/_sandbox/health", timeout=5)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    assert server_side and server_side[0] != 0


def test_inspection_api_changes_bookings(sb: Sandbox) -> None:
    base = f"{sb.base_url}/_sandbox"
    added = requests.post(
        f"{base}/bookings",
        json={
            "id": "AG-NEW-1",
            "codigoServico": "ISS",
            "cidadao": {"nome": "Ênio Tavares", "cpfCnpj": make_cpf(77)},
            "data": "2030-05-02",
            "horaInicio": "10:00",
            "horaFim": "10:30",
            "situacao": "CF",
        },
        timeout=5,
    )
    assert added.status_code == 201
    moved = requests.post(
        f"{base}/bookings/AG-NEW-1/reschedule",
        json={"data": "2030-05-03", "horaInicio": "11:00", "horaFim": "11:30"},
        timeout=5,
    ).json()
    assert (moved["situacao"], moved["sequencia"], moved["data"]) == ("RM", 1, "2030-05-03")
    cancelled = requests.post(f"{base}/bookings/AG-NEW-1/cancel", json={}, timeout=5).json()
    assert (cancelled["situacao"], cancelled["sequencia"]) == ("CA", 2)
    assert len(requests.get(f"{base}/bookings", timeout=5).json()) == 31
    reset = requests.post(f"{base}/reset", json={"seed": "empty"}, timeout=5).json()
    assert reset == {"ok": True, "bookings": 0}


def test_python_api_changes_bookings(sb: Sandbox) -> None:
    moved = sb.reschedule_booking("AG-000001", "2030-01-02", "09:00", "09:30")
    assert moved["situacao"] == "RM"
    assert sb.cancel_booking("AG-000001", "Cidadão desistiu.")["situacao"] == "CA"
    before = sb.booking("AG-000002")["dataAtualizacao"]
    assert sb.set_booking_status("AG-000002", "AT")["dataAtualizacao"] > before


def test_seed_data_is_realistic() -> None:
    with Sandbox(seed="tax-office") as sb:
        bookings = sb.bookings()
    assert len(bookings) == 30
    auditors = {
        b["servidor"]["nome"]
        for b in bookings
        if b["codigoServico"] in ("IPTU", "ISS") and "servidor" in b
    }
    assert any(ch in "".join(auditors) for ch in "áéíóúâêôãõç")
    for b in bookings:
        Cpf.parse(b["cidadao"]["cpfCnpj"])  # valid check digits
    assert {b["codigoServico"] for b in bookings} == {"IPTU", "ISS", "ITBI", "NFSE", "SESMT", "RH"}


def test_bulk_seed_pages_in_order() -> None:
    # Speed is a benchmark matter (benchmarks/bench_sync.py seeds 100k), never a unit test.
    from munivideo.sandbox.seeds import bulk_seed

    store = Store()
    bulk_seed(store, 20_000)
    first, more = store.list_bookings(None, 500)
    assert more
    last = first[-1]
    nxt, _ = store.list_bookings((last.data_atualizacao, last.id), 500)
    assert nxt[0].data_atualizacao >= last.data_atualizacao
    assert {b.id for b in first}.isdisjoint({b.id for b in nxt})


def test_cli_help_and_bad_faults() -> None:
    runner = CliRunner()
    assert "--faults" in runner.invoke(sandbox_cli, ["serve", "--help"]).output
    bad = runner.invoke(sandbox_cli, ["serve", "--port", "0", "--faults", "nope"])
    assert bad.exit_code == 2
    assert "expected TARGET=ACTION" in bad.output
