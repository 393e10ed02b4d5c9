"""How the sandbox ERP behaves: which capabilities it has and how it misbehaves.

Real ERPs differ in what they can do for exactly-once delivery: some honour idempotency keys,
some can only be asked "do you have a protocol with this external reference?", some can do
neither. Some also misbehave: a lookup that sees commits late or ignores its filter, a write that
commits after the client gave up waiting, a receipt that names another protocol. One
:class:`Behaviour` per sandbox instance says which; it can be replaced at run time (Python
:meth:`munivideo.sandbox.Sandbox.behave`, ``PUT/PATCH /_sandbox/behaviour``, or the
``munivideo sandbox serve`` options). See ``docs/sandbox.md``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from munivideo.errors import ConfigurationError

WRITE_OPERATIONS: frozenset[str] = frozenset(
    {"criarProtocolo", "anexarDocumento", "tramitarProtocolo", "atualizarSituacao"}
)
"""The writes the effect counters, commit delays and receipt misbehaviours are about."""

Idempotency = Literal["honoured", "ignored"]
Lookup = Literal["exact", "late", "ignores_filter", "unavailable"]
Receipts = Literal["honest", "foreign_reference", "foreign_number"]
CapabilitySet = Literal["keys", "lookup_only", "neither"]


class Behaviour(BaseModel):
    """One sandbox ERP's capabilities and misbehaviours (defaults: a well-behaved ERP).

    :ivar idempotency: ``honoured`` replays a repeated key's first answer (IETF draft on REST,
        ``chaveIdempotencia`` on SOAP); ``ignored`` executes every request again.
    :ivar unique_reference: refuse a second protocol with the same ``referenciaExterna``
        (``REFERENCIA_DUPLICADA``); ``False`` lets duplicates exist (and be counted).
    :ivar lookup: ``buscarPorReferenciaExterna``: ``exact`` (zero or one item; the oldest match
        when duplicates exist), ``late`` (as ``exact``, but a protocol is invisible until
        ``lookup_delay_seconds`` after its commit), ``ignores_filter`` (answers as if there were
        no filter: the newest protocol, whatever its reference), ``unavailable`` (the ERP has no
        such lookup: REST 405, SOAP the unknown-operation fault; see
        :class:`munivideo.sandbox.errors.LookupUnavailableError`).
    :ivar lookup_delay_seconds: how late a ``late`` lookup sees commits, in seconds.
    :ivar commit_delay_seconds: the writes named in ``commit_delay_operations`` wait this long
        (holding their idempotency key when keys are honoured), then commit, then answer: set it
        above the client's read timeout to play "commit after the client's timeout".
    :ivar commit_delay_operations: which operations ``commit_delay_seconds`` applies to.
    :ivar receipts: ``honest``; ``foreign_reference`` (the write commits, but the answer
        describes another protocol - another booking's ``referenciaExterna``, ``idAgendamento``
        and number; ``atualizarSituacao`` answers with another booking); ``foreign_number``
        (our ``referenciaExterna`` with another protocol's number).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    idempotency: Idempotency = "honoured"
    unique_reference: bool = True
    lookup: Lookup = "exact"
    lookup_delay_seconds: float = Field(default=0.0, ge=0, le=3600)
    commit_delay_seconds: float = Field(default=0.0, ge=0, le=3600)
    commit_delay_operations: frozenset[str] = WRITE_OPERATIONS
    receipts: Receipts = "honest"

    @field_validator("commit_delay_operations")
    @classmethod
    def _writes_only(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - WRITE_OPERATIONS)
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not one of {', '.join(sorted(WRITE_OPERATIONS))}")
        return value

    @field_serializer("commit_delay_operations")
    def _sorted(self, value: frozenset[str]) -> list[str]:
        return sorted(value)

    @property
    def keys_honoured(self) -> bool:
        """True when a repeated idempotency key replays instead of executing again."""
        return self.idempotency == "honoured"

    @classmethod
    def preset(cls, name: str, **changes: Any) -> Behaviour:
        """The behaviour of a capability set (:data:`CAPABILITY_SETS`), with ``changes``."""
        if name not in CAPABILITY_SETS:
            raise ConfigurationError(
                f"unknown capability set {name!r} (known: {', '.join(CAPABILITY_SETS)})",
                field="preset",
            )
        return parse_behaviour({**CAPABILITY_SETS[name].model_dump(), **changes})

    def changed(self, **changes: Any) -> Behaviour:
        """A copy with ``changes`` applied and validated."""
        return parse_behaviour({**self.model_dump(), **changes})


CAPABILITY_SETS: dict[str, Behaviour] = {
    "keys": Behaviour(),
    "lookup_only": Behaviour(idempotency="ignored", unique_reference=False, lookup="exact"),
    "neither": Behaviour(idempotency="ignored", unique_reference=False, lookup="unavailable"),
}
"""The capability sets an ERP adapter can declare, as sandbox behaviours."""


def parse_behaviour(data: dict[str, Any]) -> Behaviour:
    """``data`` (JSON-shaped; an optional ``preset`` names the base) -> a :class:`Behaviour`.

    :raises ConfigurationError: naming the first bad field.
    """
    data = dict(data)
    preset = data.pop("preset", None)
    if preset is not None:
        return Behaviour.preset(str(preset), **data)
    try:
        return Behaviour.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "behaviour"
        raise ConfigurationError(
            f"sandbox behaviour: {where}: {first['msg']}", field=where
        ) from None
