"""pytest options for CI: run against a live ERP, record every HTTP interaction, and validate
the recordings against the contract pack at the end of the session.

Options (group ``munivideo``):

* ``--munivideo-live-erp=CONFIG.toml``: the ERP to test against. The file holds ``[erp]``
  (``adapter`` + ``[erp.settings]``, secrets as ``{ env = "NAME" }``), optionally ``[tenant]``
  and ``pack = "erp-rest/v1"``. Tests read it through the ``munivideo_live_config`` fixture
  (``None`` when the option is not given) and build the adapter with :func:`build_live_adapter`.
* ``--munivideo-record-dir=DIR``: record every request/response made through ``requests`` (zeep
  uses it too) into DIR: SOAP as ``NNNN-op.request.xml`` / ``.response.xml``, REST as one JSON
  interaction per call (the golden-example format). Credentials are blanked before writing;
  personal data is kept (the contract checks it), so treat DIR as personal data (LGPD).
* ``--munivideo-validate-recordings``: at session end, validate every recording in DIR against
  the pack (``--munivideo-pack``, else the live config's ``pack``, else by file type) and fail
  the run on any violation; a ``violations.json`` report is written next to the recordings.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest

if TYPE_CHECKING:
    import requests

    from munivideo.models import Tenant
    from munivideo.ports import ErpAdapter

__all__ = [
    "LiveErpSuite",
    "build_live_adapter",
    "munivideo_live_config",
    "pytest_addoption",
    "pytest_configure",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_unconfigure",
]

_RECORDER_KEY = pytest.StashKey["Recorder"]()
_RESULTS_KEY = pytest.StashKey[list[dict[str, Any]]]()
_SECRET_XML = re.compile(rb"(<(?:[\w-]+:)?Password\b[^>]*>)[^<]*(</)")
_SECRET_FORM = ("client_secret", "password", "refresh_token")
_DROP_HEADERS = ("authorization", "cookie", "set-cookie", "proxy-authorization")
_SOAP_OP = re.compile(rb"<(?:[\w-]+:)?Body\b[^>]*>\s*<(?:[\w-]+:)?([A-Za-z_][\w.-]*)")
DEFAULT_PACKS = {".xml": "erp-soap/v1", ".json": "erp-rest/v1"}


def pytest_addoption(parser: pytest.Parser) -> None:
    """pytest hook: add the ``munivideo`` option group (``--munivideo-live-erp``,
    ``--munivideo-record-dir``, ``--munivideo-validate-recordings``, ``--munivideo-pack``; see the
    module's description).

    :param parser: pytest's command-line parser.
    """
    group = parser.getgroup("munivideo", "munivideo contract testing")
    group.addoption(
        "--munivideo-live-erp",
        metavar="CONFIG.toml",
        default=None,
        help="run the ERP tests against a live ERP described by this file",
    )
    group.addoption(
        "--munivideo-record-dir",
        metavar="DIR",
        default=None,
        help="record every HTTP interaction (requests/zeep) into DIR",
    )
    group.addoption(
        "--munivideo-validate-recordings",
        action="store_true",
        default=False,
        help="validate the recordings against the contract pack; fail on violations",
    )
    group.addoption(
        "--munivideo-pack",
        metavar="NAME/VERSION",
        default=None,
        help="contract pack for --munivideo-validate-recordings (default: by file type)",
    )


# -- live ERP configuration ------------------------------------------------------------------


def load_live_config(path: Path) -> Any:
    """Read and validate a live-ERP file; returns a :class:`LiveErpConfig`."""
    from munivideo.config import read_toml, validate_file_data

    raw = read_toml(path, what="live ERP file")
    return validate_file_data(_live_model(), raw, source=str(path), env=_environ())


def _environ() -> Mapping[str, str]:
    import os

    return os.environ


def _live_model() -> Any:
    from pydantic import BaseModel, ConfigDict, Field

    from munivideo.config import ErpConfig
    from munivideo.models import Tenant

    class LiveErpConfig(BaseModel):
        """What CI needs to reach a live ERP."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        tenant: Tenant = Tenant(id="ci", name="Contract CI")
        erp: ErpConfig
        pack: str | None = Field(default=None, pattern=r"^[a-z0-9-]+/v\d+$")

    return LiveErpConfig


@pytest.fixture(scope="session")
def munivideo_live_config(pytestconfig: pytest.Config) -> Any:
    """The ``--munivideo-live-erp`` configuration (``LiveErpConfig``), or None when absent."""
    option = pytestconfig.getoption("munivideo_live_erp")
    if not option:
        return None
    from munivideo.errors import ConfigurationError

    try:
        return load_live_config(Path(option))
    except ConfigurationError as exc:
        raise pytest.UsageError(f"--munivideo-live-erp: {exc}") from None


def build_live_adapter(config: Any, *, tenant: Tenant | None = None) -> ErpAdapter:
    """The ERP adapter the live configuration names, built through the installed plugins."""
    from munivideo.erp_sources import build_erp
    from munivideo.plugins import load_plugins

    return build_erp(load_plugins(), tenant or config.tenant, config.erp)


class LiveErpSuite:
    """Read-only checks of a live ERP, for CI: subclass it (name starting with ``Test``) and run
    pytest with ``--munivideo-live-erp=CONFIG.toml``. Nothing is written to the ERP, so it is
    safe against a homologation or even a production ERP. Without the option the tests skip.

    The full :class:`munivideo.testing.acceptance.ErpAdapterAcceptanceSuite` creates protocols and
    injects faults, so it runs against the sandbox ERP, not a live one.
    """

    #: Pages read by the paging test (``page_size`` each).
    pages: int = 3
    page_size: int = 20

    @pytest.fixture
    def live_adapter(self, munivideo_live_config: Any) -> Any:
        """The adapter the live configuration names, closed after the test; skips the test when
        ``--munivideo-live-erp`` was not given.
        """
        if munivideo_live_config is None:
            pytest.skip("no live ERP: run with --munivideo-live-erp=CONFIG.toml")
        adapter = build_live_adapter(munivideo_live_config)
        yield adapter
        adapter.close()

    def test_adapter_implements_the_port(self, live_adapter: Any) -> None:
        """The configured adapter satisfies :class:`munivideo.ports.ErpAdapter`. A failure means the
        plugin named in ``[erp] adapter`` is not an ERP adapter (or an older version of one).
        """
        from munivideo.ports import ErpAdapter

        assert isinstance(live_adapter, ErpAdapter)

    def test_pages_advance_without_duplicates(self, live_adapter: Any) -> None:
        """Up to :attr:`pages` pages of :attr:`page_size` bookings: no record rejected by the
        mapping, each ``next_cursor`` new, no booking twice. A failure names rejected records (the
        mapping does not fit this ERP's data) or shows a cursor that does not move (the sync would
        stall).
        """
        seen: list[str] = []
        cursor = None
        for _ in range(self.pages):
            page = live_adapter.list_bookings(cursor, self.page_size)
            seen += [b.id for b in page.bookings]
            assert not page.rejected, [r.reason for r in page.rejected]
            if not page.has_more:
                break
            assert page.next_cursor is not None and page.next_cursor != cursor
            cursor = page.next_cursor
        assert len(seen) == len(set(seen))

    def test_bookings_read_back_the_same(self, live_adapter: Any) -> None:
        """Up to three bookings of the first page, read again one by one with ``get_booking``, have
        the same id, start and end (UTC). A failure means the list and the single-record operations
        are mapped differently (often a time zone or a date format).
        """
        page = live_adapter.list_bookings(None, 5)
        for booking in page.bookings[:3]:
            again = live_adapter.get_booking(booking.id)
            assert (again.id, again.start, again.end) == (booking.id, booking.start, booking.end)

    def test_unknown_booking_is_not_found(self, live_adapter: Any) -> None:
        """``get_booking("munivideo-ci-no-such-booking")`` raises
        :class:`munivideo.errors.NotFoundError`. A failure means this ERP's "no such record" answer
        (status, fault code) is not mapped as such: see ``not_found`` and ``[errors]`` in the
        mapping file.
        """
        from munivideo.errors import NotFoundError

        with pytest.raises(NotFoundError):
            live_adapter.get_booking("munivideo-ci-no-such-booking")

    def test_unknown_reference_has_no_protocol(self, live_adapter: Any) -> None:
        """``find_protocol`` of a reference nobody used returns None. A failure (a receipt, or an
        error) means the lookup the exactly-once write-back relies on cannot tell "absent" apart.
        """
        assert live_adapter.find_protocol("munivideo:ci:no-such-reference") is None


# -- recording -------------------------------------------------------------------------------


def _headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in headers.items() if str(k).lower() not in _DROP_HEADERS}


