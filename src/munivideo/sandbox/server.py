"""A real HTTP server on loopback running the sandbox app in a background thread."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from munivideo.errors import ConfigurationError
from munivideo.packs import ERP_PACK_VERSIONS
from munivideo.sandbox.app import DIALECTS, SandboxApp
from munivideo.sandbox.behaviour import Behaviour
from munivideo.sandbox.context import CLIENT_ID, CLIENT_SECRET, Context
from munivideo.sandbox.faults import FaultPlan
from munivideo.sandbox.guard import allowed_hosts as allowed_hosts_for
from munivideo.sandbox.guard import check_bind
from munivideo.sandbox.inspection import effects_report
from munivideo.sandbox.records import BookingRecord, booking_doc, protocol_doc
from munivideo.sandbox.seeds import apply_seed, bulk_seed
from munivideo.sandbox.store import Store


class _Handler(WSGIRequestHandler):
    # TCP_NODELAY avoids the ~40 ms Nagle/delayed-ACK stall when headers and body leave in
    # separate writes. (werkzeug still answers `Connection: close`: one connection per call.)
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # quiet: tests and the demo read the inspection API, not access logs


def build_server(app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """Bind (not yet serve) a threaded werkzeug server for ``app``: one daemon thread per
    connection, HTTP/1.1 with ``TCP_NODELAY``, no access log.

    :param host: the listen address (loopback unless the caller checked otherwise).
    :param port: the TCP port; 0 picks a free one (read it back from ``server.port``).
    :raises OSError: the address cannot be bound (port in use, unknown host).
    """
    server = make_server(host, port, app, threaded=True, request_handler=_Handler)
    server.daemon_threads = True  # type: ignore[attr-defined]
    return server


class Sandbox:
    """The sandbox ERP, in-process. Use as a context manager::

    with Sandbox(dialect="both", seed="tax-office") as sb:
        sb.wsdl_url, sb.rest_url, sb.inject("criarProtocolo=drop_after_commit")
    """

    def __init__(
        self,
        *,
        dialect: str = "both",
        seed: str = "tax-office",
        faults: str = "",
        fault_seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | Path = ":memory:",
        validate_responses: bool = True,
        behaviour: Behaviour | None = None,
        allow_remote: bool = False,
        allowed_hosts: tuple[str, ...] = (),
        public_url: str | None = None,
        pack_version: str = "v1",
    ) -> None:
        """Bind (not yet serve) a sandbox, load ``seed`` into its store.

        :param dialect: ``soap``, ``rest`` or ``both``: which front ends answer.
        :param seed: a name from :data:`~munivideo.sandbox.seeds.SEEDS` (``tax-office``,
            ``empty``); :meth:`reset` reloads it.
        :param faults: a fault spec (:mod:`munivideo.sandbox.faults`); ``""``: none.
        :param fault_seed: the seed of the fault plan's random draws.
        :param host: the listen address (default loopback).
        :param port: the TCP port; 0 (default) picks a free one, see :attr:`port`.
        :param db: the store's SQLite file, or ``":memory:"``.
        :param validate_responses: check every answer against the contract before sending it.
        :param behaviour: the ERP's capabilities and misbehaviours (default: well-behaved);
            :meth:`reset` comes back to it.
        :param allow_remote: allow a non-loopback ``host`` (refused otherwise:
            :class:`~munivideo.errors.ConfigurationError`).
        :param allowed_hosts: ``Host`` names answered besides loopback, the bound address and
            ``public_url``'s host (``"*"``: any; see :mod:`munivideo.sandbox.guard`).
        :param public_url: the base URL announced in the WSDL (default: the bound address).
        :param pack_version: the version of the reference packs served, validated against and
            published (``v1``, the default, or ``v2``: the alphanumeric CNPJ and foreign phones,
            see ``docs/contracts.md``); the wire (paths, namespace) is the same.
        :raises ConfigurationError: a non-loopback ``host`` without ``allow_remote``, an unknown
            ``dialect``, ``seed`` or ``pack_version`` (field ``pack_version``), or a fault spec
            that does not parse.
        :raises OSError: the address cannot be bound.
        """
        check_bind(host, allow_remote=allow_remote)
        if dialect not in DIALECTS:
            raise ConfigurationError(
                f"dialect must be one of {', '.join(DIALECTS)}", field="dialect"
            )
        if pack_version not in ERP_PACK_VERSIONS:
            raise ConfigurationError(
                f"pack_version must be one of {', '.join(ERP_PACK_VERSIONS)}",
                field="pack_version",
            )
        self.seed = seed
        self.pack_version = pack_version
        self.store = Store(db)
        self.ctx = Context(
            store=self.store,
            plan=FaultPlan(faults, fault_seed),
            validate_responses=validate_responses,
            soap=dialect in ("soap", "both"),
            rest=dialect in ("rest", "both"),
            behaviour=behaviour or Behaviour(),
            initial_behaviour=behaviour or Behaviour(),
            pack_version=pack_version,
        )
        apply_seed(self.store, seed)
        self._server = build_server(SandboxApp(self.ctx, default_seed=seed), host, port)
        self.ctx.public_url = (public_url or self.base_url).rstrip("/")
        self.ctx.allowed_hosts = allowed_hosts_for(host, self.ctx.public_url, allowed_hosts)
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Serve in a background daemon thread (idempotent: a started sandbox stays as is).

        :returns: ``self``, so ``sb = Sandbox(...).start()`` reads well.
        """
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"munivideo-sandbox:{self.port}",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release everything: wake injected sleeps, shut the server down
        (waiting up to 5 s for its thread), close the socket and the store (a ``:memory:``
        store's data is gone). Not restartable."""
        self.ctx.stop.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the server is bound to (``127.0.0.1`` by default)."""
        return str(self._server.host)

    @property
    def port(self) -> int:
        """The TCP port the server is bound to (the one the OS picked when ``port=0``)."""
        return int(self._server.port)

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` of the bound address (IPv6 hosts in brackets, RFC 3986)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def public_url(self) -> str:
        """The base URL the WSDL announces (``public_url`` given, else :attr:`base_url`)."""
        return self.ctx.public_url

    @property
    def wsdl_url(self) -> str:
        """Where the ``erp-soap/v1`` WSDL is served (``<base_url>/soap?wsdl``), with its
        ``soap:address`` and schema import rewritten to :attr:`public_url`."""
        return f"{self.base_url}/soap?wsdl"

    @property
    def soap_urls(self) -> dict[str, str]:
        """The SOAP endpoint of each WSDL service: ``agendamentos`` (bookings:
        ``listarAlterados``, ``obterAgendamento``, ``atualizarSituacao``, ``registrarSala``) and
        ``protocolos`` (``criarProtocolo``, ``buscarPorReferenciaExterna``, ``obterProtocolo``,
        ``anexarDocumento``, ``tramitarProtocolo``)."""
        return {
            "agendamentos": f"{self.base_url}/soap/agendamentos",
            "protocolos": f"{self.base_url}/soap/protocolos",
        }

    @property
    def rest_url(self) -> str:
        """The base of the ``erp-rest/v1`` API (``<base_url>/api/v1``); paths as in its
        ``openapi.yaml`` (``/agendamentos``, ``/protocolos/{ano}/{numero}``, ...)."""
        return f"{self.base_url}/api/v1"

    @property
    def fhir_url(self) -> str:
        """The FHIR R4 endpoint's base (see :mod:`munivideo.sandbox.fhir`)."""
        return f"{self.base_url}/fhir"

    @property
    def token_url(self) -> str:
        """The OAuth 2.0 token endpoint (``<base_url>/oauth/token``): client credentials grant
        (RFC 6749 section 4.4) with :attr:`credentials`, tokens valid 3600 s."""
        return f"{self.base_url}/oauth/token"

    credentials: tuple[str, str] = (CLIENT_ID, CLIENT_SECRET)

    # -- control --------------------------------------------------------------------------------

    def inject(self, spec: str, seed: int = 0) -> None:
        """Replace the fault plan (``""`` clears it). See :mod:`munivideo.sandbox.faults`."""
        self.ctx.set_plan(FaultPlan(spec, seed))

    def faults(self) -> dict[str, object]:
        """The fault plan in force and how often each rule fired (same JSON as
        ``GET /_sandbox/faults``; see :meth:`~munivideo.sandbox.faults.FaultPlan.describe`)."""
        return self.ctx.plan.describe()

    def reset(self, seed: str | None = None) -> int:
        """Clear all data, idempotency keys, faults and effects; restore the initial behaviour;
        reload ``seed`` (default: the initial)."""
        self.ctx.set_plan(FaultPlan())
        self.ctx.fhir.reset()
        self.ctx.set_behaviour(self.ctx.initial_behaviour)
        return apply_seed(self.store, seed or self.seed)

    # -- behaviour and effects ------------------------------------------------------------------

    @property
    def behaviour(self) -> Behaviour:
        """The ERP behaviour in force (:class:`~munivideo.sandbox.behaviour.Behaviour`)."""
        return self.ctx.current_behaviour()

    def set_behaviour(self, behaviour: Behaviour) -> Behaviour:
        """Replace the behaviour; requests that already arrived keep the one they started with."""
        self.ctx.set_behaviour(behaviour)
        return behaviour

    def behave(self, **changes: Any) -> Behaviour:
        """Change some behaviour fields (``sb.behave(idempotency="ignored")``); the new one.

        :raises ConfigurationError: a bad field or value.
        """
        return self.set_behaviour(self.behaviour.changed(**changes))

    def effects(self) -> dict[str, dict[str, int]]:
        """``{subject: {step: count}}`` of every effect the ERP executed (committed) since the
        last reset. Subject: the protocol's ``referenciaExterna`` (steps ``create``,
        ``attach:<sha256>``, ``forward:<department>``) or the booking id (``status:<code>``)."""
        return self.store.effect_counts()

    def duplicates(self) -> list[tuple[str, str, int]]:
        """``(subject, step, count)`` for every effect executed more than once."""
        return [
            (d["subject"], d["step"], d["count"]) for d in effects_report(self.ctx)["duplicates"]
        ]

    def effect_log(self) -> list[dict[str, Any]]:
        """Every effect executed, in commit order (seq, subject, step, operation, protocol, at)."""
        return self.store.effect_log()

    def bulk_seed(self, count: int) -> int:
        """Add ``count`` synthetic confirmed bookings ``BK-0000001``... for benchmarks, on top of
        what the store holds (see :func:`~munivideo.sandbox.seeds.bulk_seed`).

        :returns: ``count``.
        """
        return bulk_seed(self.store, count)

    def token(self, timeout: float = 5.0) -> str:
        """A bearer token from the sandbox's own OAuth endpoint."""
        answer = requests.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=self.credentials,
            timeout=timeout,
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    # -- data, as the ERP's own users would change it -------------------------------------------

    def bookings(self) -> list[dict[str, Any]]:
        """Every booking, REST-shaped (:func:`~munivideo.sandbox.records.booking_doc`), in
        ``(dataAtualizacao, id)`` order."""
        records, _ = self.store.list_bookings(None, 10_000_000)
        return [booking_doc(r, soap=False) for r in records]

    def booking(self, booking_id: str) -> dict[str, Any]:
        """One booking, REST-shaped.

        :raises NotFoundError: no such booking.
        """
        return booking_doc(self.store.get_booking(booking_id), soap=False)

    def protocols(self) -> list[dict[str, Any]]:
        """Every protocol, REST-shaped, with ``anexos`` and ``tramitacoes``."""
        return [protocol_doc(p, soap=False) for p in self.store.list_protocols()]

    def add_booking(self, booking: dict[str, Any]) -> dict[str, Any]:
        """Add a booking given in the REST shape (``id``/``dataAtualizacao`` optional)."""
        from munivideo.sandbox.inspection import booking_from_doc

        record: BookingRecord = booking_from_doc(self.ctx, booking)
        self.store.put_bookings([record])
        return self.booking(record.id)

    def reschedule_booking(self, booking_id: str, day: str, start: str, end: str) -> dict[str, Any]:
        """Move a booking as the ERP's staff would (status ``RM``, new ``versao``,
        ``sequencia`` bumped; ``listarAlterados`` shows it again). Not counted as an effect.

        :param day: the new local day, ``YYYY-MM-DD``.
        :param start: the new naive local start, ``HH:MM``.
        :param end: the new naive local end, ``HH:MM``.
        :returns: the booking, REST-shaped.
        :raises ValueError: ``day`` is not an ISO date.
        :raises NotFoundError: no such booking.
        :raises LifecycleError: its status cannot go to ``RM``.
        """
        from datetime import date

        return booking_doc(
            self.store.reschedule(booking_id, date.fromisoformat(day), start, end), soap=False
        )

    def cancel_booking(self, booking_id: str, note: str | None = None) -> dict[str, Any]:
        """Cancel a booking as the ERP's staff would (status ``CA``, ``sequencia`` bumped).
        Not counted as an effect; cancelling a cancelled booking changes nothing.

        :param note: stored as ``observacoes``.
        :returns: the booking, REST-shaped.
        :raises NotFoundError: no such booking.
        :raises LifecycleError: already attended or a no-show (``AT``, ``FA``).
        """
        return booking_doc(self.store.set_status(booking_id, "CA", note), soap=False)

    def set_booking_status(self, booking_id: str, status: str) -> dict[str, Any]:
        """Set a booking's status as the ERP's staff would (e.g. ``CF`` to confirm). Not counted
        as an effect; the same status again changes nothing.

        :param status: a code from :data:`~munivideo.sandbox.records.BOOKING_STATUSES`.
        :returns: the booking, REST-shaped.
        :raises NotFoundError: no such booking.
        :raises LifecycleError: :data:`~munivideo.sandbox.records.STATUS_TRANSITIONS` forbids it.
        """
        return booking_doc(self.store.set_status(booking_id, status, None), soap=False)
