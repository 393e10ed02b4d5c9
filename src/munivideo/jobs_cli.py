"""``munivideo sync | record | writeback | replay | status | quarantine``.

Every command takes ``--config FILE`` (repeatable: one file per tenant; ``record`` takes
exactly one) and ``--json``. Exit
codes: 0 all done, 1 something failed, is quarantined or still waiting, 2 usage/configuration.
Progress bars show on a terminal only.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from munivideo.cli import EXIT_FAILED, EXIT_OK, fail
from munivideo.errors import ConfigurationError, InvalidRecordError, MunivideoError
from munivideo.store.records import TenantStatus

if TYPE_CHECKING:
    from munivideo.api import Munivideo
    from munivideo.engine.results import RecordResult, ReplayResult, SyncResult, WritebackResult

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)
Progress = Callable[[int], None]

_config_option = click.option(
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Tenant configuration file (repeat for several tenants).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _open(configs: Sequence[Path], *, worker_id: str | None = None) -> list[Munivideo]:
    from munivideo.api import Munivideo
    from munivideo.plugins import load_plugins

    plugins = load_plugins()
    return [Munivideo.from_config(p, plugins=plugins, worker_id=worker_id) for p in configs]


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Progress | None]:
    if not enabled or not sys.stdout.isatty():
        yield None
        return
    try:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    except ModuleNotFoundError:  # the 'cli' extra is not installed: no progress bar
        yield None
        return

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} done"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def _run(
    configs: Sequence[Path],
    as_json: bool,
    work: Callable[[Munivideo, Progress | None], R],
    ok: Callable[[R], bool],
    describe: Callable[[R], str],
    label: str,
    *,
    worker_id: str | None = None,
) -> None:
    results: list[dict[str, Any]] = []
    all_ok = True
    try:
        tenants = _open(configs, worker_id=worker_id)
    except MunivideoError as exc:
        fail(exc, as_json=as_json)
        return
    try:
        for mv in tenants:
            with _progress(f"{label} {mv.tenant_id}", not as_json) as progress:
                result = work(mv, progress)
            good = ok(result)
            all_ok = all_ok and good
            results.append(result.model_dump(mode="json") | {"ok": good})
            if not as_json:
                click.secho(describe(result), fg=None if good else "yellow")
    except MunivideoError as exc:
        fail(exc, as_json=as_json)
        return
    finally:
        for mv in tenants:
            mv.close()
    if as_json:
        click.echo(json.dumps({"ok": all_ok, "tenants": results}, ensure_ascii=False, indent=2))
    raise SystemExit(EXIT_OK if all_ok else EXIT_FAILED)


@click.command()
@_config_option
@_json_option
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--max-pages", default=None, type=click.IntRange(1), help="Stop after N pages.")
@click.option(
    "--reset-cursor",
    is_flag=True,
    help="Read every booking again from the beginning (side effects are not repeated).",
)
@click.option(
    "--since",
    default=None,
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Start at bookings changed at or after this time (naive = the tenant's zone).",
)
def sync(
    configs: tuple[Path, ...],
    as_json: bool,
    page_size: int,
    max_pages: int | None,
    reset_cursor: bool,
    since: datetime | None,
) -> None:
    """Pull changed bookings from the ERP; provision rooms; send invitations."""
    if reset_cursor and since is not None:
        raise click.UsageError("--reset-cursor and --since exclude each other")

    def work(mv: Munivideo, progress: Progress | None) -> SyncResult:
        if reset_cursor or since is not None:
            mv.restart_sync(since)
        return mv.sync(page_size=page_size, max_pages=max_pages, progress=progress)

    def describe(r: SyncResult) -> str:
        return (
            f"{r.tenant_id}: {r.received} bookings in {r.pages} pages, {r.unchanged} unchanged, "
            f"{r.rooms_created} rooms, {r.invitations_sent} invitations "
            f"({r.messages_sent} messages), {r.cancellations_sent} cancellations, "
            f"{r.deferred} deferred, {r.quarantined} quarantined"
        )

    _run(configs, as_json, work, _ok, describe, "sync")


def _ok(result: SyncResult | RecordResult | WritebackResult) -> bool:
    return result.ok


def _load_json(path: Path | None, adapter: TypeAdapter[T], what: str) -> T | None:
    if path is None:
        return None
    try:
        return adapter.validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} file {path}: {exc.strerror}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRecordError(
            f"{path}: {first['msg']}", field=".".join(str(p) for p in first["loc"])
        ) from None


@click.command()
@click.option(
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Tenant configuration file (exactly one: a booking belongs to one tenant).",
)
@_json_option
@click.option("--booking", "booking_id", default=None, help="Booking id (default: the form's).")
@click.option(
    "--events",
    "events_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="JSON list of attendance events (join/leave).",
)
@click.option(
    "--form",
    "form_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="JSON outcome form filled in by the servant.",
)
def record(
    configs: tuple[Path, ...],
    as_json: bool,
    booking_id: str | None,
    events_file: Path | None,
    form_file: Path | None,
) -> None:
    """Classify one booking's attendance and put its protocol entry in the outbox."""
    from munivideo.models import AttendanceEvent, OutcomeForm

    if len(configs) != 1:
        fail(
            ConfigurationError("record takes exactly one --config", field="config"), as_json=as_json
        )
    try:
        events = _load_json(events_file, TypeAdapter(list[AttendanceEvent]), "events") or []
        form = _load_json(form_file, TypeAdapter(OutcomeForm), "form")
    except MunivideoError as exc:
        fail(exc, as_json=as_json)
        return

    def work(mv: Munivideo, _progress: Progress | None) -> RecordResult:
        return mv.record(events, form, booking_id=booking_id)

    def describe(r: RecordResult) -> str:
        if r.quarantined or r.outcome is None:
            return f"{r.tenant_id}: booking {r.booking_id} quarantined: {r.reason}"
        return (
            f"{r.tenant_id}: booking {r.booking_id} {r.outcome.value} -> outbox "
            f"#{r.outbox_id}{'' if r.created else ' (already recorded)'}"
        )

    _run(configs, as_json, work, _ok, describe, "record")


