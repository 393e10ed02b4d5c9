"""SOAP answers as real ERPs send them, served by a loopback HTTP server: a Latin-1 body whose
charset is only in the HTTP ``Content-Type``, and a ``soapenv:Server`` fault without detail (an
HTTP 500 carrying an Oracle deadlock), classified as the REST path classifies an HTTP 500."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from munivideo.errors import AmbiguousError, TransientError
from munivideo.packs import pack_dir
from munivideo.transport import AuthSettings, RetryPolicy, Timeouts
from munivideo.transport.classify import HttpStatusError, classify, to_error
from munivideo.transport.soap import call_soap, create_service, tenant_client

WSDL = pack_dir("erp-soap", "v1") / "erp.wsdl"
BASIC = AuthSettings(scheme="basic", username="u", password=SecretStr("p"))
ONCE = RetryPolicy(max_attempts=1, initial_backoff_seconds=0.01, max_backoff_seconds=0.01)
GOLDEN = (
    pack_dir("erp-soap", "v1") / "examples" / "valid" / "obterAgendamento.response.iso-8859-1.xml"
)

DEADLOCK = b"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body><soapenv:Fault><faultcode>soapenv:Server</faultcode>
<faultstring>ORA-00060: deadlock detected while waiting for resource</faultstring>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


class _Peer:
    """What the loopback ERP answers next, and how many requests it received."""

    def __init__(self) -> None:
        self.status = 200
        self.content_type = "text/xml"
        self.body = b""
        self.requests = 0


@pytest.fixture
def peer() -> Iterator[tuple[_Peer, str]]:
    state = _Peer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests += 1
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/soap/agendamentos"
    finally:
        server.shutdown()
        server.server_close()


def _service(url: str):  # type: ignore[no-untyped-def]
    client = tenant_client(WSDL, Timeouts(connect_seconds=2, read_seconds=5), BASIC)
    return create_service(client, "AgendamentosBinding", url)


def test_latin1_answer_with_charset_only_in_content_type(peer: tuple[_Peer, str]) -> None:
    state, url = peer
    golden = GOLDEN.read_bytes()
    assert golden.startswith(b"<?xml") and "João".encode("latin-1") in golden
    state.body = golden.split(b"?>", 1)[1].lstrip()  # no XML declaration left
    state.content_type = "text/xml; charset=ISO-8859-1"
    answer = call_soap(
        _service(url).obterAgendamento, ONCE, name="obterAgendamento", safe=True, id="AG-000001"
    )
    assert answer["cidadao"]["nome"] == "João da Conceição Araújo"
    assert state.requests == 1


def test_a_declared_encoding_still_wins_and_utf8_is_untouched(peer: tuple[_Peer, str]) -> None:
    state, url = peer
    state.body = GOLDEN.read_bytes()  # declares ISO-8859-1 itself
    state.content_type = "text/xml; charset=ISO-8859-1"
    answer = call_soap(
        _service(url).obterAgendamento, ONCE, name="obterAgendamento", safe=True, id="AG-000001"
    )
    assert answer["cidadao"]["nome"] == "João da Conceição Araújo"
    state.body = GOLDEN.read_bytes().split(b"?>", 1)[1].decode("latin-1").encode("utf-8")
    state.content_type = "text/xml; charset=utf-8"
    answer = call_soap(
        _service(url).obterAgendamento, ONCE, name="obterAgendamento", safe=True, id="AG-000001"
    )
    assert answer["cidadao"]["nome"] == "João da Conceição Araújo"


@pytest.mark.parametrize(("safe", "expected"), [(True, TransientError), (False, AmbiguousError)])
def test_server_fault_without_detail_is_classified_as_an_http_500(
    peer: tuple[_Peer, str], safe: bool, expected: type[Exception]
) -> None:
    state, url = peer
    state.status, state.body = 500, DEADLOCK
    with pytest.raises(TransientError) as info:
        call_soap(
            _service(url).obterAgendamento, ONCE, name="obterAgendamento", safe=safe, id="AG-1"
        )
    assert type(info.value) is expected
    assert "ORA-00060" in info.value.message and state.requests == 1
    # The REST path's verdict for the same thing: an HTTP 500 without an ERP-declared fault.
    rest = HttpStatusError(500, message="ORA-00060: deadlock detected")
    rest_error = to_error(rest, classify(rest), operation="x", record_id=None, safe=safe)
    assert type(rest_error) is expected


def test_client_fault_without_detail_is_still_a_rejection(peer: tuple[_Peer, str]) -> None:
    state, url = peer
    state.status = 500
    state.body = DEADLOCK.replace(b"soapenv:Server", b"soapenv:Client")
    with pytest.raises(Exception) as info:
        call_soap(
            _service(url).obterAgendamento, ONCE, name="obterAgendamento", safe=True, id="AG-1"
        )
    assert not isinstance(info.value, TransientError)
