"""The sandbox FHIR server's data: versioned resources with history, in memory.

Every write makes a new version (``meta.versionId`` 1, 2, ...; ``meta.lastUpdated`` strictly
increasing), every version stays readable (``vread``, ``_history``). Writes inside
:meth:`FhirStore.atomic` are all-or-nothing (transaction bundles). :attr:`FhirStore.effects`
counts the writes the server executed, per interaction and type, so a test sees a duplicate
instead of trusting an identifier. No global state: one store per sandbox.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Resource = dict[str, Any]


class FhirError(Exception):
    """An interaction the server refuses: rendered as an OperationOutcome with ``status``.

    :param code: the OperationOutcome issue type (``not-found``, ``conflict``, ``invalid``...).
    :param expression: the element concerned (FHIRPath-ish), when known.
    """

    def __init__(self, status: int, code: str, diagnostics: str, expression: str | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression


@dataclass(frozen=True)
class Version:
    """One stored version of one resource (``resource`` is None for a deletion)."""

    type: str
    id: str
    version: int
    last_updated: datetime
    resource: Resource | None
    method: str

    @property
    def etag(self) -> str:
        """The weak ETag FHIR uses for this version: ``W/"<versionId>"``."""
        return f'W/"{self.version}"'

    @property
    def location(self) -> str:
        """``Type/id/_history/<versionId>`` (relative to the FHIR base)."""
        return f"{self.type}/{self.id}/_history/{self.version}"


def instant(moment: datetime) -> str:
    """A FHIR ``instant`` in UTC with microseconds (what ``meta.lastUpdated`` carries)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_if_match(header: str) -> int:
    """``W/"3"`` (or ``"3"``, ``3``) -> 3; anything else is a 400."""
    text = header.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise FhirError(400, "invalid", f"If-Match {header!r} is not a version ETag", "If-Match")
    return int(text)


class FhirStore:
    """Versioned FHIR resources; thread-safe. ``seed`` fills it on first use after a reset."""

    def __init__(self, seed: Callable[[FhirStore], None] | None = None) -> None:
        self._lock = threading.RLock()
        self._seed = seed
        self._seeded = False
        self._current: dict[tuple[str, str], Version] = {}
        self._history: list[Version] = []
        self._next_id = 1
        self._last = datetime.min.replace(tzinfo=UTC)
        #: Writes executed, e.g. ``effects["create:Encounter"]``; reset with the data.
        self.effects: Counter[str] = Counter()

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self, seed: Callable[[FhirStore], None] | None = None) -> None:
        """Drop everything; the seed (this one, or the one given at construction) loads lazily."""
        with self._lock:
            self._current.clear()
            self._history.clear()
            self._next_id = 1
            self.effects.clear()
            if seed is not None:
                self._seed = seed
            self._seeded = False

    def _ensure_seeded(self) -> None:
        if self._seeded:
            return
        self._seeded = True
        if self._seed is not None:
            self._seed(self)
            self.effects.clear()

    def now(self) -> datetime:
        """Strictly increasing UTC time."""
        with self._lock:
            now = datetime.now(UTC)
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All writes inside happen, or none does (the lock is held throughout)."""
        with self._lock:
            self._ensure_seeded()
            saved = (
                dict(self._current),
                list(self._history),
                self._next_id,
                Counter(self.effects),
            )
            try:
                yield
            except BaseException:
                self._current, self._history, self._next_id, self.effects = saved
                raise

    # -- reads ----------------------------------------------------------------------------------

    def read(self, type_: str, id_: str) -> Version:
        """The current version; :class:`FhirError` 404 if unknown, 410 if deleted."""
        with self._lock:
            self._ensure_seeded()
            found = self._current.get((type_, id_))
        if found is None:
            raise FhirError(404, "not-found", f"{type_}/{id_} is not known", "id")
        if found.resource is None:
            raise FhirError(410, "deleted", f"{type_}/{id_} was deleted", "id")
        return found

    def vread(self, type_: str, id_: str, version: int) -> Version:
        """One version of a resource; :class:`FhirError` 404 if there is no such version."""
        for v in self.history(type_, id_):
            if v.version == version:
                return v
        raise FhirError(404, "not-found", f"{type_}/{id_} has no version {version}", "vid")

    def history(
        self, type_: str | None = None, id_: str | None = None, since: datetime | None = None
    ) -> list[Version]:
        """Newest first, as FHIR history bundles list them."""
        with self._lock:
            self._ensure_seeded()
            if type_ is not None and id_ is not None and (type_, id_) not in self._current:
                raise FhirError(404, "not-found", f"{type_}/{id_} is not known", "id")
            found = [
                v
                for v in self._history
                if (type_ is None or v.type == type_)
                and (id_ is None or v.id == id_)
                and (since is None or v.last_updated >= since)
            ]
        return found[::-1]

    def current(self, type_: str) -> list[Version]:
        """Every live resource of ``type_``, in creation order."""
        with self._lock:
            self._ensure_seeded()
            return [
                v for (t, _), v in self._current.items() if t == type_ and v.resource is not None
            ]

    # -- writes ---------------------------------------------------------------------------------

    def allocate_id(self, type_: str) -> str:
        """A fresh server-assigned id (a transaction needs ids before it writes)."""
        with self._lock:
            self._ensure_seeded()
            while (type_, str(self._next_id)) in self._current:
                self._next_id += 1
            self._next_id += 1
            return str(self._next_id - 1)

    def create(
        self, type_: str, resource: Resource, *, id_: str | None = None, at: datetime | None = None
    ) -> Version:
        """Store a new resource; the server assigns the id unless ``id_`` is given (seeding)."""
        with self._lock:
            self._ensure_seeded()
            if id_ is None:
                id_ = self.allocate_id(type_)
            elif (type_, id_) in self._current:
                raise FhirError(409, "duplicate", f"{type_}/{id_} already exists", "id")
            version = self._put(type_, id_, 1, resource, "POST", at)
            self.effects[f"create:{type_}"] += 1
            return version

    def update(
        self,
        type_: str,
        id_: str,
        resource: Resource,
        *,
        if_match: int | None = None,
        at: datetime | None = None,
    ) -> tuple[Version, bool]:
        """Store a new version (or create at ``id_``); returns it and whether it was created.

        ``if_match``: the version the client last saw; a mismatch is a 412 (optimistic lock).
        """
        with self._lock:
            self._ensure_seeded()
            old = self._current.get((type_, id_))
            if if_match is not None and (old is None or old.version != if_match):
                have = "none" if old is None else str(old.version)
                raise FhirError(
                    412,
                    "conflict",
                    f"{type_}/{id_} is at version {have}, not {if_match}",
                    "If-Match",
                )
            created = old is None or old.resource is None
            number = 1 if old is None else old.version + 1
            version = self._put(type_, id_, number, resource, "PUT", at)
            self.effects[f"{'create' if created else 'update'}:{type_}"] += 1
            return version, created

    def _put(
        self,
        type_: str,
        id_: str,
        number: int,
        resource: Resource,
        method: str,
        at: datetime | None,
    ) -> Version:
        stamp = at or self.now()
        body = copy.deepcopy(resource)
        body["resourceType"] = type_
        body["id"] = id_
        meta = dict(body.get("meta") or {})
        meta["versionId"] = str(number)
        meta["lastUpdated"] = instant(stamp)
        body["meta"] = meta
        version = Version(type_, id_, number, stamp, body, method)
        self._current[(type_, id_)] = version
        self._history.append(version)
        return version