@click.command()
@_config_option
@_json_option
@click.option("--limit", default=None, type=click.IntRange(1), help="Deliver at most N rows.")
@click.option(
    "--wait",
    "wait_seconds",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="Also wait up to this long for retries that come due.",
)
@click.option("--worker-id", default=None, help="Lease owner name (default: host:pid:random).")
def writeback(
    configs: tuple[Path, ...],
    as_json: bool,
    limit: int | None,
    wait_seconds: float,
    worker_id: str | None,
) -> None:
    """Deliver due write-backs to the ERP, exactly once."""

    def work(mv: Munivideo, progress: Progress | None) -> WritebackResult:
        return mv.writeback(limit=limit, wait_seconds=wait_seconds, progress=progress)

    def describe(r: WritebackResult) -> str:
        lines = [
            f"{r.tenant_id}: {r.delivered} delivered, {r.retrying} retrying, "
            f"{r.settling} settling, "
            f"{r.dead_lettered} dead-lettered now, {r.pending_left} waiting, "
            f"{r.failed_total} failed in total, {r.requeued_stale} stale leases requeued"
        ]
        lines += [f"  error: {e}" for e in r.errors]
        return "\n".join(lines)

    _run(configs, as_json, work, _ok, describe, "writeback", worker_id=worker_id or None)


