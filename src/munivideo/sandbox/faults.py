"""Scriptable fault injection.

Grammar (whitespace ignored)::

    SPEC   := RULE ("," RULE)*
    RULE   := TARGET "=" ACTION [":" ARG] ["@" PROBABILITY] ["#" TIMES]
    TARGET := an operation name (criarProtocolo, listarAlterados, obterToken, ...; on FHIR
              transaction, capabilities or interaction+type: createEncounter, searchSlot...) or "*"

Actions:

    latency:DUR          sleep DUR, then answer normally (DUR like 20ms, 1.5s)
    timeout[:DUR]        sleep DUR (default 5s) *while holding the idempotency key*, then process
                         and commit: the client's read timeout fires, the work still happens
    error[:STATUS]       answer STATUS (default 500; e.g. 502, 504) with a non-contract body;
                         nothing is done
    unavailable[:SECS]   503 + Retry-After SECS (default 1); nothing is done
    ratelimit[:SECS]     429 + Retry-After SECS (default 1); nothing is done
    fault[:CODIGO]       a contract error: SOAP fault (HTTP 500) / problem+json 500 with CODIGO
                         (default ERRO_INTERNO); nothing is done
    malformed            process and commit, then answer 200 with a truncated body
    drop                 close the connection without answering; nothing is done
    drop_after_commit    process and commit, then close the connection without answering
    error_after_commit[:STATUS]
                         process and commit, then answer STATUS (default 502) with a
                         non-contract body, as a proxy whose upstream answered too late

PROBABILITY is in [0, 1] (default 1); TIMES caps how often the rule fires (default unlimited).
Rules are tried in order: every firing ``latency`` adds up, the first other rule that fires wins.
Draws come from one ``random.Random(seed)`` per rule, so a run is reproducible call by call.

Example: ``criarProtocolo=drop_after_commit@0.2,*=latency:20ms``.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Literal, get_args

from munivideo.errors import ConfigurationError
from munivideo.sandbox.fhir_rules import FHIR_OPERATIONS

Action = Literal[
    "latency",
    "timeout",
    "error",
    "unavailable",
    "ratelimit",
    "fault",
    "malformed",
    "drop",
    "drop_after_commit",
    "error_after_commit",
]
ACTIONS: tuple[str, ...] = get_args(Action)
OPERATIONS: tuple[str, ...] = (
    "obterToken",
    "listarAlterados",
    "obterAgendamento",
    "atualizarSituacao",
    "registrarSala",
    "criarProtocolo",
    "buscarPorReferenciaExterna",
    "obterProtocolo",
    "anexarDocumento",
    "tramitarProtocolo",
    *FHIR_OPERATIONS,
)
FAULT_CODES = ("INDISPONIVEL", "ERRO_INTERNO", "REQUISICAO_INVALIDA", "NAO_ENCONTRADO")

_RULE = re.compile(
    r"^(?P<target>\*|[A-Za-z]+)=(?P<action>[a-z_]+)(?::(?P<arg>[^@#]+))?"
    r"(?:@(?P<prob>[0-9.]+))?(?:#(?P<times>\d+))?$"
)
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s)$")


@dataclass
class Rule:
    """One parsed fault rule (``TARGET=ACTION[:ARG][@PROBABILITY][#TIMES]``) and its state.

    :ivar target: an operation name from :data:`OPERATIONS`, or ``*`` for every operation.
    :ivar action: one of :data:`ACTIONS` (see the module docstring for what each does).
    :ivar arg: the raw ``:ARG`` text, as written.
    :ivar probability: chance in [0, 1] that the rule fires on a matching call.
    :ivar times: how often it may fire at most (``None``: unlimited).
    :ivar seconds: the parsed duration in seconds for ``latency``/``timeout``; the
        ``Retry-After`` value in whole seconds for ``unavailable``/``ratelimit``.
    :ivar status: the HTTP status (500-599) for ``error``/``error_after_commit``.
    :ivar code: the contract ``codigo`` for ``fault`` (one of :data:`FAULT_CODES`).
    :ivar fired: how often it has fired so far (shown by ``GET /_sandbox/faults``).
    :ivar rng: this rule's own random stream, seeded by :class:`FaultPlan`.
    """

    target: str
    action: Action
    arg: str | None = None
    probability: float = 1.0
    times: int | None = None
    seconds: float = 0.0  # parsed duration for latency/timeout, Retry-After for 503/429
    status: int = 500
    code: str = "ERRO_INTERNO"
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, operation: str) -> bool:
        """Whether the rule targets ``operation`` (its name, or ``*``); ignores probability
        and ``#TIMES``, which :meth:`FaultPlan.decide` applies.

        :param operation: a contract operation name such as ``criarProtocolo``.
        """
        return self.target in ("*", operation)

    def __str__(self) -> str:
        text = f"{self.target}={self.action}"
        if self.arg is not None:
            text += f":{self.arg}"
        if self.probability != 1.0:
            text += f"@{self.probability:g}"
        if self.times is not None:
            text += f"#{self.times}"
        return text


@dataclass(frozen=True)
class Decision:
    """What to do with one call: a total delay, and at most one failure action."""

    delay: float = 0.0
    action: Rule | None = None


def _duration(text: str, where: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise ConfigurationError(
            f"{where}: duration {text!r} must look like 20ms or 1.5s", field="faults"
        )
    n = float(m["n"])
    return n / 1000 if m["unit"] == "ms" else n


def parse_rule(text: str, *, index: int = 0) -> Rule:
    """Parse one rule of the grammar above (whitespace ignored), checking every part.

    Durations are ``<n>ms`` or ``<n>s`` and become seconds; ``timeout`` defaults to 5 s,
    ``unavailable``/``ratelimit`` to ``Retry-After: 1``, ``error`` to 500,
    ``error_after_commit`` to 502, ``fault`` to ``ERRO_INTERNO``.

    :param text: the rule, e.g. ``criarProtocolo=drop_after_commit@0.2#3``.
    :param index: its 0-based position in the spec, for the error message ("fault rule 2").
    :returns: a :class:`Rule` that has not fired yet, with an unseeded random stream
        (:class:`FaultPlan` seeds it).
    :raises ConfigurationError: (``field="faults"``) bad syntax, an unknown operation or action,
        a probability outside [0, 1], a malformed duration, a status outside 500-599, a
        non-integer ``Retry-After``, a ``fault`` code not in :data:`FAULT_CODES`, or an argument
        to an action that takes none.
    """
    where = f"fault rule {index + 1} ({text!r})"
    m = _RULE.match(text.replace(" ", ""))
    if not m:
        raise ConfigurationError(
            f"{where}: expected TARGET=ACTION[:ARG][@PROBABILITY][#TIMES]", field="faults"
        )
    target, action, arg = m["target"], m["action"], m["arg"]
    if target != "*" and target not in OPERATIONS:
        raise ConfigurationError(
            f"{where}: unknown operation {target!r} (known: *, {', '.join(OPERATIONS)})",
            field="faults",
        )
    if action not in ACTIONS:
        raise ConfigurationError(
            f"{where}: unknown action {action!r} (known: {', '.join(ACTIONS)})", field="faults"
        )
    rule = Rule(target=target, action=action, arg=arg)  # type: ignore[arg-type]
    if m["prob"] is not None:
        try:
            rule.probability = float(m["prob"])
        except ValueError:
            rule.probability = -1.0
        if not 0.0 <= rule.probability <= 1.0:
            raise ConfigurationError(f"{where}: probability must be in [0, 1]", field="faults")
    if m["times"] is not None:
        rule.times = int(m["times"])
    if action == "latency":
        if arg is None:
            raise ConfigurationError(
                f"{where}: latency needs a duration, e.g. latency:20ms", field="faults"
            )
        rule.seconds = _duration(arg, where)
    elif action == "timeout":
        rule.seconds = _duration(arg, where) if arg else 5.0
    elif action in ("error", "error_after_commit"):
        default = 500 if action == "error" else 502
        rule.status = int(arg) if arg and arg.isdigit() else (default if arg is None else -1)
        if not 500 <= rule.status <= 599:
            raise ConfigurationError(f"{where}: error status must be 500-599", field="faults")
    elif action in ("unavailable", "ratelimit"):
        if arg is not None and not arg.isdigit():
            raise ConfigurationError(f"{where}: Retry-After must be whole seconds", field="faults")
        rule.seconds = float(arg) if arg else 1.0
    elif action == "fault":
        rule.code = arg or "ERRO_INTERNO"
        if rule.code not in FAULT_CODES:
            raise ConfigurationError(
                f"{where}: fault code must be one of {', '.join(FAULT_CODES)}", field="faults"
            )
    elif arg is not None:
        raise ConfigurationError(f"{where}: {action} takes no argument", field="faults")
    return rule


class FaultPlan:
    """The parsed spec plus its deterministic random state; safe to share between threads.

    Rule ``i`` draws from ``random.Random(seed * 1_000_003 + i)``, so the same spec, seed and
    call sequence fire the same faults on every run.

    :param spec: comma-separated rules (see the module docstring); ``""`` is a plan with no
        faults.
    :param seed: the seed of the rules' random streams.
    :raises ConfigurationError: a rule does not parse (see :func:`parse_rule`).
    """

    def __init__(self, spec: str = "", seed: int = 0) -> None:
        self.spec = spec.strip()
        self.seed = seed
        parts = [p for p in self.spec.split(",") if p.strip()]
        self.rules = [parse_rule(p.strip(), index=i) for i, p in enumerate(parts)]
        for i, rule in enumerate(self.rules):
            rule.rng = random.Random(seed * 1_000_003 + i)
        self._lock = threading.Lock()

    def decide(self, operation: str) -> Decision:
        """What to do with one call of ``operation``.

        Rules are tried in order; every matching rule draws from its own random stream (so one
        rule's outcome never shifts another's sequence), then fires when the draw is below its
        probability and its ``#TIMES`` is not used up. Firing ``latency`` rules add up; the
        first other firing rule wins, later ones are skipped without counting.

        :param operation: the contract operation name of the call.
        :returns: the total delay in seconds and at most one failure rule.
        """
        delay = 0.0
        chosen: Rule | None = None
        with self._lock:
            for rule in self.rules:
                if not rule.matches(operation):
                    continue
                if rule.action != "latency" and chosen is not None:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                # Always draw, so one rule's outcome does not shift another rule's sequence.
                if rule.rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.action == "latency":
                    delay += rule.seconds
                else:
                    chosen = rule
        return Decision(delay=delay, action=chosen)

    def describe(self) -> dict[str, object]:
        """The plan as ``GET /_sandbox/faults`` shows it: ``{"spec": str, "seed": int,
        "rules": [{"rule": "criarProtocolo=drop", "fired": 2}, ...]}`` (rules normalised,
        ``fired`` counted since the plan was set)."""
        with self._lock:
            return {
                "spec": self.spec,
                "seed": self.seed,
                "rules": [{"rule": str(r), "fired": r.fired} for r in self.rules],
            }
