"""Paging of changed bookings, the same for every configuration-driven adapter (REST, SOAP).

A :class:`Pager` turns the engine's :class:`~munivideo.models.Cursor` into the request
parameters of one page, and the answer back into a :class:`~munivideo.models.BookingPage`
with the next cursor. The styles are described in
:class:`munivideo.mapping.operations.PagingSpec`.

For the page, offset, link and single-call styles the cursor's ``id`` holds a small JSON
position (``{"s": since, "p": page/offset/link, "h": newest change seen}``): a scan walks the
pages from the last sync's newest change (``since``), and when it ends the newest change it saw
becomes the next scan's ``since``. A cursor whose ``id`` is empty (``munivideo sync --since``)
starts a scan at its ``updated_at``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from munivideo.mapping.erp import ErpMappers
from munivideo.mapping.operations import PagingSpec
from munivideo.mapping.paths import value_at
from munivideo.models import BookingPage, Cursor
from munivideo.transport.classify import malformed_answer
from munivideo.values import local

Key = tuple[datetime, str]
_LINK = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


@dataclass(frozen=True)
class Position:
    """Where a scan stands: its lower bound, its page token, the newest change it has seen."""

    since: Key | None = None
    token: str | int | None = None
    high: Key | None = None


def _key(raw: Any) -> Key | None:
    if not raw:
        return None
    return datetime.fromisoformat(raw[0]), str(raw[1])


def since_cursor(moment: datetime) -> Cursor:
    """The cursor that starts the next sync at ``moment`` (``munivideo sync --since``)."""
    return Cursor(updated_at=moment, id="")


def decode(cursor: Cursor | None) -> Position:
    """The scan position a cursor of the page/offset/link/none styles carries."""
    if cursor is None:
        return Position()
    if cursor.id.startswith("{"):
        try:
            doc = json.loads(cursor.id)
            return Position(_key(doc.get("s")), doc.get("p"), _key(doc.get("h")))
        except (ValueError, TypeError, AttributeError, IndexError):
            pass
    # --since, or a cursor another style wrote: a fresh scan from there.
    return Position(since=(cursor.updated_at, cursor.id))


def encode(position: Position) -> Cursor | None:
    """The cursor that stores ``position`` (None when it carries nothing)."""
    anchor = position.high or position.since
    if anchor is None:
        return None

    def key(k: Key | None) -> list[str] | None:
        return [k[0].isoformat(), k[1]] if k else None

    doc = {"s": key(position.since), "p": position.token, "h": key(position.high)}
    return Cursor(updated_at=anchor[0], id=json.dumps(doc, separators=(",", ":")))


@dataclass(frozen=True)
class PageRequest:
    """What to send for one page: parameters by name, or a whole URL (``Link`` paging)."""

    params: dict[str, Any]
    url: str | None = None


class Pager:
    """One ERP's paging (``spec``) over one dialect's mappers."""

    def __init__(self, spec: PagingSpec, mappers: ErpMappers, *, origin: str = "") -> None:
        self.spec = spec
        self.mappers = mappers
        self.origin = origin
        self._tz = mappers.booking.tz

    def _since_text(self, moment: datetime) -> str:
        here = local(moment, self._tz)
        if self.spec.since_format is None:
            return here.isoformat()
        return here.strftime(self.spec.since_format)

    def limit(self, limit: int) -> int:
        """The page size to ask for: ``limit`` clamped to ``1 .. spec.max_limit`` (the most
        the ERP serves per page, 500 unless the mapping says otherwise)."""
        return max(1, min(limit, self.spec.max_limit))

    def request(self, cursor: Cursor | None, limit: int) -> PageRequest:
        """The parameters of the page after ``cursor``."""
        spec = self.spec
        params: dict[str, Any] = {}
        if spec.limit_param:
            params[spec.limit_param] = self.limit(limit)
        if spec.style == "cursor":
            if cursor is not None and cursor.id:
                params[spec.cursor_param] = cursor.id
            elif cursor is not None and spec.since_param:
                params[spec.since_param] = self._since_text(cursor.updated_at)
            return PageRequest(params)
        if spec.style == "record":
            if cursor is not None:
                assert self.mappers.cursor is not None  # checked when the adapter is built
                params[spec.cursor_param] = self.mappers.cursor.to_erp(cursor)
            return PageRequest(params)
        position = decode(cursor)
        if position.since is not None and spec.since_param:
            params[spec.since_param] = self._since_text(position.since[0])
        if spec.style == "page":
            params[spec.page_param] = (
                position.token if isinstance(position.token, int) else spec.first_page
            )
        elif spec.style == "offset":
            params[spec.offset_param] = position.token if isinstance(position.token, int) else 0
        elif spec.style == "link" and isinstance(position.token, str):
            return PageRequest({}, url=position.token)
        return PageRequest(params)

    def items(self, answer: Any, operation: str) -> list[Any]:
        """The records of one page: the list at ``spec.items`` in the decoded answer (``""``:
        the answer itself); an empty list when the path is absent or null.

        :raises ContractViolationError: something other than a list is there (the message
            names ``operation``, ``field`` the ``items`` path).
        """
        found = value_at(answer, self.spec.items)
        if found is None:
            return []
        if not isinstance(found, list | tuple):
            raise malformed_answer(
                f"no item list at {self.spec.items!r}",
                operation=operation,
                field=self.spec.items or None,
                record_id=None,
                safe=True,
            )
        return list(found)

    def page(
        self,
        cursor: Cursor | None,
        limit: int,
        answer: Any,
        tenant_id: str,
        *,
        link: str | None = None,
        operation: str = "list_bookings",
    ) -> BookingPage:
        """The mapped page and the cursor after it.

        :param link: the answer's ``Link`` header (RFC 8288), for the ``link`` style.
        :param operation: the ERP's name for the list call, named in errors.
        :raises ContractViolationError: the answer has no item list at ``spec.items``, a count
            (``total_pages``, ``total_count``) is not a number, or the ``rel="next"`` link
            leaves the ERP's host; ``field`` names the path or ``Link``. The sync stops there
            and keeps its cursor.
        """
        spec = self.spec
        records = self.items(answer, operation)
        if spec.style == "cursor":
            return self._cursor_page(cursor, answer, records, tenant_id)
        if spec.style == "record":
            nxt = cursor
            doc = value_at(answer, spec.next_cursor or "")
            if records and isinstance(doc, Mapping):
                assert self.mappers.cursor is not None
                nxt = self.mappers.cursor.to_canonical(doc)
            more = bool(value_at(answer, spec.has_more)) if spec.has_more else False
            return self.mappers.bookings_page(records, tenant_id, next_cursor=nxt, has_more=more)
        position = decode(cursor)
        mapped = self.mappers.bookings_page(records, tenant_id, next_cursor=None, has_more=False)
        bookings = mapped.bookings
        if position.since is not None:
            bookings = tuple(b for b in bookings if (b.updated_at, b.id) > position.since)
        high = position.high
        for b in mapped.bookings:
            if high is None or (b.updated_at, b.id) > high:
                high = (b.updated_at, b.id)
        more, token = self._more(position, limit, answer, records, link, operation)
        after = Position(position.since, token, high) if more else Position(high or position.since)
        return mapped.model_copy(
            update={"bookings": bookings, "next_cursor": encode(after) or cursor, "has_more": more}
        )

    def _more(
        self,
        position: Position,
        limit: int,
        answer: Any,
        records: list[Any],
        link: str | None,
        operation: str,
    ) -> tuple[bool, str | int | None]:
        spec = self.spec
        size = self.limit(limit)
        if not records or spec.style == "none":
            return False, None
        if spec.style == "link":
            nxt = _next_link(link, self.origin, operation)
            return nxt is not None, nxt
        if spec.style == "page":
            page = position.token if isinstance(position.token, int) else spec.first_page
            if spec.total_pages:
                total = _number(answer, spec.total_pages, operation)
                return page < total - (1 - spec.first_page), page + 1
            if spec.total_count:
                seen = (page - spec.first_page) * size + len(records)
                return seen < _number(answer, spec.total_count, operation), page + 1
            return len(records) >= size, page + 1
        offset = position.token if isinstance(position.token, int) else 0
        seen = offset + len(records)
        if spec.total_count:
            return seen < _number(answer, spec.total_count, operation), seen
        return len(records) >= size, seen

    def _cursor_page(
        self, cursor: Cursor | None, answer: Any, records: list[Any], tenant_id: str
    ) -> BookingPage:
        # The cursor is opaque: Cursor.id carries the ERP's token verbatim and Cursor.updated_at
        # the last booking's change time (for operators to read).
        spec = self.spec
        token = value_at(answer, spec.next_cursor or "")
        next_cursor = cursor
        if records and isinstance(token, str | int) and str(token):
            stamp: datetime | None = None
            for record in reversed(records):
                stamp = self.mappers.updated_at_of(record)
                if stamp is not None:
                    break
            if stamp is None:
                # No record of the page has a readable change time (all of them bad): the
                # token still moves the sync past them, or they would block it for ever.
                stamp = cursor.updated_at if cursor is not None else _NO_TIME
            next_cursor = Cursor(updated_at=stamp, id=str(token))
        more = bool(value_at(answer, spec.has_more)) if spec.has_more else False
        return self.mappers.bookings_page(
            records, tenant_id, next_cursor=next_cursor, has_more=more
        )


_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""Change time of an opaque cursor after a page where no record had a readable one."""


def _number(answer: Any, path: str, operation: str) -> int:
    value = value_at(answer, path)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise malformed_answer(
            f"{path} is not a number", operation=operation, field=path, record_id=None, safe=True
        ) from None


def _next_link(header: str | None, origin: str, operation: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, only on the ERP's own host."""
    if not header:
        return None
    match = _LINK.search(header)
    if match is None:
        return None
    target: str = urljoin(origin + "/", match.group(1))
    if urlsplit(target)[:2] != urlsplit(origin)[:2]:
        raise malformed_answer(
            "the next page link leaves the ERP's host",
            operation=operation,
            field="Link",
            record_id=None,
            safe=True,
        )
    return target