@click.command()
@_config_option
@_json_option
@click.option("--id", "item_ids", multiple=True, type=int, help="Outbox id (repeatable).")
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter of the tenant(s).")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--actor", default=None, help="Who (default: the current user).")
@click.option(
    "--landed",
    multiple=True,
    metavar="STEP",
    help="A step you found done in the ERP (create, attach:..., forward:..., status).",
)
@click.option("--absent", multiple=True, metavar="STEP", help="A step you found missing.")
@click.option(
    "--protocol",
    default=None,
    metavar="NUMBER/YEAR",
    help="The protocol you found, with --landed create.",
)
def replay(
    configs: tuple[Path, ...],
    as_json: bool,
    item_ids: tuple[int, ...],
    replay_all: bool,
    reason: str,
    actor: str | None,
    landed: tuple[str, ...],
    absent: tuple[str, ...],
    protocol: str | None,
) -> None:
    """Move dead letters back to pending, with an audit entry.

    Steps that may have landed are probed before they are re-sent. When the ERP could not be
    asked, say what you found there: --landed STEP or --absent STEP (one --id).
    """
    if bool(item_ids) == replay_all:
        fail(ConfigurationError("give --id ... or --all", field="id"), as_json=as_json)
    number_year: tuple[int, int] | None = None
    if protocol is not None:
        number, _, year = protocol.partition("/")
        if not (number.isdigit() and year.isdigit()):
            fail(ConfigurationError("--protocol is NUMBER/YEAR", field="protocol"), as_json=as_json)
        number_year = (int(number), int(year))
    who = actor or getpass.getuser()

    def work(mv: Munivideo, _progress: Progress | None) -> ReplayResult:
        return mv.replay(
            None if replay_all else list(item_ids),
            reason=reason,
            actor=who,
            landed=landed,
            absent=absent,
            protocol=number_year,
        )

    def describe(r: ReplayResult) -> str:
        return _moved(r, "replay", "replayed")

    _run(configs, as_json, work, lambda _r: True, describe, "replay")


def _moved(result: ReplayResult, verb: str, done: str) -> str:
    """``gravatai: replayed #1, #3`` or ``gravatai: nothing to replay``."""
    if not result.replayed:
        return f"{result.tenant_id}: nothing to {verb}"
    return f"{result.tenant_id}: {done} " + ", ".join(f"#{i}" for i in result.replayed)


_READABLE_ID = re.compile(r"[\w.:/-]{1,40}")
DEAD_LETTERS_SHOWN = 20
"""``status`` lists at most this many dead letters per tenant (``munivideo outbox list`` has
them all)."""


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_cursor(updated_at: datetime | None, cursor_id: str | None) -> str:
    """The sync cursor in words, as ``munivideo status`` prints it.

    ``"- (no sync yet)"`` without a cursor; otherwise the change time it stands at (UTC, to
    the second) and what marks the position: ``booking <id>`` (the last booking read, from the
    JSON position the page/offset/link styles keep, or a readable id), or ``ERP token <first
    12 characters>... (opaque)`` when the ERP's own page token is not readable text (a base64
    token, for example). A ``--since`` cursor (empty id) reads ``changes from <time> (--since)``.
    """
    if updated_at is None:
        return "- (no sync yet)"
    when, ident, page = _utc(updated_at), cursor_id or "", ""
    if ident.startswith("{"):
        from munivideo.mapping.paging import decode
        from munivideo.models import Cursor

        position = decode(Cursor(updated_at=updated_at, id=ident))
        key = position.high or position.since
        if key is not None and key[1] != ident:
            when, ident = _utc(key[0]), key[1]
            page = "" if position.token is None else f", next page {position.token}"
    if not ident:
        return f"changes from {when} (--since){page}"
    if _READABLE_ID.fullmatch(ident):
        return f"changes up to {when}, booking {ident}{page}"
    return f"changes up to {when}, ERP token {ident[:12]}... (opaque)"


class DeadLetter(BaseModel):
    """A write-back given up on (outbox state ``failed``) and why, as ``status`` lists it."""

    id: int
    booking_id: str
    attempts: int
    error_type: str | None = None
    #: The last error's message (typed errors name the record and field).
    error: str | None = None


class StatusView(TenantStatus):
    """``munivideo status`` for one tenant: the store's :class:`TenantStatus` (same fields in
    ``--json``), the cursor in words (:func:`describe_cursor`) and up to
    :data:`DEAD_LETTERS_SHOWN` dead letters with their reasons."""

    cursor: str = "-"
    dead_letters: list[DeadLetter] = Field(default_factory=list)


