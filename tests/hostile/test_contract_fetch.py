"""Kind 7 of issue 11: contract fetches follow redirects only on the contract's own host, and
YAML input is bounded. Real loopback servers: one redirecting, one the redirect points at."""

from __future__ import annotations

from pathlib import Path

import pytest

from munivideo.contract_tools.safeyaml import MAX_YAML_ALIASES, load_yaml
from munivideo.contract_tools.sources import fetch
from munivideo.errors import ConfigurationError

from .peers import Request, serve

WSDL = b"""<?xml version="1.0"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="x"/>"""


def test_a_redirect_to_another_host_is_refused_and_never_fetched(tmp_path: Path) -> None:
    with serve(lambda r: (200, {"Content-Type": "text/xml"}, WSDL)) as elsewhere:

        def redirect(request: Request) -> tuple[int, dict[str, str], bytes]:
            return 302, {"Location": elsewhere.url + "/evil.wsdl"}, b""

        with serve(redirect) as origin:
            with pytest.raises(ConfigurationError, match="another host"):
                fetch(origin.url + "/erp.wsdl", tmp_path)
            assert origin.count("GET", "/erp.wsdl") == 1
        assert elsewhere.seen == []  # the other host was never asked


def test_a_redirect_on_the_same_host_is_followed(tmp_path: Path) -> None:
    def route(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path == "/old.wsdl":
            return 301, {"Location": "/new.wsdl"}, b""
        return 200, {"Content-Type": "text/xml"}, WSDL

    with serve(route) as origin:
        main = fetch(origin.url + "/old.wsdl", tmp_path)
        assert main.read_bytes() == WSDL
        assert origin.count("GET", "/new.wsdl") == 1


def test_a_redirect_loop_stops(tmp_path: Path) -> None:
    with serve(lambda r: (302, {"Location": "/again"}, b"")) as origin:
        with pytest.raises(ConfigurationError, match="redirects"):
            fetch(origin.url + "/erp.wsdl", tmp_path)
        assert len(origin.seen) <= 6


def test_yaml_with_too_many_aliases_is_refused(tmp_path: Path) -> None:
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        ref = "*a" if i == 1 else f"*l{i - 1}"
        laughs.append(f"l{i}: &l{i} [" + ", ".join([ref] * 10) + "]")
    path = tmp_path / "openapi.yaml"
    path.write_text("\n".join(laughs), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="aliases"):  # 10**12 nodes once expanded
        load_yaml(path)
    many = tmp_path / "many.yaml"
    many.write_text("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]\n")
    with pytest.raises(ConfigurationError, match="aliases"):
        load_yaml(many)


def test_yaml_that_is_too_deep_or_too_big_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 500 + "]" * 500, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="deeper"):
        load_yaml(deep)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * (9 * 1024 * 1024))
    with pytest.raises(ConfigurationError, match="limit"):
        load_yaml(big)
