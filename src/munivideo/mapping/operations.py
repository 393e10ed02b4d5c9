"""How a configuration-driven adapter calls each port operation, and how the ERP pages.

A mapping file's ``[operations.<name>]`` tables say, per operation of
:class:`munivideo.ports.ErpAdapter`, which HTTP method and path (REST) or which SOAP operation
and element paths to use; ``[paging]`` says how changed bookings are paged. Every value placed
in a URL path is one percent-encoded segment (:func:`path_segment`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from munivideo.errors import MunivideoError, RejectedError
from munivideo.mapping.formats import check_format
from munivideo.transport.classify import malformed_answer

#: Operations a configuration may describe, and the placeholders each may use.
OPERATIONS: dict[str, frozenset[str]] = {
    "list_bookings": frozenset({"limit", "cursor", "page", "offset", "since"}),
    "get_booking": frozenset({"booking_id"}),
    "update_status": frozenset({"booking_id", "status", "note"}),
    "room_link": frozenset({"booking_id"}),
    "create_protocol": frozenset({"booking_id", "reference", "key"}),
    "find_protocol": frozenset({"reference"}),
    "attach_document": frozenset({"number", "year", "erp_id", "reference", "key"}),
    "forward_protocol": frozenset({"number", "year", "erp_id", "reference", "key"}),
    "get_protocol": frozenset({"number", "year", "erp_id", "reference"}),
}
"""Operation name -> the placeholders its templates may use."""

_FULL = re.compile(r"^\{([a-z_]+)\}$")


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def path_segment(value: object) -> str:
    """``value`` as exactly one URL path segment: every reserved character percent-encoded
    (``/`` becomes ``%2F``, ``?`` ``%3F``), so no value can reach another path (booking
    ``../../../admin/usuarios`` stays one segment).

    :raises ValueError: for an empty value (it would merge two segments) and for ``.`` or
        ``..``: URLs remove dot segments (RFC 3986 5.2.4, and HTTP clients do it before
        sending even when encoded), so no encoding keeps them one segment.
    """
    text = str(value)
    if not text:
        raise ValueError("an empty value cannot be a path segment")
    if text in (".", ".."):
        raise ValueError(f"{text!r} cannot be a path segment (URLs remove dot segments)")
    return quote(text, safe="")


def expand_path(template: str, values: Mapping[str, Any]) -> str:
    """The template with each ``{name}`` replaced by :func:`path_segment` of its value.

    :raises RejectedError: naming the placeholder, when a value cannot be one segment.
    """
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name:
            try:
                out.append(path_segment(values[name]))
            except ValueError as exc:
                raise RejectedError(
                    str(exc), record_id=str(values[name]) or None, field=name
                ) from None
    return "".join(out)


def expand_value(template: Any, values: Mapping[str, Any]) -> Any:
    """A query/argument value: ``"{name}"`` alone keeps the value's type (None drops the
    parameter), text around placeholders makes text, anything else is a constant."""
    if not isinstance(template, str):
        return template
    whole = _FULL.match(template)
    if whole:
        return values.get(whole.group(1))
    if not placeholders(template):
        return template
    return template.format_map({k: "" if v is None else v for k, v in values.items()})


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OperationSpec(_Spec):
    """One operation of the ERP port, as this ERP offers it.

    REST: ``method``, ``path`` (placeholders become encoded segments), ``query``, ``headers``,
    ``success`` statuses, ``not_found`` statuses, ``idempotency_header``. SOAP: ``operation``
    (its name in the WSDL), ``service`` (``bookings`` or ``protocols`` binding) and ``args``
    (element path -> template). Both: ``body`` names the record kind (``records.<kind>``) the
    request carries, placed at ``body_path`` (the whole body when empty); ``result`` is where
    the answer's record or item list sits (empty: the whole answer); ``result_record`` the
    record kind that reads it.
    """

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = ""
    query: dict[str, str | int | bool] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    success: tuple[int, ...] = (200, 201, 202, 204)
    not_found: tuple[int, ...] = (404,)
    idempotency_header: str | None = None
    operation: str | None = None
    service: Literal["bookings", "protocols"] = "bookings"
    args: dict[str, str | int | bool] = Field(default_factory=dict)
    body: str | None = None
    body_path: str = ""
    result: str = ""
    result_record: str | None = None
    #: ``get_protocol`` only: where the protocol's attachment and routing lists sit.
    attachments: str = ""
    routing: str = ""

    def malformed_result(
        self, name: str, problem: str, record_id: str, *, safe: bool
    ) -> MunivideoError:
        """The typed error for an answer to operation ``name`` whose result (at ``result``,
        named as the field; ``$`` for the whole answer) is not the record it should be: a
        :class:`~munivideo.errors.ContractViolationError` on a read (``safe``), an
        :class:`~munivideo.errors.AmbiguousError` on a create
        (:func:`munivideo.transport.classify.malformed_answer`)."""
        return malformed_answer(
            problem,
            operation=self.operation or name,
            field=self.result or "$",
            record_id=record_id,
            safe=safe,
        )

    def check(self, name: str) -> None:
        """Refuse an unknown operation or a placeholder the operation does not offer."""
        if name not in OPERATIONS:
            raise ValueError(f"unknown operation {name!r} (known: {', '.join(sorted(OPERATIONS))})")
        allowed = OPERATIONS[name]
        used: set[str] = placeholders(self.path)
        for template in (*self.query.values(), *self.args.values(), *self.headers.values()):
            if isinstance(template, str):
                used |= placeholders(template)
        unknown = sorted(used - allowed)
        if unknown:
            raise ValueError(
                f"operation {name!r} has no placeholder {', '.join(unknown)} "
                f"(it offers: {', '.join(sorted(allowed))})"
            )
        if any(not 100 <= s <= 599 for s in (*self.success, *self.not_found)):
            raise ValueError(f"operation {name!r}: HTTP statuses lie in 100..599")


PagingStyle = Literal["cursor", "record", "page", "offset", "link", "none"]


class PagingSpec(_Spec):
    """How the ERP pages changed bookings (``[paging]``).

    * ``cursor``: an opaque token (``cursor_param`` in, ``next_cursor`` + ``has_more`` out);
    * ``record``: a cursor record mapped by ``records.cursor`` (``cursor_param`` in,
      ``next_cursor`` out);
    * ``page``: ``page_param`` from ``first_page``; the end from ``total_pages``, or
      ``total_count``, or a short page;
    * ``offset``: ``offset_param``; the end from ``total_count`` or a short page;
    * ``link``: the ``Link: <...>; rel="next"`` header (same host only);
    * ``none``: one call answers everything.

    ``since_param`` (any style) asks only for bookings changed at or after the last sync's
    newest change, written with ``since_format`` (strftime, the tenant's zone; default
    RFC 3339 with offset). Records at or before that position are dropped on our side too.
    """

    style: PagingStyle
    items: str = ""
    limit_param: str | None = None
    max_limit: int = Field(default=500, ge=1, le=10_000)
    cursor_param: str = "cursor"
    next_cursor: str | None = None
    has_more: str | None = None
    page_param: str = "page"
    first_page: int = Field(default=1, ge=0)
    total_pages: str | None = None
    total_count: str | None = None
    offset_param: str = "offset"
    since_param: str | None = None
    since_format: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> PagingSpec:
        if self.style in ("cursor", "record") and self.next_cursor is None:
            raise ValueError(f"paging style {self.style!r} needs next_cursor (where it is)")
        if self.style in ("page", "offset", "cursor") and self.limit_param is None:
            raise ValueError(f"paging style {self.style!r} needs limit_param")
        if self.total_pages is not None and self.style != "page":
            raise ValueError("total_pages works with paging style 'page'")
        if self.total_count is not None and self.style not in ("page", "offset"):
            raise ValueError("total_count works with paging styles 'page' and 'offset'")
        if self.since_format is not None:
            check_format(self.since_format, "datetime")
        return self
