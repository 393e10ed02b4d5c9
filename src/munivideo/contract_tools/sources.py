"""Where contracts come from: a local file, a URL (fetched with a timeout), or a pack."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlparse, urlsplit

import requests

from munivideo.contract_tools.model import ContractModel, Flavor
from munivideo.contract_tools.openapi_model import from_openapi
from munivideo.contract_tools.safexml import local_name, parse_xml
from munivideo.contract_tools.xsd_model import from_wsdl, from_xsd
from munivideo.errors import ConfigurationError, MunivideoError
from munivideo.packs import pack_dir
from munivideo.transport.deadline import within
from munivideo.transport.http import Timeouts, build_session

DEFAULT_TIMEOUT = 15.0
"""Seconds one whole ``fetch`` may take, every file and redirect included (wall clock)."""
MAX_CONTRACT_BYTES = 8 * 1024 * 1024
"""Largest contract file we download."""
_MAX_REDIRECTS = 5
_MAX_FILES = 64
_XML_REFS = ("import", "include", "redefine")


def is_url(source: str) -> bool:
    """Whether ``source`` is an ``http``/``https`` URL (fetched by :func:`fetch`) rather than a
    local path."""
    return urlparse(source).scheme in ("http", "https")


def _get(url: str, session: requests.Session, origin: tuple[str, str]) -> bytes:
    """GET ``url``, following at most ``_MAX_REDIRECTS`` redirects, each on the contract's own
    host (the rule imports obey): a 302 elsewhere is refused, never fetched."""
    current = url
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            response = session.get(current, allow_redirects=False)
        except MunivideoError as exc:  # deadline passed or answer over the size cap
            raise ConfigurationError(f"cannot fetch {current}: {exc.message}") from None
        except requests.RequestException as exc:
            raise ConfigurationError(f"cannot fetch {current}: {type(exc).__name__}") from None
        if response.is_redirect:
            target = urljoin(current, response.headers.get("Location", ""))
            if urlsplit(target)[:2] != origin:
                raise ConfigurationError(
                    f"{current} redirects to {target} on another host; vendor it first",
                    field="redirect",
                )
            current = target
            continue
        if response.status_code != 200:
            raise ConfigurationError(f"cannot fetch {current}: HTTP {response.status_code}")
        return response.content
    raise ConfigurationError(f"{url}: more than {_MAX_REDIRECTS} redirects", field="redirect")


def fetch(url: str, folder: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Copy a published contract and every schema it imports into ``folder``; returns the main
    file's local path.

    Imports and redirects may be relative or absolute, but must stay on the contract's own host
    (a WSDL must not make us fetch from anywhere else). The whole fetch takes at most
    ``timeout`` seconds of wall-clock time, and each file at most ``MAX_CONTRACT_BYTES``.
    Each file is saved flat under a local name and its references are rewritten to those
    names, so the copy loads with no network access.
    """
    origin = urlsplit(url)[:2]
    with within(timeout, what=f"fetch {url}"):
        timeouts = Timeouts(
            connect_seconds=min(timeout, 5.0),
            read_seconds=timeout,
            total_seconds=timeout,
            max_response_bytes=MAX_CONTRACT_BYTES,
        )
        with build_session(timeouts, pool_size=2) as session:
            return _fetch_all(url, folder, session, origin)