def _is_xml(content_type: str, body: bytes) -> bool:
    return "xml" in content_type.lower() or body.lstrip().startswith(b"<")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (UnicodeDecodeError, ValueError):
        return body.decode("utf-8", "replace")


class Recorder:
    """Wraps ``requests.Session.send`` for the whole session and writes each interaction.

    Thread-safe: interactions are numbered under a lock, so parallel calls get distinct files.
    ``files`` lists what was written, ``errors`` the interactions that could not be.

    :param folder: where the recordings go; created by :meth:`install`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = itertools.count(1)
        self.lock = threading.Lock()
        self.files: list[Path] = []
        self.errors: list[str] = []
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        """Create :attr:`folder` and replace ``requests.Session.send`` process-wide so every
        response, once received, is recorded. A write error (disk full, permissions) does not fail
        the call: it is kept in :attr:`errors` and reported as a violation at validation time.
        """
        import requests

        self.folder.mkdir(parents=True, exist_ok=True)
        original = requests.Session.send
        recorder = self

        def send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
            response = original(session, request, **kwargs)
            try:
                recorder.record(request, response)
            except OSError as exc:
                # Not the test's fault: reported (and failed) when the recordings are checked.
                recorder.errors.append(f"{request.method} {request.url}: {exc}")
            return response

        self._original = original
        requests.Session.send = send  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        """Put the original ``requests.Session.send`` back; harmless when not installed."""
        if self._original is not None:
            import requests

            requests.Session.send = self._original  # type: ignore[method-assign]
            self._original = None

    def record(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        """Write one interaction, numbered in call order (``NNNN-``). An XML exchange (SOAP) becomes
        ``NNNN-<operation>.request.xml`` and ``.response.xml`` with WS-Security ``Password``
        elements blanked; anything else one ``NNNN-<method>-<path>.json`` holding ``request``
        (method, path with query, headers, ``form`` or ``body``) and ``response`` (status, headers,
        body). ``Authorization`` becomes ``Bearer ***``, cookies are dropped, form fields
        ``client_secret``, ``password`` and ``refresh_token`` become ``***``; personal data is kept.

        :param request: the request as sent.
        :param response: the response as received; its body is read here.
        :raises OSError: when a file cannot be written.
        """
        body = request.body or b""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        content_type = str(request.headers.get("Content-Type", ""))
        with self.lock:
            number = next(self.count)
        if _is_xml(content_type, data) or _is_xml(response.headers.get("Content-Type", ""), b""):
            match = _SOAP_OP.search(data)
            op = match.group(1).decode() if match else "soap"
            stem = f"{number:04d}-{op}"
            self._write(f"{stem}.request.xml", _SECRET_XML.sub(rb"\1***\2", data))
            self._write(f"{stem}.response.xml", response.content)
            return
        url = urlsplit(str(request.url))
        req: dict[str, Any] = {
            "method": request.method,
            "path": url.path + (f"?{url.query}" if url.query else ""),
            "headers": _headers(request.headers),
        }
        if "x-www-form-urlencoded" in content_type:
            form = dict(parse_qsl(data.decode("utf-8", "replace")))
            req["form"] = {k: ("***" if k in _SECRET_FORM else v) for k, v in form.items()}
        elif data:
            req["body"] = _json_or_none(data)
        if "authorization" in (k.lower() for k in request.headers):
            # Which scheme was used matters to the contract; the credential does not.
            req["headers"]["Authorization"] = "Bearer ***"
        interaction = {
            "request": req,
            "response": {
                "status": response.status_code,
                "headers": _headers(response.headers),
                "body": _json_or_none(response.content),
            },
        }
        name = re.sub(r"[^A-Za-z0-9]+", "-", f"{request.method} {url.path}").strip("-")
        text = json.dumps(interaction, indent=2, ensure_ascii=False)
        self._write(f"{number:04d}-{name[:80]}.json", text.encode("utf-8"))

    def _write(self, name: str, data: bytes) -> None:
        path = self.folder / name
        path.write_bytes(data)
        self.files.append(path)


# -- validation at session end ---------------------------------------------------------------


def validate_recordings(folder: Path, pack: str | None = None) -> list[dict[str, Any]]:
    """Validate every recording in ``folder``; one report dict per file."""
    from munivideo.contract_tools.validate import PackValidator
    from munivideo.errors import MunivideoError

    validators: dict[str, PackValidator] = {}
    results: list[dict[str, Any]] = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in DEFAULT_PACKS or path.name == "violations.json":
            continue
        ref = pack or DEFAULT_PACKS[path.suffix]
        validator = validators.get(ref) or validators.setdefault(ref, PackValidator(ref))
        try:
            report = validator.validate_file(path).to_dict()
        except MunivideoError as exc:  # e.g. a path the pack does not know
            report = {
                "source": str(path),
                "operation": None,
                "kind": None,
                "ok": False,
                "violations": [{"path": "/", "rule": "operation", "message": exc.message}],
            }
        results.append(report)
    return results


def pytest_configure(config: pytest.Config) -> None:
    """pytest hook: with ``--munivideo-record-dir``, install a :class:`Recorder` for the session.

    :raises pytest.UsageError: ``--munivideo-validate-recordings`` without
        ``--munivideo-record-dir``.
    """
    folder = config.getoption("munivideo_record_dir", None)
    if config.getoption("munivideo_validate_recordings", False) and not folder:
        raise pytest.UsageError("--munivideo-validate-recordings needs --munivideo-record-dir")
    if folder:
        recorder = Recorder(Path(folder))
        recorder.install()
        config.stash[_RECORDER_KEY] = recorder


def pytest_unconfigure(config: pytest.Config) -> None:
    """pytest hook: uninstall the session's :class:`Recorder`, if any."""
    recorder = config.stash.get(_RECORDER_KEY, None)
    if recorder is not None:
        recorder.uninstall()


