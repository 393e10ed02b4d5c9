"""The reasons operators and servants read (dead letters, quarantine), in pt-BR and English.

An error the console shows carries a stable ``code`` and its ``params``
(:attr:`munivideo.errors.MunivideoError.code`): :data:`REASONS` maps each code to a pt-BR and an
English template. The exception's own message - what logs, the CLI and ``--json`` print, and
what the store keeps - is always the English template filled in (:func:`coded`).

The store keeps that English message and the error's class name, not the code, so a stored
reason is read back by :func:`parse`: the English template of each code the class may carry,
as an anchored pattern, recovers the code and the params; :func:`localized` renders them in the
reader's language (``pt-BR`` unless ``en`` is asked for). A message no template matches (an
error not in the catalogue yet) is shown as stored, in English.

Phrases inside a param that are themselves ours - the transport table's reasons, the record
kinds - are translated by :data:`ERP_REASONS` and :data:`RECORD_KINDS`; what the ERP or a
validator wrote (``detail``) is shown as it came.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from munivideo.errors import MunivideoError
from munivideo.models import Locale
from munivideo.redact import redact


@dataclass(frozen=True)
class Reason:
    """One catalogue entry: which error classes carry it, and its two templates
    (``str.format`` with named fields; both name the same fields)."""

    types: frozenset[str]
    pt_br: str
    en: str


_ERP = frozenset(
    {
        "RejectedError",
        "NotFoundError",
        "ContractViolationError",
        "ConfigurationError",
        "TransientError",
        "AmbiguousError",
    }
)
_REPLAY_PT = (
    "; depois reenvie a linha (munivideo replay --id {id} --landed {step} se estiver lá, "
    "--absent {step} se não estiver)"
)
_REPLAY_EN = (
    "; then replay the row (munivideo replay --id {id} --landed {step} if it is there, "
    "--absent {step} if it is not)"
)
_UNVERIFIABLE_PT = (
    " pode ter chegado ao ERP (enviado em {sent_at}), e o ERP não deduplica por chave de "
    "idempotência nem pode ser consultado: verifique "
)
_UNVERIFIABLE_EN = (
    " may have reached the ERP (sent at {sent_at}) and the ERP can neither deduplicate it by "
    "idempotency key nor be asked: check "
)

REASONS: dict[str, Reason] = {
    "writeback.unverifiable_create": Reason(
        frozenset({"UnverifiableCreateError"}),
        "o protocolo"
        + _UNVERIFIABLE_PT
        + "se o ERP tem um protocolo com a referência externa '{reference}' (agendamento "
        "{booking})" + _REPLAY_PT,
        "the protocol"
        + _UNVERIFIABLE_EN
        + "whether the ERP has a protocol with external reference '{reference}' (booking "
        "{booking})" + _REPLAY_EN,
    ),
    "writeback.unverifiable_attach": Reason(
        frozenset({"UnverifiableStepError"}),
        "o anexo '{document}'"
        + _UNVERIFIABLE_PT
        + "se o protocolo {protocol} tem um anexo '{document}' com sha256 {sha256}"
        + _REPLAY_PT,
        "attachment '{document}'"
        + _UNVERIFIABLE_EN
        + "whether protocol {protocol} has an attachment '{document}' with sha256 {sha256}"
        + _REPLAY_EN,
    ),
    "writeback.unverifiable_forward": Reason(
        frozenset({"UnverifiableStepError"}),
        "o encaminhamento para {department}"
        + _UNVERIFIABLE_PT
        + "se o protocolo {protocol} foi encaminhado para {department} ({times} vez(es)) com o "
        "despacho '{dispatch}'" + _REPLAY_PT,
        "forward to {department}"
        + _UNVERIFIABLE_EN
        + "whether protocol {protocol} was forwarded to {department} ({times} time(s)) with the "
        "dispatch '{dispatch}'" + _REPLAY_EN,
    ),
    "writeback.foreign_reference": Reason(
        frozenset({"ContractViolationError"}),
        "{source} respondeu o protocolo {label} da referência externa '{reference}', que não é "
        "a nossa: a resposta do ERP não é confiável",
        "{source} answered protocol {label} for external reference '{reference}', not ours: "
        "the ERP's answer cannot be trusted",
    ),
    "writeback.foreign_booking": Reason(
        frozenset({"ContractViolationError"}),
        "{source} respondeu o protocolo {label} do agendamento {other}, não do {booking}: a "
        "resposta do ERP não é confiável",
        "{source} answered protocol {label} for booking {other}, not {booking}: the ERP's "
        "answer cannot be trusted",
    ),
    "writeback.foreign_number": Reason(
        frozenset({"ContractViolationError"}),
        "pedimos o protocolo {asked}, o ERP respondeu {label}",
        "asked for protocol {asked}, the ERP answered {label}",
    ),
    "config.lookup_missing": Reason(
        frozenset({"CapabilityMismatchError"}),
        "o ERP recusou a consulta por referência externa ({cause}), mas a configuração diz "
        "que ela existe: defina {setting} = false se o ERP não tiver essa consulta, ou corrija "
        "a operação de consulta no mapeamento do ERP; depois reenvie a linha",
        "the ERP refused the lookup by external reference ({cause}), but the configuration "
        "declares it: set {setting} = false if the ERP has no such lookup, or fix the lookup "
        "operation in the ERP mapping; replay the row after",
    ),
    "pack.cannot_carry": Reason(
        frozenset({"PackCannotCarryError"}),
        "o contrato do ERP ({pack}) não comporta o CNPJ alfanumérico do requerente em "
        "requerentes/requerente/cpfCnpj (CpfCnpj é {pattern}): nada foi enviado; reenvie a "
        "linha (munivideo replay) quando o ERP usar um pacote que o comporte (v2: "
        '[erp.settings] pack_version = "v2")',
        "the ERP's contract {pack} cannot carry the applicant's alphanumeric CNPJ in "
        "requerentes/requerente/cpfCnpj (CpfCnpj is {pattern}): not sent; replay the row "
        'once the ERP speaks a pack that carries it (v2: [erp.settings] pack_version = "v2")',
    ),
    "erp.failure": Reason(
        _ERP,
        "{operation}: {reason} ({detail})",
        "{operation}: {reason} ({detail})",
    ),
    "sync.unknown_service": Reason(
        frozenset({"InvalidRecordError"}),
        "o serviço '{service}' não está configurado para este município",
        "service '{service}' is not configured for this tenant",
    ),
    "record.unknown_subject": Reason(
        frozenset({"InvalidRecordError"}),
        "o serviço '{service}' não tem assunto do ERP na configuração",
        "service '{service}' has no ERP subject in the configuration",
    ),
    "sync.duplicate_id": Reason(
        frozenset({"InvalidRecordError"}),
        "{count} registros com este id na mesma página: ambíguo",
        "{count} records with this id in one page: ambiguous",
    ),
    "sync.foreign_tenant": Reason(
        frozenset({"InvalidRecordError"}),
        "o agendamento é do município {other}, não de {tenant}",
        "booking belongs to tenant {other}, not {tenant}",
    ),
    "record.unknown_booking_event": Reason(
        frozenset({"InvalidRecordError"}),
        "evento de webhook de um agendamento que este município não conhece",
        "webhook event for a booking this tenant does not know",
    ),
    "record.invalid_field": Reason(
        frozenset({"InvalidRecordError", "AmbiguousTimeError"}),
        "{kind}: dado inválido: {detail}",
        "{kind}: {detail}",
    ),
}
"""Every code -> who carries it, pt-BR and English templates."""

ERP_REASONS: dict[str, str] = {
    "the ERP refused the request": "o ERP recusou o pedido",
    "the ERP refused our credentials": "o ERP recusou nossas credenciais",
    "the ERP refused access": "o ERP negou o acesso",
    "the ERP has no such record": "o ERP não tem esse registro",
    "the ERP does not offer this operation here": "o ERP não oferece esta operação aqui",
    "the ERP reported a conflict": "o ERP informou um conflito",
    "the request is too large for the ERP": "o pedido é grande demais para o ERP",
    "the ERP refused our media type": "o ERP recusou nosso tipo de mídia",
    "the ERP could not process the request": "o ERP não conseguiu processar o pedido",
    "rate limited by the ERP": "o ERP limitou a taxa de pedidos",
    "the ERP failed with an internal error": "o ERP falhou com um erro interno",
    "the ERP does not implement this operation": "o ERP não implementa esta operação",
    "bad gateway in front of the ERP": "erro no gateway na frente do ERP",
    "the ERP is unavailable": "o ERP está indisponível",
    "gateway timeout in front of the ERP": "tempo esgotado no gateway na frente do ERP",
    "the ERP refused our XML": "o ERP recusou nosso XML",
    "the ERP refused the status change": "o ERP recusou a mudança de situação",
    "duplicate external reference": "referência externa duplicada",
    "idempotency key missing": "chave de idempotência ausente",
    "the same idempotency key is still being processed": (
        "a mesma chave de idempotência ainda está em processamento"
    ),
    "idempotency key reused with another payload": (
        "chave de idempotência reutilizada com outro conteúdo"
    ),
    "the ERP declared itself unavailable": "o ERP declarou-se indisponível",
    "the ERP declared a fault": "o ERP declarou uma falha",
    "could not connect to the ERP": "não foi possível conectar ao ERP",
    "the ERP did not answer in time": "o ERP não respondeu a tempo",
    "the connection dropped after sending": "a conexão caiu depois do envio",
    "the ERP answered with a malformed body": "o ERP respondeu com um corpo malformado",
    "the request could not be built": "não foi possível montar o pedido",
    "unexpected failure talking to the ERP": "falha inesperada na conversa com o ERP",
}
"""The transport table's reasons (:mod:`munivideo.transport.classify`) in pt-BR; a test keeps
it complete."""

RECORD_KINDS: dict[str, str] = {
    "booking": "agendamento",
    "protocol": "protocolo",
    "receipt": "recibo de protocolo",
    "document": "documento",
    "forward": "encaminhamento",
    "room": "sala",
    "cursor": "cursor",
    "status": "situação",
}
"""Mapping record kinds (``[records.<kind>]``) in pt-BR."""

_CHOICES: dict[str, Mapping[str, str]] = {"reason": ERP_REASONS, "kind": RECORD_KINDS}
_PREFIX = re.compile(r"^\[(?:record (?P<record>[^,\]]+))?(?:, )?(?:field (?P<field>[^\]]+))?\] ")

E = TypeVar("E", bound=MunivideoError)


def coded(
    error_type: type[E],
    code: str,
    *,
    record_id: str | None = None,
    field: str | None = None,
    **params: object,
) -> E:
    """An ``error_type`` whose message is ``code``'s English template filled with ``params``,
    carrying ``code`` and the (redacted) ``params`` for a localized rendering."""
    values = {name: redact(str(value)) for name, value in params.items()}
    error = error_type(REASONS[code].en.format(**values), record_id=record_id, field=field)
    error.code = code
    error.params = values
    return error


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """``template`` as an anchored pattern: each field a lazy group (a repeated field must
    repeat its text); ``reason`` and ``kind`` only match their table's phrases."""
    out, seen = ["^"], set()
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(re.escape(literal))
        if name is None:
            continue
        if name in seen:
            out.append(f"(?P={name})")
            continue
        seen.add(name)
        choices = _CHOICES.get(name)
        body = ".*?"
        if choices:
            body = "|".join(map(re.escape, sorted(choices, key=len, reverse=True)))
        out.append(f"(?P<{name}>{body})")
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


