"""The ERP adapter acceptance suite: any ERP adapter gets the whole standard suite in one line.

::

    from munivideo.testing.acceptance import ErpAdapterAcceptanceSuite

    class TestMyAdapter(ErpAdapterAcceptanceSuite):
        adapter_factory = staticmethod(my_plugin.create_adapter)
        settings = staticmethod(lambda sandbox: {"base_url": sandbox.base_url, ...})

``settings`` is a mapping, or a callable that receives the running sandbox ERP (the addresses
change per run). The suite runs against the sandbox ERP on loopback (``munivideo_sandbox`` and
``munivideo_sandbox_factory`` fixtures of the ``munivideo`` pytest plugin) and covers paging and
cursors, round-trip mapping, create/lookup/attach/forward, exactly-once creation under "commit
then drop the connection", error mapping, retries only on transient faults, and invalid records
rejected with their id and field. pytest is imported only when this module is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from munivideo.errors import (
    AmbiguousError,
    MunivideoError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from munivideo.models import (
    AccessLevel,
    Applicant,
    BookingStatus,
    Cursor,
    ForwardedDemand,
    Outcome,
    ProtocolEntry,
    Tenant,
    VerifiedDocument,
)
from munivideo.ports import ErpAdapter, ErpAdapterFactory, ErpCapabilities
from munivideo.store.records import OutboxItem
from munivideo.store.states import OutboxState
from munivideo.transport import create_exactly_once, idempotency_key
from munivideo.values import SAO_PAULO

if TYPE_CHECKING:
    from munivideo.sandbox.server import Sandbox

SettingsSource = Mapping[str, Any] | Callable[["Sandbox"], Mapping[str, Any]]

_STATUS = {
    "AG": BookingStatus.REQUESTED,
    "CF": BookingStatus.CONFIRMED,
    "RM": BookingStatus.RESCHEDULED,
    "CA": BookingStatus.CANCELLED,
    "AT": BookingStatus.ATTENDED,
    "FA": BookingStatus.NO_SHOW,
    "FS": BookingStatus.SERVANT_NO_SHOW,
    "FT": BookingStatus.FAILED,
}


class _CapabilitiesView:
    """The same adapter, announcing other capabilities (to drive the lookup strategy)."""

    def __init__(self, inner: ErpAdapter, capabilities: ErpCapabilities) -> None:
        self._inner = inner
        self.name = inner.name
        self.capabilities = capabilities

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


_OPERATIONS = {
    "create": "criarProtocolo",
    "attach": "anexarDocumento",
    "forward": "tramitarProtocolo",
    "status": "atualizarSituacao",
}


def _effects(sandbox: Sandbox, entry: ProtocolEntry) -> dict[str, int]:
    """What the ERP executed for ``entry``, per step: its effect counters when it has them,
    else its append-only lists read back (a duplicate shows there too)."""
    counters = getattr(sandbox, "effects", None)
    if callable(counters):
        every: dict[str, dict[str, int]] = counters()
        mine = every.get(entry.external_reference, {})
        status = every.get(entry.booking_id, {})
        # per step, the most any one effect ran (a status that moved twice to different
        # values is two transitions, not a duplicate)
        return {
            "create": mine.get("create", 0),
            "attach": max((v for k, v in mine.items() if k.startswith("attach:")), default=0),
            "forward": max((v for k, v in mine.items() if k.startswith("forward:")), default=0),
            "status": max((v for k, v in status.items() if k.startswith("status:")), default=0),
        }
    found = [p for p in sandbox.protocols() if p["referenciaExterna"] == entry.external_reference]
    return {
        "create": len(found),
        "attach": sum(len(p["anexos"]) for p in found),
        "forward": sum(len(p["tramitacoes"]) for p in found),
        "status": int(sandbox.booking(entry.booking_id)["situacao"] == "AT"),
    }


def _write_back_once(
    tenant: Tenant,
    erp: ErpAdapter,
    sandbox: Sandbox,
    entry: ProtocolEntry,
    faults: str,
    store_path: Any,
) -> tuple[OutboxItem, dict[str, int]]:
    """Record ``entry`` (one document, one forward) and run the write-back engine over
    ``erp`` with ``faults`` injected; returns the row and the ERP's effects."""
    from munivideo.config import parse_config
    from munivideo.engine import Engine, writeback
    from munivideo.models import Attendance
    from munivideo.plugins import load_plugins
    from munivideo.store.records import Binding
    from munivideo.store.sqlite import SqliteStore
    from munivideo.values import utcnow

    entry = entry.model_copy(
        update={
            "documents": (VerifiedDocument(name="rg.pdf", kind="RG", sha256="ef" * 32),),
            "forwards": (ForwardedDemand(department_code="SMF-CAD", description="Conferir."),),
        }
    )
    config = parse_config(
        {
            "tenant": tenant.model_dump(mode="json"),
            "erp": {"adapter": erp.name},
            "video": {"provider": "none"},
            "notifiers": [],
            # the sandbox commits before it answers: a short settle window is enough
            "writeback": {
                "max_attempts": 10,
                "backoff_base_seconds": 0.01,
                "backoff_max_seconds": 0.05,
                "settle_seconds": 0.2,
            },
        }
    )
    store = SqliteStore(store_path, synchronous="NORMAL")
    engine = Engine(
        config=config,
        store=store,
        erp=erp,
        video=None,  # type: ignore[arg-type]  # write-back never meets the video provider
        notifiers=[],
        plugins=load_plugins(),
    )
    try:
        now = utcnow()
        booking = erp.get_booking(entry.booking_id)
        store.save_binding(
            Binding(
                tenant_id=tenant.id,
                booking_id=booking.id,
                booking=booking,
                fingerprint="acceptance",
                created_at=now,
                updated_at=now,
            )
        )
        attendance = Attendance(
            booking_id=entry.booking_id, tenant_id=tenant.id, outcome=entry.outcome
        )
        item, _ = store.enqueue(tenant.id, attendance, entry, max_attempts=10, now=now)
        sandbox.inject(faults)
        writeback(engine, wait_seconds=5)
        sandbox.inject("")
        return store.get_item(item.id), _effects(sandbox, entry)
    finally:
        store.close()


