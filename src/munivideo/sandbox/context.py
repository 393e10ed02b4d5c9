"""What every request handler shares: the store, the fault plan, the loaded contracts."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from munivideo.packs import pack_dir
from munivideo.sandbox.behaviour import Behaviour
from munivideo.sandbox.faults import Decision, FaultPlan
from munivideo.sandbox.fhir_seed import seed_health_unit
from munivideo.sandbox.fhir_store import FhirStore
from munivideo.sandbox.records import BookingRecord
from munivideo.sandbox.store import Store

CLIENT_ID = "munivideo-sandbox"
CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - a documented, seeded sandbox credential
TOKEN_TTL_SECONDS = 3600


@dataclass
class Context:
    """What every request handler of one sandbox shares.

    One per :class:`~munivideo.sandbox.server.Sandbox`; handlers run on the server's threads,
    so the fault plan and the behaviour are swapped under ``plan_lock`` and read once per request
    (:meth:`call`): a request keeps the plan decision and the behaviour it arrived with.

    :ivar store: the ERP's data, effect counters, idempotency keys and tokens.
    :ivar plan: the fault plan in force (:mod:`munivideo.sandbox.faults`); replace it with
        :meth:`set_plan`.
    :ivar validate_responses: check every answer against the contract (XSD for SOAP, OpenAPI
        for REST) before sending it; a sandbox answer that breaks the contract becomes an
        ``ERRO_INTERNO`` (a :class:`~munivideo.errors.ContractViolationError` inside).
    :ivar stop: set when the server stops; injected sleeps wake up on it.
    :ivar soap: the SOAP front end (``/soap``) is served.
    :ivar rest: the REST front end (``/api/v1``, ``/oauth/token``) is served.
    :ivar plan_lock: guards ``plan`` and ``behaviour``.
    :ivar pack_version: the version of the reference packs served and validated against
        (``v1``, ``v2``: :data:`munivideo.packs.ERP_PACK_VERSIONS`); the wire is the same.
    :ivar xsd: the ``erp-soap/<pack_version>`` pack's ``xsd/erp.xsd`` as an
        ``xmlschema.XMLSchema``, loaded on first use.
    :ivar openapi: the ``erp-rest/<pack_version>`` pack's ``openapi.yaml`` as an
        ``openapi_core.OpenAPI`` (servers replaced by ``/`` so any bound port matches), loaded on
        first use.
    """

    store: Store
    plan: FaultPlan = field(default_factory=FaultPlan)
    validate_responses: bool = True
    stop: threading.Event = field(default_factory=threading.Event)
    soap: bool = True
    rest: bool = True
    plan_lock: threading.Lock = field(default_factory=threading.Lock)
    #: The FHIR endpoint's resources (``/fhir``, see :mod:`munivideo.sandbox.fhir`).
    fhir: FhirStore = field(default_factory=lambda: FhirStore(seed_health_unit))
    behaviour: Behaviour = field(default_factory=Behaviour)
    #: What a reset goes back to (the behaviour the server was started with).
    initial_behaviour: Behaviour = field(default_factory=Behaviour)
    #: The base URL the sandbox announces (WSDL ``soap:address``); set once the port is bound.
    public_url: str = "http://127.0.0.1:8765"
    #: Host names (lower case, no port) the server answers for; see :mod:`munivideo.sandbox.guard`.
    allowed_hosts: frozenset[str] = frozenset()
    #: The reference packs' version served (``v1`` or ``v2``).
    pack_version: str = "v1"

    def __post_init__(self) -> None:
        # Every booking written to this store is checked against the contracts served here.
        self.store.conforms = self.check_booking

    def check_booking(self, record: BookingRecord) -> None:
        """Refuse a booking the contracts' answers could not carry
        (:func:`munivideo.sandbox.conformance.check_booking`)."""
        from munivideo.sandbox.conformance import check_booking

        check_booking(self, record)

    @cached_property
    def xsd(self) -> Any:
        import xmlschema

        return xmlschema.XMLSchema(str(pack_dir("erp-soap", self.pack_version) / "xsd" / "erp.xsd"))

    @cached_property
    def openapi(self) -> Any:
        import yaml
        from openapi_core import Config, OpenAPI

        path = pack_dir("erp-rest", self.pack_version) / "openapi.yaml"
        spec = yaml.safe_load(path.read_text("utf-8"))
        # The pack names a fixed port; the sandbox may listen anywhere (port 0), so match any host.
        spec["servers"] = [{"url": "/"}]
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        return OpenAPI.from_dict(spec, config=config)

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the fault plan (its rule counters start at zero); requests already running
        keep the decision they got.

        :param plan: the new plan; ``FaultPlan()`` means no faults.
        """
        with self.plan_lock:
            self.plan = plan

    def set_behaviour(self, behaviour: Behaviour) -> None:
        """Replace the ERP behaviour; requests already running keep theirs."""
        with self.plan_lock:
            self.behaviour = behaviour

    def current_behaviour(self) -> Behaviour:
        """The ERP behaviour new requests get."""
        with self.plan_lock:
            return self.behaviour

    def call(self, operation: str) -> Call:
        """One request's fault decision and the behaviour in force when it arrived."""
        return Call(self, operation, self.decide(operation), self.current_behaviour())

    def decide(self, operation: str) -> Decision:
        """Draw the fault plan's decision for one call (consumes each matching rule's random
        draw and, when it fires, one of its ``#TIMES``).

        :param operation: the contract operation name (``criarProtocolo``, ``obterToken``, ...;
            FHIR ones from :data:`munivideo.sandbox.fhir_rules.FHIR_OPERATIONS`).
        :returns: the summed ``latency`` delay in seconds and at most one failure rule.
        """
        with self.plan_lock:
            plan = self.plan
        return plan.decide(operation)

    def sleep(self, seconds: float) -> None:
        """Interruptible: a stopping server does not wait for injected delays."""
        if seconds > 0:
            self.stop.wait(seconds)


@dataclass
class Call:
    """One request's fault decision; ``before_write`` runs after the idempotency key is held."""

    ctx: Context
    operation: str
    decision: Decision
    behaviour: Behaviour = field(default_factory=Behaviour)
    #: What a reset goes back to (the behaviour the server was started with).
    initial_behaviour: Behaviour = field(default_factory=Behaviour)

    def before_write(self) -> None:
        """Injected waits before the commit: a ``timeout`` fault, the behaviour's commit delay."""
        rule = self.decision.action
        if rule is not None and rule.action == "timeout":
            self.ctx.sleep(rule.seconds)
        if self.operation in self.behaviour.commit_delay_operations:
            self.ctx.sleep(self.behaviour.commit_delay_seconds)