@click.command()
@_config_option
@_json_option
@click.option("--id", "item_ids", multiple=True, type=int, help="Outbox id (repeatable).")
@click.option("--all", "requeue_all", is_flag=True, help="Every pending row of the tenant(s).")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--actor", default=None, help="Who (default: the current user).")
def requeue(
    configs: tuple[Path, ...],
    as_json: bool,
    item_ids: tuple[int, ...],
    requeue_all: bool,
    reason: str,
    actor: str | None,
) -> None:
    """Make pending rows due now (e.g. after a long Retry-After), keeping their history."""
    if bool(item_ids) == requeue_all:
        fail(ConfigurationError("give --id ... or --all", field="id"), as_json=as_json)
    who = actor or getpass.getuser()
    _run(
        configs,
        as_json,
        lambda mv, _p: mv.requeue(
            None if requeue_all else list(item_ids), reason=reason, actor=who
        ),
        lambda _r: True,
        lambda r: _moved(r, "requeue", "requeued"),
        "requeue",
    )


@click.command()
@_config_option
@_json_option
def status(configs: tuple[Path, ...], as_json: bool) -> None:
    """Cursor, bindings, outbox by state (with stale leases) and quarantine, per tenant."""

    def ok(s: TenantStatus) -> bool:
        o = s.outbox
        return not (o.pending or o.in_flight or o.failed or o.stale_leases or s.quarantined)

    def work(mv: Munivideo, _progress: Progress | None) -> StatusView:
        from munivideo.store import OutboxState

        found = mv.status()
        failed = (
            mv.outbox(OutboxState.FAILED, limit=DEAD_LETTERS_SHOWN) if found.outbox.failed else []
        )
        return StatusView(
            **found.model_dump(),
            cursor=describe_cursor(found.cursor_updated_at, found.cursor_id),
            dead_letters=[
                DeadLetter(
                    id=i.id,
                    booking_id=i.booking_id,
                    attempts=i.attempts,
                    error_type=i.last_error_type,
                    error=i.last_error,
                )
                for i in failed
            ],
        )

    def describe(s: StatusView) -> str:
        lines = [
            f"{s.tenant_id}: cursor: {s.cursor}; {s.bindings} bookings bound; outbox "
            f"{s.outbox.pending} pending, {s.outbox.in_flight} in flight "
            f"({s.outbox.stale_leases} stale), {s.outbox.delivered} delivered, "
            f"{s.outbox.failed} failed; {s.quarantined} quarantined"
        ]
        lines += [
            f"  dead letter #{d.id} booking {d.booking_id} after {d.attempts} "
            f"attempt{'' if d.attempts == 1 else 's'}: "
            f"{d.error_type or 'error'}: {d.error or '-'}"
            for d in s.dead_letters
        ]
        if s.outbox.failed > len(s.dead_letters):
            lines.append(
                f"  ... {s.outbox.failed - len(s.dead_letters)} more: munivideo outbox list"
            )
        if s.dead_letters:
            lines.append("  (munivideo replay --id N --reason ... puts one back in the queue)")
        return "\n".join(lines)

    _run(configs, as_json, work, ok, describe, "status")


class _QuarantineList(BaseModel):
    tenant_id: str
    items: list[dict[str, Any]]


@click.command()
@_config_option
@_json_option
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved records.")
@click.option("--raw", "show_raw", is_flag=True, help="Include the raw payload (personal data).")
def quarantine(
    configs: tuple[Path, ...], as_json: bool, include_resolved: bool, show_raw: bool
) -> None:
    """Records that could not be processed, with record id, field and reason."""

    def work(mv: Munivideo, _progress: Progress | None) -> _QuarantineList:
        items = mv.quarantine(include_resolved=include_resolved)
        exclude = None if show_raw else {"raw"}
        return _QuarantineList(
            tenant_id=mv.tenant_id,
            items=[i.model_dump(mode="json", exclude=exclude) for i in items],
        )

    def describe(q: _QuarantineList) -> str:
        resolved = sum(1 for i in q.items if i["resolved_at"])
        lines = [
            f"{q.tenant_id}: {len(q.items) - resolved} quarantined"
            + (f", {resolved} resolved" if resolved else "")
        ]
        lines += [
            f"  #{i['id']} {i['kind']} {i['record_id']} [{i['field'] or '-'}] {i['reason']} "
            f"(x{i['occurrences']})" + (f" resolved {i['resolved_at']}" if i["resolved_at"] else "")
            for i in q.items
        ]
        return "\n".join(lines)

    _run(
        configs,
        as_json,
        work,
        lambda q: not any(i["resolved_at"] is None for i in q.items),
        describe,
        "quarantine",
    )
