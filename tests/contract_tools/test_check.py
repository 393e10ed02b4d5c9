"""``contracts check``: a published contract (file or URL on loopback) against a pack."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from munivideo.cli import main
from munivideo.packs import pack_dir
from munivideo.sandbox import Sandbox


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def published(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Copies of both packs served over HTTP on loopback (a "published" ERP contract)."""
    root = tmp_path / "www"
    shutil.copytree(pack_dir("erp-soap", "v1"), root / "soap")
    shutil.copytree(pack_dir("erp-rest", "v1"), root / "rest")
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["contracts", "check", *args])
    return result.exit_code, result.output


def test_unchanged_contracts_pass_from_urls(published: tuple[Path, str]) -> None:
    _, base = published
    code, out = _check("--pack", "erp-soap/v1", "--wsdl", f"{base}/soap/erp.wsdl")
    assert code == 0, out
    code, out = _check("--pack", "erp-rest/v1", "--openapi", f"{base}/rest/openapi.yaml")
    assert code == 0, out


def test_a_removed_operation_at_the_erp_is_breaking(published: tuple[Path, str]) -> None:
    root, base = published
    wsdl = root / "soap" / "erp.wsdl"
    text = wsdl.read_text()
    # The ERP stops offering tramitarProtocolo (portType and binding).
    text = re.sub(
        r'\s*<wsdl:operation name="tramitarProtocolo">.*?</wsdl:operation>', "", text, flags=re.S
    )
    wsdl.write_text(text)
    code, out = _check("--pack", "erp-soap/v1", "--wsdl", f"{base}/soap/erp.wsdl")
    assert code == 3, out
    assert "operation-removed" in out and "tramitarProtocolo" in out


def test_an_extra_erp_operation_and_a_new_optional_field_are_fine(tmp_path: Path) -> None:
    doc = yaml.safe_load((pack_dir("erp-rest", "v1") / "openapi.yaml").read_text())
    doc["paths"]["/api/v1/extras"] = {
        "get": {"operationId": "extras", "responses": {"200": {"description": "ok"}}}
    }
    doc["components"]["schemas"]["NovoProtocolo"]["properties"]["prioridade"] = {"type": "integer"}
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, out = _check("--pack", "erp-rest/v1", "--openapi", str(path), "--format", "json")
    assert code == 0, out
    assert '"operation-added"' in out and '"request-field-added-optional"' in out


def test_a_new_required_request_field_at_the_erp_is_breaking(tmp_path: Path) -> None:
    doc = yaml.safe_load((pack_dir("erp-rest", "v1") / "openapi.yaml").read_text())
    novo = doc["components"]["schemas"]["NovoProtocolo"]
    novo["properties"]["orgaoEmissor"] = {"type": "string"}
    novo["required"].append("orgaoEmissor")
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, out = _check("--pack", "erp-rest/v1", "--openapi", str(path))
    assert code == 3
    assert "POST /api/v1/protocolos/request/orgaoEmissor" in out


def test_unreachable_url_and_wrong_flavor_are_usage_errors(published: tuple[Path, str]) -> None:
    _, base = published
    code, out = _check("--pack", "erp-soap/v1", "--wsdl", f"{base}/nada.wsdl", "--timeout", "2")
    assert code == 2 and "HTTP 404" in out
    code, out = _check("--pack", "erp-soap/v1", "--openapi", f"{base}/rest/openapi.yaml")
    assert code == 2 and "--wsdl" in out
    code, out = _check("--pack", "erp-soap/v1")
    assert code == 2


def test_the_sandbox_erps_live_wsdl_fits_the_pack() -> None:
    # The sandbox publishes the WSDL at /soap?wsdl with an absolute schema URL on its own host.
    with Sandbox(dialect="soap", seed="empty") as sandbox:
        code, out = _check("--pack", "erp-soap/v1", "--wsdl", sandbox.wsdl_url, "--timeout", "5")
    assert code == 0, out
    assert "0 breaking" in out


def test_imports_from_another_host_are_refused(published: tuple[Path, str]) -> None:
    root, base = published
    wsdl = root / "soap" / "erp.wsdl"
    wsdl.write_text(
        wsdl.read_text().replace(
            'schemaLocation="xsd/erp.xsd"', 'schemaLocation="http://203.0.113.7/erp.xsd"'
        )
    )
    code, out = _check("--pack", "erp-soap/v1", "--wsdl", f"{base}/soap/erp.wsdl")
    assert code == 2
    assert "from another host" in out
