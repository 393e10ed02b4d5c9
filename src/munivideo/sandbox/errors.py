"""Errors the sandbox answers with, and the contract code and HTTP status of each."""

from __future__ import annotations

from munivideo.errors import (
    ContractViolationError,
    InvalidRecordError,
    LifecycleError,
    MunivideoError,
    NotFoundError,
    RejectedError,
    TransientError,
)


class UnauthorizedError(RejectedError):
    """Missing or wrong credentials: ``NAO_AUTORIZADO``, HTTP 401 (with ``WWW-Authenticate``)."""


class ForbiddenXmlError(RejectedError):
    """A DTD, an entity declaration or an external reference: refused before parsing further
    (``XML_PROIBIDO``, 400 on REST; a SOAP fault)."""


class DuplicateReferenceError(RejectedError):
    """Another protocol already uses this external reference (with another idempotency key):
    ``REFERENCIA_DUPLICADA``, 409; only while the behaviour has ``unique_reference``."""


class IdempotencyKeyMissingError(InvalidRecordError):
    """A create without its idempotency key (REST ``Idempotency-Key`` header):
    ``CHAVE_AUSENTE``, 400."""


class IdempotencyInProgressError(TransientError):
    """The first request with this key is still being processed: ``CHAVE_EM_ANDAMENTO``, 409
    with ``Retry-After`` (transient: try again)."""


class IdempotencyConflictError(RejectedError):
    """The key was used before with another payload: ``CHAVE_CONFLITANTE``, 422."""


class LookupUnavailableError(InvalidRecordError):
    """This ERP has no lookup of a protocol by external reference (behaviour ``lookup`` =
    ``unavailable``): it answers the way an ERP without the operation does - REST ``405 Method
    Not Allowed`` (``Allow: POST``), SOAP the unknown-operation fault - not a transient
    ``INDISPONIVEL``, so a client that declared the lookup learns its configuration is wrong
    instead of retrying forever: ``REQUISICAO_INVALIDA``, 405."""


class OutsideContractError(InvalidRecordError):
    """A booking the contracts' answers could not carry (see :mod:`munivideo.sandbox.conformance`):
    refused before it is stored: ``REQUISICAO_INVALIDA``, 422, naming the field."""


class UnsupportedMediaTypeError(InvalidRecordError):
    """The body is not in a media type the operation accepts: ``TIPO_DE_MIDIA_NAO_SUPORTADO``,
    415."""


def contract_code(error: MunivideoError) -> tuple[str, int]:
    """The contract's ``codigo`` and the REST status for ``error``, most specific class first
    (the classes above, then ``NotFoundError`` 404 ``NAO_ENCONTRADO``, ``LifecycleError`` 409
    ``TRANSICAO_INVALIDA``, ``InvalidRecordError`` 400 ``REQUISICAO_INVALIDA``,
    ``ContractViolationError`` 500 ``ERRO_INTERNO``); anything else is ``ERRO_INTERNO``/500.
    The codes are the ``codigo`` enumerations of ``erp-rest/v1`` ``openapi.yaml`` (``Problem``)
    and ``erp-soap/v1`` ``xsd/comum.xsd`` (``CodigoFalha``; the SOAP side has no
    ``CHAVE_AUSENTE`` or ``TIPO_DE_MIDIA_NAO_SUPORTADO``: its key is a required element)."""
    table: tuple[tuple[type[MunivideoError], str, int], ...] = (
        (UnauthorizedError, "NAO_AUTORIZADO", 401),
        (ForbiddenXmlError, "XML_PROIBIDO", 400),
        (DuplicateReferenceError, "REFERENCIA_DUPLICADA", 409),
        (IdempotencyKeyMissingError, "CHAVE_AUSENTE", 400),
        (IdempotencyInProgressError, "CHAVE_EM_ANDAMENTO", 409),
        (IdempotencyConflictError, "CHAVE_CONFLITANTE", 422),
        (UnsupportedMediaTypeError, "TIPO_DE_MIDIA_NAO_SUPORTADO", 415),
        (OutsideContractError, "REQUISICAO_INVALIDA", 422),
        (LookupUnavailableError, "REQUISICAO_INVALIDA", 405),
        (NotFoundError, "NAO_ENCONTRADO", 404),
        (LifecycleError, "TRANSICAO_INVALIDA", 409),
        (InvalidRecordError, "REQUISICAO_INVALIDA", 400),
        (ContractViolationError, "ERRO_INTERNO", 500),
    )
    for cls, code, status in table:
        if isinstance(error, cls):
            return code, status
    return "ERRO_INTERNO", 500
