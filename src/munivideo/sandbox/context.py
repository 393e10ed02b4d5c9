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
from munivideo.sandbox.store import Store

CLIENT_ID = "munivideo-sandbox"
CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - a documented, seeded sandbox credential
TOKEN_TTL_SECONDS = 3600


@dataclass
class Context:
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

    @cached_property
    def xsd(self) -> Any:
        import xmlschema

        return xmlschema.XMLSchema(str(pack_dir("erp-soap", "v1") / "xsd" / "erp.xsd"))

    @cached_property
    def openapi(self) -> Any:
        import yaml
        from openapi_core import Config, OpenAPI

        spec = yaml.safe_load((pack_dir("erp-rest", "v1") / "openapi.yaml").read_text("utf-8"))
        # The pack names a fixed port; the sandbox may listen anywhere (port 0), so match any host.
        spec["servers"] = [{"url": "/"}]
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        return OpenAPI.from_dict(spec, config=config)

    def set_plan(self, plan: FaultPlan) -> None:
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