def _booking_doc(booking_id: str, cpf: str, stamp: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": booking_id,
        "codigoServico": "IPTU",
        "cidadao": {"nome": "Conceição Acceptance", "cpfCnpj": cpf},
        "data": "2031-03-04",
        "horaInicio": "10:00",
        "horaFim": "10:30",
        "situacao": "CF",
        "dataAtualizacao": stamp,
        "sequencia": 0,
        "versao": 1,
    }
    doc.update(over)
    return doc


class ErpAdapterAcceptanceSuite:
    """Subclass it (name starting with ``Test``) and set the two attributes below.

    Each ``test_*`` method is one scenario against the loopback ERP; its description says what
    a pass proves and what a failure means for the adapter. The write-back scenarios expect the
    sandbox's ``tax-office`` seed (bookings ``AG-000001`` ...) and its wire format.
    """

    #: Your plugin's factory ``(tenant, settings) -> ErpAdapter``, wrapped in ``staticmethod``.
    adapter_factory: ClassVar[ErpAdapterFactory]
    #: The adapter's ``[erp.settings]`` table, or a callable that receives the running sandbox
    #: (its addresses change per run) and returns it.
    settings: ClassVar[SettingsSource]
    #: The tenant the adapter is built for; its time zone places the ERP's local times.
    tenant: ClassVar[Tenant] = Tenant(id="acceptance", name="Prefeitura de Aceitação")
    #: The reference packs' version the sandbox serves (``v1``, ``v2``); a ``v2`` suite runs
    #: on ``munivideo_sandbox_v2``. Put the same ``pack_version`` in :attr:`settings` when the
    #: adapter has that setting (the reference REST and SOAP adapters do).
    pack_version: ClassVar[str] = "v1"
    #: The ERP field that carries the citizen's CPF/CNPJ (named in rejections).
    document_field: ClassVar[str] = "cpfCnpj"
    #: Merged into the settings so retries do not wait for real; set ``{}`` if your adapter's
    #: settings have no ``retry`` table.
    fast_retry_settings: ClassVar[Mapping[str, Any]] = {
        "retry": {
            "max_attempts": 3,
            "initial_backoff_seconds": 0.01,
            "max_backoff_seconds": 0.02,
            "max_retry_after_seconds": 0.02,
        }
    }

    # -- fixtures ---------------------------------------------------------------------------

    def build(self, sandbox: Sandbox, **overrides: Any) -> ErpAdapter:
        """A new adapter for ``sandbox``, built as the engine builds one: :attr:`settings` (called
        with the sandbox when it is a callable), then :attr:`fast_retry_settings`, then
        ``overrides``, merged in that order and handed with :attr:`tenant` to
        :attr:`adapter_factory`. The caller closes it.

        :param sandbox: the running ERP whose addresses (ephemeral loopback port) the settings need.
        :param overrides: top-level settings keys that win over the merged ones (e.g.
            ``capabilities``).
        :returns: the adapter, not yet connected (the first call connects).
        :raises ConfigurationError: when the factory refuses the merged settings (the adapter's own
            settings model names the key).
        """
        source = type(self).settings
        base = dict(source(sandbox) if callable(source) else source)
        base.update(self.fast_retry_settings)
        base.update(overrides)
        factory = type(self).adapter_factory
        return factory(self.tenant, base)

    @pytest.fixture
    def sandbox(self, request: pytest.FixtureRequest) -> Sandbox:
        """The ERP under test: ``munivideo_sandbox``, or ``munivideo_sandbox_v2`` when
        :attr:`pack_version` is ``v2``. Override it to run the suite against another loopback
        ERP that keeps the sandbox's inspection methods (``bookings()``, ``protocols()``,
        ``inject()``...) over its own wire format, as ``tests/erps`` does."""
        name = "munivideo_sandbox" if self.pack_version == "v1" else "munivideo_sandbox_v2"
        sandbox: Sandbox = request.getfixturevalue(name)
        return sandbox

    @pytest.fixture
    def peer_factory(
        self, munivideo_sandbox_factory: Callable[..., Sandbox]
    ) -> Callable[..., Sandbox]:
        """Starts a dedicated ERP of the same kind (``seed=...``, on :attr:`pack_version`);
        override with ``sandbox``."""
        return functools.partial(munivideo_sandbox_factory, pack_version=self.pack_version)

    @pytest.fixture
    def adapter(self, sandbox: Sandbox) -> Iterator[ErpAdapter]:
        """The adapter under test (:meth:`build` over ``sandbox``), closed after the test."""
        adapter = self.build(sandbox)
        yield adapter
        adapter.close()

    def entry(self, booking_id: str = "AG-000001", cpf: str = "05278934123") -> ProtocolEntry:
        """The canonical protocol entry the write-back scenarios create: subject ``IPTU-REV``,
        department ``SMF-FISC``, servant ``AF-0001``, applicant ``João da Conceição Araújo``,
        internal access, outcome ``attended``, opened 2031-03-05 17:35 UTC (the ERP must store
        14:35, São Paulo time); no documents and no forwards.

        :param booking_id: a booking of the sandbox's ``tax-office`` seed (``AG-000001`` ...).
        :param cpf: the applicant's CPF, 11 digits with valid check digits.
        :returns: the entry; its ``external_reference`` is ``munivideo:<tenant id>:<booking_id>``.
        """
        return ProtocolEntry(
            external_reference=f"munivideo:{self.tenant.id}:{booking_id}",
            tenant_id=self.tenant.id,
            booking_id=booking_id,
            subject_code="IPTU-REV",
            applicant=Applicant(name="João da Conceição Araújo", cpf=cpf),
            department_code="SMF-FISC",
            servant_registration="AF-0001",
            opened_at=datetime(2031, 3, 5, 17, 35, tzinfo=UTC),
            summary="Atendimento por vídeo: revisão do valor venal.",
            access_level=AccessLevel.INTERNAL,
            outcome=Outcome.ATTENDED,
        )

    def key(self, booking_id: str, operation: str = "criarProtocolo") -> str:
        """The idempotency key the engine sends for ``operation`` on ``booking_id``
        (:func:`munivideo.transport.idempotency_key`): the same on every call, so a re-send is
        recognisably the same request.

        :param booking_id: the record the write concerns.
        :param operation: the step, e.g. ``criarProtocolo``, ``anexar:rg`` or ``tramitar:1``.
        :returns: ``<tenant id>:<booking_id>:<operation>`` (hashed past the key length limit).
        """
        return idempotency_key(self.tenant.id, booking_id, operation)

    # -- shape ------------------------------------------------------------------------------

    def test_implements_the_port(self, adapter: ErpAdapter) -> None:
        """The adapter structurally satisfies :class:`munivideo.ports.ErpAdapter`, declares its
        :class:`~munivideo.ports.ErpCapabilities` and has a non-empty ``name``. A failure means a
            method or attribute of the port is missing or misnamed: the engine would fail on it.
        """
        assert isinstance(adapter, ErpAdapter)
        assert isinstance(adapter.capabilities, ErpCapabilities)
        assert adapter.name

    # -- paging and cursor ------------------------------------------------------------------

    def test_pages_have_no_skips_or_duplicates_with_equal_timestamps(
        self, sandbox: Sandbox, adapter: ErpAdapter
    ) -> None:
        """Reading every page of 4 bookings, where three bookings share one ``dataAtualizacao``,
        returns each booking exactly once and no rejections. A failure means the cursor orders or
        filters by the change time alone (it must be the pair (updated_at, id)): bookings sharing a
        timestamp across a page boundary are skipped or read twice.
        """
        stamp = "2031-01-01T12:00:00-03:00"
        for n, cpf in enumerate(("52998224725", "11144477735", "01234567890")):
            sandbox.add_booking(_booking_doc(f"AG-EQ{n}", cpf, stamp))
        expected = [b["id"] for b in sandbox.bookings()]
        seen: list[str] = []
        cursor: Cursor | None = None
        for _ in range(100):
            page = adapter.list_bookings(cursor, 4)
            assert not page.rejected
            seen += [b.id for b in page.bookings]
            assert len(page.bookings) <= 4
            cursor = page.next_cursor
            if not page.has_more:
                break
        assert sorted(seen) == sorted(expected)
        assert len(seen) == len(set(seen))
        keys = [(b["dataAtualizacao"], b["id"]) for b in sandbox.bookings()]
        assert len(keys) == len(set(keys))

    def test_cursor_resumes_with_only_what_changed(
        self, sandbox: Sandbox, adapter: ErpAdapter
    ) -> None:
        """After the last page, the cursor yields an empty page; after the ERP reschedules
        ``AG-000003``, it yields exactly that booking, now ``rescheduled``. A failure means an
        incremental sync would re-read everything (cursor ignored) or miss changes (cursor past
        them).
        """
        cursor: Cursor | None = None
        while True:
            page = adapter.list_bookings(cursor, 500)
            cursor = page.next_cursor
            if not page.has_more:
                break
        assert cursor is not None
        quiet = adapter.list_bookings(cursor, 500)
        assert quiet.bookings == () and not quiet.has_more
        sandbox.reschedule_booking("AG-000003", "2031-05-06", "09:00", "09:30")
        changed = adapter.list_bookings(quiet.next_cursor or cursor, 500)
        assert [b.id for b in changed.bookings] == ["AG-000003"]
        assert changed.bookings[0].status is BookingStatus.RESCHEDULED

    # -- mapping ----------------------------------------------------------------------------

    def test_booking_round_trip_matches_the_erp(
        self, sandbox: Sandbox, adapter: ErpAdapter
    ) -> None:
        """The first 8 seeded bookings map field by field: tenant, citizen name and CPF/CNPJ, status
        code (``AG``/``CF``/``RM``/``CA``/``AT``/``FA``/``FS``/``FT``), date and local start/end
        time (São Paulo) with ``start`` in UTC, sequence, and the servant when the ERP names one. A
        failure names the field the mapping gets wrong (a time zone, a status code, a missing
        servant).
        """
        for doc in sandbox.bookings()[:8]:
            booking = adapter.get_booking(doc["id"])
            assert booking.tenant_id == self.tenant.id
            assert booking.citizen.document == doc["cidadao"]["cpfCnpj"]
            assert booking.citizen.name == doc["cidadao"]["nome"]
            assert booking.status is _STATUS[doc["situacao"]]
            start = booking.start.astimezone(SAO_PAULO)
            assert start.date().isoformat() == doc["data"]
            assert start.strftime("%H:%M") == doc["horaInicio"]
            assert booking.end.astimezone(SAO_PAULO).strftime("%H:%M") == doc["horaFim"]
            assert booking.start.utcoffset() == timedelta(0)
            assert booking.sequence == doc["sequencia"]
            if "servidor" in doc:
                assert booking.servant is not None
                assert booking.servant.registration == doc["servidor"]["matricula"]
            else:
                assert booking.servant is None

    def test_leading_zero_documents_survive(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """A CPF starting with ``0`` (``01234567890``) reads back as the same 11-character string. A
        failure means the adapter or its mapping treats the document as a number somewhere.
        """
        sandbox.add_booking(_booking_doc("AG-ZERO", "01234567890", "2031-01-02T08:00:00-03:00"))
        assert adapter.get_booking("AG-ZERO").citizen.document == "01234567890"

    def test_unknown_booking_is_not_found(self, adapter: ErpAdapter) -> None:
        """``get_booking`` of an id the ERP does not have raises
        :class:`munivideo.errors.NotFoundError` carrying that id as ``record_id``. A failure means
        "unknown" surfaces as another error (a contract violation, a retry) and the engine cannot
        tell a deleted booking from an outage.
        """
        with pytest.raises(NotFoundError) as info:
            adapter.get_booking("AG-999999")
        assert info.value.record_id == "AG-999999"

    def test_invalid_records_are_rejected_with_id_and_field(
        self, sandbox: Sandbox, adapter: ErpAdapter
    ) -> None:
        """A booking whose CPF is well-formed but has wrong check digits is left out of the page and
        listed once in ``page.rejected`` with its id, a field naming :attr:`document_field`, and
        neither reason nor raw record quoting the CPF. A failure means one bad record would stop the
        sync (raised instead of rejected), vanish silently, or leak personal data into the
        quarantine.
        """
        # Contract-valid (11 digits) but the check digits are wrong: a mapping rejection.
        sandbox.add_booking(_booking_doc("AG-BAD", "12345678900", "2031-01-03T08:00:00-03:00"))
        rejected = []
        cursor: Cursor | None = None
        while True:
            page = adapter.list_bookings(cursor, 500)
            rejected += list(page.rejected)
            assert "AG-BAD" not in [b.id for b in page.bookings]
            cursor = page.next_cursor
            if not page.has_more:
                break
        assert [r.record_id for r in rejected] == ["AG-BAD"]
        assert rejected[0].field is not None and self.document_field in rejected[0].field
        assert "12345678900" not in rejected[0].reason
        assert "12345678900" not in rejected[0].raw

    # -- write-back -------------------------------------------------------------------------

    def test_create_lookup_attach_forward(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """The whole write-back path on a clean ERP: ``find_protocol`` finds nothing,
        ``create_protocol`` returns a receipt (number > 0, year >= 2000) that ``find_protocol`` then
        finds, and an attachment and a forward land. The ERP's own record is checked: applicant CPF,
        opening date and time in São Paulo (``14:35``), outcome ``AT``, access ``interno``, the
        attachment's SHA-256 and the destination department. A failure names the first step or field
        the adapter sends wrong.
        """
        entry = self.entry()
        assert adapter.find_protocol(entry.external_reference) is None
        receipt = adapter.create_protocol(entry, self.key("AG-000001"))
        assert receipt.external_reference == entry.external_reference
        assert receipt.number > 0 and receipt.year >= 2000
        found = adapter.find_protocol(entry.external_reference)
        assert found is not None and (found.number, found.year) == (receipt.number, receipt.year)
        document = VerifiedDocument(name="rg.pdf", kind="RG", sha256="ab" * 32, size=1024)
        adapter.attach_document(receipt, document, self.key("AG-000001", "anexar:rg"))
        demand = ForwardedDemand(department_code="SMF-CAD", description="Conferir cadastro.")
        adapter.forward_protocol(receipt, demand, self.key("AG-000001", "tramitar:1"))
        (stored,) = sandbox.protocols()
        assert stored["requerentes"][0]["cpfCnpj"] == "05278934123"
        assert stored["dataAbertura"] == "2031-03-05" and stored["horaAbertura"] == "14:35"
        assert stored["resultadoAtendimento"] == "AT" and stored["nivelAcesso"] == "interno"
        assert [a["sha256"] for a in stored["anexos"]] == ["ab" * 32]
        assert [t["codigoDepartamentoDestino"] for t in stored["tramitacoes"]] == ["SMF-CAD"]

    def test_probes_read_what_landed(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """``read_protocol`` shows each attachment and forward as the ERP holds it (a
        duplicate shows twice); ``read_booking_status`` the status now; receipts name the
        booking when the ERP echoes it."""
        entry = self.entry()
        receipt = adapter.create_protocol(entry, self.key("AG-000001"))
        assert receipt.booking_id in ("", entry.booking_id)
        empty = adapter.read_protocol(receipt)
        assert (empty.receipt.number, empty.receipt.year) == (receipt.number, receipt.year)
        assert empty.receipt.external_reference == entry.external_reference
        assert empty.documents == () and empty.forwards == ()
        document = VerifiedDocument(name="rg.pdf", kind="RG", sha256="cd" * 32, size=10)
        adapter.attach_document(receipt, document, self.key("AG-000001", "anexar:1"))
        adapter.attach_document(receipt, document, self.key("AG-000001", "anexar:2"))
        demand = ForwardedDemand(department_code="SMF-CAD", description="Conferir cadastro.")
        adapter.forward_protocol(receipt, demand, self.key("AG-000001", "tramitar:1"))
        seen = adapter.read_protocol(receipt)
        assert [d.sha256 for d in seen.documents] == ["cd" * 32, "cd" * 32]
        assert [(f.department_code, f.description) for f in seen.forwards] == [
            ("SMF-CAD", "Conferir cadastro.")
        ]
        before = adapter.read_booking_status("AG-000001")
        assert before is _STATUS[sandbox.booking("AG-000001")["situacao"]]
        adapter.update_booking_status("AG-000001", BookingStatus.ATTENDED, "Atendido.")
        assert adapter.read_booking_status("AG-000001") is BookingStatus.ATTENDED
        with pytest.raises(NotFoundError):
            adapter.read_booking_status("AG-999999")

    def test_status_and_room_link_are_written(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """``record_room_link`` and ``update_booking_status`` (each called twice with the same
        values) leave the booking ``AT`` with the room URL and its validity instant (UTC) as sent. A
        failure means the second, identical call failed (the port requires both to be idempotent) or
        a value was mapped wrong.
        """
        until = datetime(2031, 3, 5, 18, 0, tzinfo=UTC)
        adapter.record_room_link("AG-000001", "https://meet.example.org/abc", until)
        adapter.record_room_link("AG-000001", "https://meet.example.org/abc", until)
        adapter.update_booking_status("AG-000001", BookingStatus.ATTENDED, "Atendido.")
        adapter.update_booking_status("AG-000001", BookingStatus.ATTENDED, "Atendido.")
        doc = sandbox.booking("AG-000001")
        assert doc["situacao"] == "AT"
        assert doc["sala"]["url"] == "https://meet.example.org/abc"
        assert datetime.fromisoformat(doc["sala"]["validaAte"]) == until

    def test_same_key_creates_once(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """Creating the same entry twice yields one protocol and the same receipt: with the same
        idempotency key when the adapter declares ``honours_idempotency_key``, else through
        :func:`munivideo.transport.create_exactly_once` with a lookup first. A failure means the
            adapter does not send the key where the ERP reads it, or the lookup misses the protocol:
            a re-sent write-back would create a duplicate.
        """
        if adapter.capabilities.honours_idempotency_key:
            first = adapter.create_protocol(self.entry(), self.key("AG-000001"))
            again = adapter.create_protocol(self.entry(), self.key("AG-000001"))
        else:
            # Without keys the lookup by external reference is what prevents the duplicate.
            first, again = (
                create_exactly_once(
                    adapter,
                    self.entry(),
                    self.key("AG-000001"),
                    probe_first=True,
                    sleep=lambda _: None,
                )
                for _ in range(2)
            )
        assert (first.number, first.year) == (again.number, again.year)
        assert len(sandbox.protocols()) == 1

    def test_commit_then_drop_is_ambiguous_and_resolved_exactly_once(
        self, sandbox: Sandbox, adapter: ErpAdapter
    ) -> None:
        """When the ERP commits the create and then drops the connection, ``create_protocol`` raises
        :class:`munivideo.errors.AmbiguousError` (not a plain transient error, and without retrying
            by itself), and :func:`munivideo.transport.create_exactly_once` then leaves exactly one
            protocol. A failure means the adapter retries creates in-call or reports a lost answer
            as "surely not done": the duplicate protocols exactly-once exists to prevent.
        """
        sandbox.inject("criarProtocolo=drop_after_commit#1")
        with pytest.raises(AmbiguousError):
            adapter.create_protocol(self.entry(), self.key("AG-000001"))
        assert len(sandbox.protocols()) == 1  # it did land
        sandbox.inject("criarProtocolo=drop_after_commit#1")
        receipt = create_exactly_once(
            adapter, self.entry("AG-000002"), self.key("AG-000002"), sleep=lambda _: None
        )
        refs = [p["referenciaExterna"] for p in sandbox.protocols()]
        assert refs.count(receipt.external_reference) == 1

    def test_without_key_support_the_lookup_prevents_a_duplicate(
        self, sandbox: Sandbox, adapter: ErpAdapter
    ) -> None:
        """The same adapter announcing ``honours_idempotency_key=False``: after a commit-then-drop,
        :func:`munivideo.transport.create_exactly_once` finds the committed protocol by external
            reference instead of creating another. A failure means ``find_protocol`` does not find
            what ``create_protocol`` just stored (wrong query, wrong field mapped as the reference).
        """
        view = _CapabilitiesView(adapter, ErpCapabilities(honours_idempotency_key=False))
        sandbox.inject("criarProtocolo=drop_after_commit#1")
        receipt = create_exactly_once(
            view,
            self.entry(),
            self.key("AG-000001"),
            sleep=lambda _: None,
        )
        assert [p["numero"] for p in sandbox.protocols()] == [receipt.number]
        assert sandbox.faults()["rules"][0]["fired"] == 1  # type: ignore[index]

    # -- exactly once through the write-back, per capability set ---------------------------

    @pytest.mark.parametrize("step", ["create", "attach", "forward", "status"])
    def test_exactly_once_per_capability_set(
        self, sandbox: Sandbox, adapter: ErpAdapter, tmp_path: Any, step: str
    ) -> None:
        """The write-back over this adapter, with the step's first answer lost after the ERP
        committed it, for every capability set the adapter can play (what it declares, and
        the weaker sets: keys -> lookup only -> neither). Effects are counted at the ERP:
        exactly one per step and the row delivered, or - only where the ERP can neither
        deduplicate nor be asked - a dead letter that says what to check; never two."""
        declared = adapter.capabilities
        sets = [ErpCapabilities(honours_idempotency_key=False, lookup_by_external_reference=False)]
        if declared.lookup_by_external_reference:
            sets.append(ErpCapabilities(honours_idempotency_key=False))
        if declared.honours_idempotency_key:
            sets.append(ErpCapabilities(lookup_by_external_reference=False))
        for n, capabilities in enumerate(sets):
            booking_id = f"AG-{n + 1:06d}"
            view = _CapabilitiesView(adapter, capabilities)
            item, effects = _write_back_once(
                self.tenant,
                view,  # an ErpAdapter by delegation
                sandbox,
                self.entry(booking_id),
                f"{_OPERATIONS[step]}=drop_after_commit#1",
                tmp_path / f"outbox-{n}.db",
            )
            where = f"{capabilities!r}: {effects}"
            assert max(effects.values()) <= 1, where
            if item.state is OutboxState.DELIVERED:
                assert effects == dict.fromkeys(_OPERATIONS, 1), where
            else:
                assert not capabilities.lookup_by_external_reference, (where, item.last_error)
                assert not capabilities.honours_idempotency_key, (where, item.last_error)
                assert item.state is OutboxState.FAILED, where
                assert item.last_error is not None and "check" in item.last_error, where

    def test_create_answered_502_is_ambiguous_not_retried(
        self, sandbox: Sandbox, adapter: ErpAdapter
    ) -> None:
        """A create answered with HTTP 502 (a gateway in front of the ERP) raises
        :class:`munivideo.errors.AmbiguousError` after exactly one call. A failure means the adapter
            retried a non-idempotent write whose outcome it could not know.
        """
        sandbox.inject("criarProtocolo=error:502")
        with pytest.raises(AmbiguousError):
            adapter.create_protocol(self.entry(), self.key("AG-000001"))
        assert sandbox.faults()["rules"][0]["fired"] == 1  # type: ignore[index]

    # -- retries and error mapping ----------------------------------------------------------

    @pytest.mark.parametrize("fault", ["unavailable:1", "ratelimit:1"])
    def test_transient_faults_are_retried(
        self, sandbox: Sandbox, adapter: ErpAdapter, fault: str
    ) -> None:
        """A read answered twice with 503 or 429 (``Retry-After: 1``) succeeds on the third call,
        within the adapter's retry policy (``fast_retry_settings`` keeps the waits short). A failure
        means transient answers reach the engine as errors although the call could simply have been
        repeated.
        """
        sandbox.inject(f"obterAgendamento={fault}#2")
        assert adapter.get_booking("AG-000001").id == "AG-000001"
        assert sandbox.faults()["rules"][0]["fired"] == 2  # type: ignore[index]

    def test_retries_are_bounded(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """An ERP answering every read with 503 makes ``get_booking`` raise
        :class:`munivideo.errors.TransientError` (not ambiguous: nothing was done) after more than
            one and at most 20 calls. A failure means no retries at all, or retries without a bound
            that would hold a worker's lease hostage.
        """
        sandbox.inject("obterAgendamento=unavailable:1")
        with pytest.raises(TransientError) as info:
            adapter.get_booking("AG-000001")
        assert not isinstance(info.value, AmbiguousError)
        fired = sandbox.faults()["rules"][0]["fired"]  # type: ignore[index]
        assert 1 < fired <= 20

    def test_declared_faults_are_never_retried(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """A fault the ERP declares itself (``ERRO_INTERNO``: it handled the call and did nothing)
        raises a :class:`munivideo.errors.MunivideoError` after exactly one call; the outbox, not
        the adapter, decides whether to try again later (see ``FAULT_TABLE`` in
        :mod:`munivideo.transport`). A failure means the adapter hammers an ERP that has already
        answered.
        """
        sandbox.inject("obterAgendamento=fault:ERRO_INTERNO")
        with pytest.raises(MunivideoError):
            adapter.get_booking("AG-000001")
        assert sandbox.faults()["rules"][0]["fired"] == 1  # type: ignore[index]

    def test_refused_by_the_erp_is_rejected(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """A create the ERP refuses (``REQUISICAO_INVALIDA``) raises
        :class:`munivideo.errors.RejectedError` and creates nothing. A failure means a refusal is
            reported as retryable, and the outbox would re-send data that can never be accepted.
        """
        sandbox.inject("criarProtocolo=fault:REQUISICAO_INVALIDA")
        with pytest.raises(RejectedError):
            adapter.create_protocol(self.entry(), self.key("AG-000001"))
        assert sandbox.protocols() == []

    def test_connection_refused_is_transient(self, peer_factory: Callable[..., Sandbox]) -> None:
        """An ERP that is not listening (connection refused on loopback) makes ``get_booking`` raise
        :class:`munivideo.errors.TransientError`, not :class:`~munivideo.errors.AmbiguousError`: the
            request never left. A failure means the adapter misclassifies connect errors, so creates
            would needlessly become ambiguous (or crash with a raw ``requests`` exception).
        """
        gone = peer_factory(seed="empty")
        adapter = self.build(gone)
        gone.stop()
        try:
            with pytest.raises(TransientError) as info:
                adapter.get_booking("AG-000001")
            assert not isinstance(info.value, AmbiguousError)
        finally:
            adapter.close()

    def test_errors_carry_no_secrets(self, sandbox: Sandbox, adapter: ErpAdapter) -> None:
        """Neither the error of a refused create nor ``repr(adapter)`` contains the sandbox's client
        secret or the applicant's CPF. A failure means credentials or personal data would reach
        logs, the outbox's ``last_error`` and the console (LGPD).
        """
        sandbox.inject("criarProtocolo=fault:REQUISICAO_INVALIDA")
        with pytest.raises(MunivideoError) as info:
            adapter.create_protocol(self.entry(), self.key("AG-000001"))
        text = str(info.value) + repr(adapter)
        for secret in sandbox.credentials[1:]:
            assert secret not in text
        assert "05278934123" not in text