def parse(error_type: str | None, message: str) -> tuple[str, dict[str, str]] | None:
    """The (code, params) of a stored English ``message`` from an ``error_type`` error, or
    None when no template of the catalogue matches. A ``[record ..., field ...]`` prefix
    (``str(error)``) is ignored."""
    body = _PREFIX.sub("", message, count=1)
    for code, reason in REASONS.items():
        if error_type is not None and error_type not in reason.types:
            continue
        found = _pattern(reason.en).match(body)
        if found is not None:
            return code, found.groupdict()
    return None


def render(code: str, params: Mapping[str, str], locale: Locale | str) -> str:
    """``code``'s template in ``locale`` (pt-BR unless ``en``) filled with ``params``; in pt-BR
    the table phrases (``reason``, ``kind``) are translated and a ``cause`` (another error's
    message) is rendered too."""
    reason = REASONS[code]
    if str(locale) == Locale.EN.value:
        return reason.en.format(**params)
    values = dict(params)
    for name, table in _CHOICES.items():
        if name in values:
            values[name] = table.get(values[name], values[name])
    if "cause" in values:
        values["cause"] = localized(None, values["cause"], locale)
    return reason.pt_br.format(**values)


def localized(error_type: str | None, message: str, locale: Locale | str) -> str:
    """A stored reason in the reader's language: the catalogue's rendering, with the
    ``[record ..., field ...]`` prefix translated too; the message as stored when no template
    matches."""
    found = parse(error_type, message)
    if found is None:
        return message
    text = render(*found, locale)
    prefix = _PREFIX.match(message)
    if prefix is None:
        return text
    en = str(locale) == Locale.EN.value
    where = []
    if prefix.group("record"):
        where.append(f"{'record' if en else 'registro'} {prefix.group('record')}")
    if prefix.group("field"):
        where.append(f"{'field' if en else 'campo'} {prefix.group('field')}")
    return f"[{', '.join(where)}] {text}"


_LABELLED = re.compile(r"^(?P<type>[A-Z]\w*Error): (?P<message>.*)$", re.DOTALL)


def localized_entry(text: str, locale: Locale | str) -> str:
    """An audit entry a failure wrote (``ErrorType: message``, see
    :meth:`munivideo.store.port.Store.fail`) with its message localized; any other text as is."""
    found = _LABELLED.match(text)
    if found is None:
        return text
    return f"{found['type']}: {localized(found['type'], found['message'], locale)}"


__all__ = [
    "ERP_REASONS",
    "REASONS",
    "RECORD_KINDS",
    "Reason",
    "coded",
    "localized",
    "localized_entry",
    "parse",
    "render",
]
