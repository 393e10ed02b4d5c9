"""The sandbox as a network neighbour (DNS rebinding, cross-site posts, exposure, WSDL address).

Against the real loopback server: raw requests with forged headers, as a browser page or a
rebinding attacker would send them.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from click.testing import CliRunner

from munivideo.errors import ConfigurationError
from munivideo.sandbox import Sandbox
from munivideo.sandbox.cli import sandbox as sandbox_cli
from munivideo.sandbox.guard import host_name, is_loopback


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 403),
        ("evil.example:{port}", 403),
        ("127.0.0.1.evil.example", 403),
        ("", 403),
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("[::1]:{port}", 200),
        ("127.9.9.9", 200),
    ],
)
def test_host_header_must_be_loopback(sb: Sandbox, host: str, status: int) -> None:
    for path in ("/_sandbox/health", "/api/v1/agendamentos", "/soap?wsdl"):
        answer = requests.get(
            f"{sb.base_url}{path}", headers={"Host": host.format(port=sb.port)}, timeout=5
        )
        assert (answer.status_code == 403) == (status == 403), (path, answer.status_code)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),  # an HTML form
        ({"Content-Type": "text/plain"}, 415),
        ({}, 415),
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403),
        ({"Content-Type": "application/json", "Origin": "null"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "application/json", "Origin": "http://127.0.0.1:{port}"}, 200),
        ({"Content-Type": "application/json"}, 200),
    ],
)
def test_cross_site_writes_are_refused(sb: Sandbox, headers: dict[str, str], status: int) -> None:
    sent = {k: v.format(port=sb.port) for k, v in headers.items()}
    answer = requests.post(f"{sb.base_url}/_sandbox/reset", data=b"{}", headers=sent, timeout=5)
    assert answer.status_code == status


def test_cross_site_soap_post_with_published_credentials_is_refused(sb: Sandbox) -> None:
    envelope = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'
    )
    answer = requests.post(
        sb.soap_urls["protocolos"],
        data=envelope,
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
        auth=sb.credentials,
        timeout=5,
    )
    assert answer.status_code == 403
    assert sb.effects() == {}


def test_wsdl_address_comes_from_configuration_not_the_host_header(sb: Sandbox) -> None:
    answer = requests.get(
        f"{sb.base_url}/soap?wsdl", headers={"Host": f"localhost:{sb.port}"}, timeout=5
    )
    assert f'location="{sb.base_url}/soap/agendamentos"' in answer.text
    assert "localhost" not in answer.text


def test_public_url_is_announced_and_answered(munivideo_sandbox_factory: Any) -> None:
    sb = munivideo_sandbox_factory(seed="empty", public_url="http://erp-sandbox.example:9000")
    answer = requests.get(
        f"{sb.base_url}/soap?wsdl", headers={"Host": "erp-sandbox.example:9000"}, timeout=5
    )
    assert answer.status_code == 200
    assert 'location="http://erp-sandbox.example:9000/soap/protocolos"' in answer.text
    refused = requests.get(f"{sb.base_url}/soap?wsdl", headers={"Host": "other"}, timeout=5)
    assert refused.status_code == 403


def test_non_loopback_bind_needs_allow_remote() -> None:
    with pytest.raises(ConfigurationError) as info:
        Sandbox(host="0.0.0.0", seed="empty")  # noqa: S104 - the point of the test
    assert info.value.field == "host"
    everywhere = "0.0.0.0"  # noqa: S104 - the point of the test
    result = CliRunner().invoke(sandbox_cli, ["serve", "--host", everywhere, "--port", "0"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


def test_allow_remote_binds_and_still_checks_hosts() -> None:
    with Sandbox(host="0.0.0.0", seed="empty", allow_remote=True) as sb:  # noqa: S104
        local = f"http://127.0.0.1:{sb.port}"
        assert requests.get(f"{local}/_sandbox/health", timeout=5).status_code == 200
        forged = requests.get(
            f"{local}/_sandbox/health", headers={"Host": "rebound.example"}, timeout=5
        )
        assert forged.status_code == 403


def test_serve_options_set_the_behaviour(tmp_path: Any) -> None:
    import subprocess
    import sys
    import time

    log = tmp_path / "serve.log"
    command = [
        *(sys.executable, "-m", "munivideo", "sandbox", "serve", "--port", "0"),
        *("--seed", "empty", "--capabilities", "lookup_only", "--lookup", "late"),
        *("--lookup-delay", "2", "--commit-delay", "0.5", "--commit-delay-on", "criarProtocolo"),
        *("--receipts", "foreign_reference"),
    ]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "ERP on " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        base = log.read_text().split("ERP on ", 1)[1].split()[0]
        answer = requests.get(f"{base}/_sandbox/behaviour", timeout=5).json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert answer == {
        "idempotency": "ignored",
        "unique_reference": False,
        "lookup": "late",
        "lookup_delay_seconds": 2.0,
        "commit_delay_seconds": 0.5,
        "commit_delay_operations": ["criarProtocolo"],
        "receipts": "foreign_reference",
    }


def test_cli_refuses_bad_behaviour_options() -> None:
    result = CliRunner().invoke(
        sandbox_cli, ["serve", "--port", "0", "--lookup-delay", "-1", "--seed", "empty"]
    )
    assert result.exit_code == 2
    assert "lookup_delay_seconds" in result.output


def test_host_parsing() -> None:
    assert host_name("[::1]:8765") == "::1"
    assert host_name("LOCALHOST:80") == "localhost"
    assert host_name("::1") == "::1"
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("localhost.evil.example")
