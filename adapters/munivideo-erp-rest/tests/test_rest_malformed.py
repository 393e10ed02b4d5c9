"""An ERP answer of the wrong shape, found after the call returned, is a typed error naming the
operation, the record and the field (house rule: nothing raw escapes an adapter). The peer is a
real loopback HTTP server answering with a fixed JSON document; it counts the requests it got,
so a create is seen sent once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from munivideo_erp_rest import RestErpAdapter, RestSettings

from munivideo.errors import AmbiguousError, ContractViolationError, MunivideoError
from munivideo.models import ProtocolEntry, ProtocolReceipt, Tenant

TENANT = Tenant(id="gravatai", name="Gravataí")

Serve = Callable[[Any, str], tuple[RestErpAdapter, list[str]]]


@pytest.fixture
def erp() -> Iterator[Serve]:
    """``serve(document, link="") -> (adapter, request lines)``: every request is answered 200
    with ``document`` as JSON (and ``link`` as a ``Link`` header when given)."""
    servers: list[ThreadingHTTPServer] = []

    def serve(document: Any, link: str = "") -> tuple[RestErpAdapter, list[str]]:
        seen: list[str] = []
        body = json.dumps(document).encode()

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                seen.append(self.requestline)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if link:
                    self.send_header("Link", link)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        settings = RestSettings(
            base_url=f"http://127.0.0.1:{server.server_port}",
            retry={"max_attempts": 2, "initial_backoff_seconds": 0, "max_backoff_seconds": 0},
        )
        return RestErpAdapter(TENANT, settings, sleep=lambda _: None), seen

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


RECEIPT = ProtocolReceipt(
    number=7,
    year=2031,
    external_reference="mv:gravatai:AG-1",
    created_at=datetime(2031, 3, 5, tzinfo=UTC),
)


def _typed(exc: BaseException, kind: type[MunivideoError], operation: str) -> MunivideoError:
    assert type(exc) is kind, f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert isinstance(exc, MunivideoError)
    assert exc.message.startswith(f"{operation}: ")
    return exc


def test_get_booking_whose_answer_is_not_a_record(erp: Serve) -> None:
    adapter, seen = erp(["not", "a", "record"])
    with pytest.raises(MunivideoError) as raised:
        adapter.get_booking("AG-1")
    error = _typed(raised.value, ContractViolationError, "obterAgendamento")
    assert (error.record_id, error.field) == ("AG-1", "$")
    assert len(seen) == 1


def test_find_protocol_whose_item_is_not_a_protocol(erp: Serve) -> None:
    adapter, _ = erp({"itens": ["mv:gravatai:AG-1"]})
    with pytest.raises(MunivideoError) as raised:
        adapter.find_protocol("mv:gravatai:AG-1")
    error = _typed(raised.value, ContractViolationError, "buscarPorReferenciaExterna")
    assert (error.record_id, error.field) == ("mv:gravatai:AG-1", "itens")


def test_read_protocol_whose_answer_is_not_a_protocol(erp: Serve) -> None:
    adapter, _ = erp("7/2031")
    with pytest.raises(MunivideoError) as raised:
        adapter.read_protocol(RECEIPT)
    error = _typed(raised.value, ContractViolationError, "obterProtocolo")
    assert (error.record_id, error.field) == ("mv:gravatai:AG-1", "$")


def test_a_create_answered_without_a_protocol_is_ambiguous_and_sent_once(erp: Serve) -> None:
    # The ERP answered 2xx: the protocol may exist, so the exactly-once layer looks it up.
    adapter, seen = erp("criado")
    entry = ProtocolEntry(
        external_reference="munivideo:gravatai:AG-1",
        tenant_id="gravatai",
        booking_id="AG-1",
        subject_code="IPTU-REV",
        applicant={"name": "A", "cpf": "05278934123"},
        department_code="SMF-FISC",
        opened_at=datetime(2031, 3, 5, 17, 35, tzinfo=UTC),
        summary="s",
        outcome="attended",
    )
    with pytest.raises(MunivideoError) as raised:
        adapter.create_protocol(entry, "key-1")
    error = _typed(raised.value, AmbiguousError, "criarProtocolo")
    assert (error.record_id, error.field) == ("AG-1", "$")
    assert len(seen) == 1


def test_a_page_without_an_item_list(erp: Serve) -> None:
    adapter, _ = erp({"itens": "nenhum", "haMais": False})
    with pytest.raises(MunivideoError) as raised:
        adapter.list_bookings(None, 10)
    error = _typed(raised.value, ContractViolationError, "listarAlterados")
    assert error.field == "itens"
