"""A SOAP answer of the wrong shape, found after the call returned, is a typed error naming the
operation and the field, here on the lenient re-read of a page the schema refused (house rule:
nothing raw escapes an adapter; the REST adapter's tests cover the other checks). The peer is
a real loopback HTTP server answering every POST with a fixed SOAP envelope and counting them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from munivideo_erp_soap import SoapErpAdapter, SoapSettings

from munivideo.errors import ContractViolationError, MunivideoError
from munivideo.models import Tenant

TENANT = Tenant(id="gravatai", name="Gravataí")
NS = "http://munivideo.org/erp/v1"

Serve = Callable[[str], tuple[SoapErpAdapter, list[str]]]


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soapenv:Body xmlns:erp="{NS}">{body}</soapenv:Body></soapenv:Envelope>'
    ).encode()


@pytest.fixture
def erp() -> Iterator[Serve]:
    """``serve(body) -> (adapter, SOAP actions seen)``: every POST is answered 200 with
    ``body`` inside a SOAP envelope."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    servers: list[ThreadingHTTPServer] = []

    def serve(body: str) -> tuple[SoapErpAdapter, list[str]]:
        seen: list[str] = []
        payload = _envelope(body)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append(self.headers.get("SOAPAction") or "")
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        settings = SoapSettings(
            base_url=f"http://127.0.0.1:{server.server_port}",
            retry={"max_attempts": 1},
        )
        return SoapErpAdapter(TENANT, settings, sleep=lambda _: None), seen

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_page_that_is_not_a_structure_even_read_leniently(erp: Serve) -> None:
    # The schema refuses an answer of a type it does not know; read again without the schema,
    # the answer is text, no structure: a contract violation, not a raw exception.
    adapter, seen = erp(
        '<erp:listarAlteradosResposta xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:type="erp:Nada">nada</erp:listarAlteradosResposta>'
    )
    with pytest.raises(MunivideoError) as raised:
        adapter.list_bookings(None, 10)
    error = raised.value
    assert type(error) is ContractViolationError, f"{type(error).__name__}: {error}"
    assert error.message.startswith("listarAlterados: ") and error.field == "$"
    assert len(seen) == 2  # the strict read, then the lenient re-read