def _fetch_all(url: str, folder: Path, session: requests.Session, origin: tuple[str, str]) -> Path:
    names: dict[str, str] = {}
    queue: list[str] = []

    def local(absolute: str) -> str:
        if absolute not in names:
            if urlsplit(absolute)[:2] != origin:
                raise ConfigurationError(
                    f"{url} imports {absolute} from another host; vendor it first",
                    field="schemaLocation",
                )
            if len(names) >= _MAX_FILES:
                raise ConfigurationError(f"{url}: more than {_MAX_FILES} imported files")
            base = PurePosixPath(urlsplit(absolute).path).name or "contract"
            if urlsplit(absolute).query.lower() in ("wsdl", "singlewsdl"):
                base += ".wsdl"
            names[absolute] = f"{len(names):02d}-{base}"
            queue.append(absolute)
        return names[absolute]

    main = folder / local(url)
    while queue:
        current = queue.pop()
        data = _get(current, session, origin)
        if data.lstrip().startswith(b"<"):
            root = parse_xml(data, source=current)
            for element in root.iter():
                if local_name(element.tag) not in _XML_REFS:
                    continue
                location = element.get("schemaLocation") or element.get("location")
                if location:
                    target = local(urljoin(current, location))
                    for quote in (b'"', b"'"):
                        data = data.replace(
                            quote + location.encode() + quote, quote + target.encode() + quote
                        )
        (folder / names[current]).write_bytes(data)
    return main


def sniff(path: Path) -> str:
    """What kind of contract ``path`` holds: ``wsdl``, ``xsd`` or ``openapi``. By suffix
    (``.wsdl``, ``.xsd``; ``.yaml``/``.yml``/``.json`` are OpenAPI or Swagger), else by the first
    4 KiB: XML with ``definitions`` is a WSDL, other XML a schema, anything else OpenAPI.

    :raises ConfigurationError: the file cannot be read (only when the suffix does not decide).
    """
    suffix = path.suffix.lower()
    if suffix in (".wsdl", ".xsd"):
        return suffix[1:]
    if suffix in (".yaml", ".yml", ".json"):
        return "openapi"
    try:
        head = path.read_bytes()[:4096]
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    if head.lstrip().startswith(b"<"):
        return "wsdl" if b"definitions" in head else "xsd"
    return "openapi"


def load_contract(path: Path) -> ContractModel:
    """A local contract file as a :class:`ContractModel`, by what :func:`sniff` says it is:
    WSDL 1.1 (:func:`~munivideo.contract_tools.xsd_model.from_wsdl`), a bare XSD
    (:func:`~munivideo.contract_tools.xsd_model.from_xsd`) or OpenAPI 3 / Swagger 2.0
    (:func:`~munivideo.contract_tools.openapi_model.from_openapi`). Never touches the network.

    :raises ConfigurationError: the file does not exist (``field="contract"``) or does not load.
    """
    if not path.is_file():
        raise ConfigurationError(f"contract {path} does not exist", field="contract")
    kind = sniff(path)
    if kind == "wsdl":
        return from_wsdl(path)
    if kind == "xsd":
        return from_xsd(path)
    return from_openapi(path)


def parse_pack_ref(ref: str) -> tuple[str, str]:
    """Split a pack reference ``NAME/VERSION`` (``erp-soap/v1``) into ``(name, version)``; the
    pack is not looked up.

    :raises ConfigurationError: (``field="pack"``) a part is missing.
    """
    name, _, version = ref.partition("/")
    if not name or not version:
        raise ConfigurationError(
            f"pack {ref!r}: expected NAME/VERSION, e.g. erp-soap/v1", field="pack"
        )
    return name, version


def folder_contract(folder: Path) -> Path | None:
    """The main contract file in a pack folder: its WSDL (``erp.wsdl``), else its
    ``openapi.yaml`` (``.yml``, ``.json``); ``None`` when it has neither."""
    for pattern in ("*.wsdl", "openapi.yaml", "openapi.yml", "openapi.json"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def pack_contract(ref: str) -> Path:
    """The main contract file of a pack (``erp.wsdl`` or ``openapi.yaml``)."""
    found = folder_contract(pack_dir(*parse_pack_ref(ref)))
    if found is not None:
        return found
    raise ConfigurationError(f"pack {ref} has no WSDL or OpenAPI document", field="pack")


def pack_flavor(ref: str) -> Flavor:
    """SOAP when the pack's main contract (:func:`pack_contract`) is a WSDL, REST otherwise.

    :raises ConfigurationError: no such pack, or it has no WSDL or OpenAPI document.
    """
    return Flavor.SOAP if pack_contract(ref).suffix == ".wsdl" else Flavor.REST
