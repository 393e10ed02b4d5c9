"""The console in a real browser: Debian's chromium driven by Playwright over loopback.

One servant journey (sign in, agenda, outcome form with an uploaded document and an htmx-added
row, the page following the write-back until the sandbox ERP's protocol number shows) and one
operator journey (outbox, a dead letter's page, replay with a reason, delivered). Effects are
counted in the sandbox ERP. ``MUNIVIDEO_SCREENSHOTS=DIR`` also writes the pages' screenshots
there (``docs/img`` holds the committed ones).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from engine.conftest import TENANT
from playwright.sync_api import Browser, Page, expect, sync_playwright

from munivideo.engine.sync import sync_bookings
from munivideo.models import Outcome, OutcomeForm
from munivideo.store import OutboxState

from .conftest import PASSWORD, ConsoleEnv

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PDF = b"%PDF-1.4\n% comprovante de residencia\n" + os.urandom(4096)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install -y chromium)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    """Screenshot into tmp_path (checked non-empty) and into $MUNIVIDEO_SCREENSHOTS if set."""
    target = tmp_path / name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    folder = os.environ.get("MUNIVIDEO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(target.read_bytes())


def _more_bookings(env: ConsoleEnv) -> str:
    """Three more bookings for Ana on AG-000001's day (a fuller agenda); returns the day."""
    first = env.sb.booking("AG-000001")
    extra = [
        ("AG-000101", "ISS", "10:00", "10:30", "Maria Aparecida dos Santos", "52998224725"),
        ("AG-000102", "ITBI", "11:15", "11:45", "Vinícius Araújo Peixoto", "11144477735"),
        ("AG-000103", "NFSE", "14:00", "14:30", "Letícia Guimarães Ávila", "39053344705"),
    ]
    for booking_id, service, start, end, name, cpf in extra:
        doc = {k: v for k, v in first.items() if k != "dataAtualizacao"}
        doc.update(
            {
                "id": booking_id,
                "codigoServico": service,
                "horaInicio": start,
                "horaFim": end,
                "cidadao": {"nome": name, "cpfCnpj": cpf},
            }
        )
        env.sb.add_booking(doc)
    engine = env.mv.engine
    bookings = [engine.erp.get_booking(b[0]) for b in extra]
    assert sync_bookings(engine, bookings).rooms_created == 3
    binding = engine.store.get_binding(TENANT, "AG-000001")
    assert binding is not None
    zone = ZoneInfo(engine.config.tenant.timezone)
    return binding.booking.start.astimezone(zone).date().isoformat()


def _sign_in(page: Page, name: str) -> None:
    expect(page.locator("h1")).to_have_text("Entrar")
    page.select_option("select[name=tenant]", TENANT)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit] >> text=Entrar")