def _pack_option(config: pytest.Config) -> str | None:
    pack = config.getoption("munivideo_pack", None)
    live = config.getoption("munivideo_live_erp", None)
    if pack is None and live:
        pack = load_live_config(Path(live)).pack
    return str(pack) if pack else None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """pytest hook: with ``--munivideo-validate-recordings``, stop recording, validate every
    recording against the contract pack (:func:`validate_recordings`), write the failed reports to
    ``violations.json`` in the record folder and set the exit status to "tests failed" if any
    recording (or a recording write error) violates the contract.

    :param exitstatus: the status so far (unused; overridden only on violations).
    """
    config = session.config
    recorder = config.stash.get(_RECORDER_KEY, None)
    if recorder is None or not config.getoption("munivideo_validate_recordings", False):
        return
    recorder.uninstall()  # validation itself must not be recorded
    results = validate_recordings(recorder.folder, _pack_option(config))
    results += [
        {
            "source": str(recorder.folder),
            "operation": None,
            "kind": None,
            "ok": False,
            "violations": [{"path": "/", "rule": "recording", "message": error}],
        }
        for error in recorder.errors
    ]
    config.stash[_RESULTS_KEY] = results
    (recorder.folder / "violations.json").write_text(
        json.dumps([r for r in results if not r["ok"]], indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    if any(not r["ok"] for r in results):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """pytest hook: a "munivideo contract recordings" section with the number of recordings
    validated and one red line per violation (``<file>: <JSON path>: <message> (rule: <rule>)``).
    """
    results = config.stash.get(_RESULTS_KEY, None)
    if results is None:
        return
    bad = [r for r in results if not r["ok"]]
    terminalreporter.section("munivideo contract recordings")
    terminalreporter.write_line(
        f"{len(results)} recordings validated, {len(bad)} with contract violations"
    )
    for report in bad:
        for violation in report["violations"]:
            terminalreporter.write_line(
                f"{report['source']}: {violation['path']}: {violation['message']} "
                f"(rule: {violation['rule']})",
                red=True,
            )