def test_servant_records_an_outcome_that_lands_in_the_erp(
    browser: Browser, live_url: str, console_env: ConsoleEnv, tmp_path: Path
) -> None:
    day = _more_bookings(console_env)
    page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR").new_page()
    page.goto(f"{live_url}/agenda?day={day}")
    _sign_in(page, "ana")  # the sign-in page brings her back to the agenda she asked for
    expect(page.locator("table.grid tbody tr")).to_have_count(4)
    expect(page.locator("body")).to_contain_text("09:00–09:30")

    page.click("text=Abrir AG-000001")
    expect(page.locator("h1")).to_have_text("Agendamento AG-000001")
    page.select_option("#outcome", "attended")
    page.fill(".document-row >> nth=0 >> input[name=doc_name]", "Comprovante de residência")
    page.select_option(".document-row >> nth=0 >> select[name=doc_kind]", "comprovante-residencia")
    page.set_input_files(
        ".document-row >> nth=0 >> input[name=doc_file]",
        files=[{"name": "comprovante.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.click("text=+ documento")  # htmx fetches a second row
    expect(page.locator(".document-row")).to_have_count(2)
    page.fill(".document-row >> nth=1 >> input[name=doc_name]", "Matrícula 12.345")
    page.select_option(".document-row >> nth=1 >> select[name=doc_kind]", "matricula-imovel")
    page.fill(".document-row >> nth=1 >> input[name=doc_sha256]", "cd" * 32)
    page.select_option("select[name=demand_department]", "SMF-DIV")
    page.fill("input[name=demand_description]", "Parcelamento do IPTU 2025 em 10 vezes")
    page.fill("#summary", "Cidadão orientado sobre a revisão do valor venal do imóvel.")
    _shot(page, tmp_path, "console-outcome-form.png")
    page.click("#save-outcome")

    expect(page.locator("#writeback")).to_contain_text("Enviando ao ERP")
    (item,) = console_env.mv.outbox()
    assert item.entry.documents[0].sha256 == hashlib.sha256(PDF).hexdigest()
    worker = threading.Thread(target=console_env.mv.writeback)  # the worker, elsewhere
    worker.start()
    worker.join(timeout=30)
    (protocol,) = console_env.sb.protocols()
    label = f"{protocol['numero']}/{protocol['ano']}"
    # the page polls (htmx) and shows the protocol number without a reload
    expect(page.locator("#writeback")).to_contain_text(f"Protocolo {label} registrado no ERP")
    assert {a["sha256"] for a in protocol["anexos"]} == {
        hashlib.sha256(PDF).hexdigest(),
        "cd" * 32,
    }
    assert [t["codigoDepartamentoDestino"] for t in protocol["tramitacoes"]] == ["SMF-DIV"]

    console_env.mv.record(
        [],
        OutcomeForm(
            booking_id="AG-000101",
            servant_registration="AF-0001",
            outcome=Outcome.CITIZEN_NO_SHOW,
        ),
    )
    page.goto(f"{live_url}/agenda?day={day}")
    expect(page.locator("body")).to_contain_text(f"protocolo {label}")
    _shot(page, tmp_path, "console-agenda.png")


def test_operator_replays_a_dead_letter(
    browser: Browser, live_url: str, console_env: ConsoleEnv, tmp_path: Path
) -> None:
    mv = console_env.mv
    for booking in ("AG-000001", "AG-000005", "AG-000009"):
        mv.record(
            [],
            OutcomeForm(
                booking_id=booking, servant_registration="AF-0001", outcome=Outcome.ATTENDED
            ),
        )
    console_env.sb.inject("criarProtocolo=fault:REQUISICAO_INVALIDA#1")
    assert mv.writeback().dead_lettered == 1
    (dead,) = mv.outbox(OutboxState.FAILED)
    mv.record(  # and one still waiting for the worker (AG-000010 is cancelled in the seed)
        [],
        OutcomeForm(
            booking_id="AG-000011", servant_registration="AF-0001", outcome=Outcome.ATTENDED
        ),
    )

    page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR").new_page()
    page.goto(f"{live_url}/outbox")
    _sign_in(page, "rui")
    expect(page.locator("table.grid tbody tr")).to_have_count(4)
    _shot(page, tmp_path, "console-outbox.png")
    page.select_option("select[name=state]", "failed")
    page.click("text=Filtrar")
    expect(page.locator("table.grid tbody tr")).to_have_count(1)
    page.click(f"a[href='/outbox/{dead.id}?tenant={TENANT}']")
    expect(page.locator("#item-state")).to_have_text("falhou (carta morta)")
    # the reason in the reader's language (stored, logged and printed in English)
    expect(page.locator("#last-error")).to_contain_text(
        "criarProtocolo: o ERP recusou o pedido (injected fault REQUISICAO_INVALIDA)"
    )
    page.fill("#replay-form input[name=reason]", "assunto corrigido no ERP")
    page.click("#replay-form button")
    expect(page.locator(".notice")).to_contain_text("voltou para a fila")
    expect(page.locator("#item-state")).to_have_text("aguardando")
    expect(page.locator("#audit")).to_contain_text("replay: assunto corrigido no ERP")
    assert mv.writeback().delivered == 2
    page.reload()
    expect(page.locator("#item-state")).to_have_text("entregue")
    assert len(console_env.sb.protocols()) == 4
