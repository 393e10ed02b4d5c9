"""``munivideo demo``: the whole attendance cycle on the embedded sandbox ERP, offline.

Starts the sandbox in-process with the tax office's seed, syncs the bookings (rooms, invitations
as ``.eml`` + ``.ics`` in ``<out>/outbox``), reschedules one booking and cancels another, plays
the day's attendance (including a citizen no-show, a technical failure and a demand forwarded to
the debt department), writes back under injected faults (including "commit, then drop the
connection") and reads the ERP back to check that every attendance has exactly one protocol.
Exit 0 when that holds, 1 when it does not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, Field

from munivideo.cli import EXIT_FAILED, EXIT_OK, fail
from munivideo.errors import MunivideoError

DEFAULT_FAULTS = (
    "criarProtocolo=drop_after_commit@0.1,criarProtocolo=error:502@0.05,"
    "anexarDocumento=drop_after_commit@0.1,tramitarProtocolo=drop_after_commit@0.1,"
    "atualizarSituacao=drop@0.1,*=unavailable:0@0.05"
)
"""About one write in five fails; half of those failures commit in the ERP before the answer is
lost, which is the case that duplicates protocols in naive integrations."""

SECRETS = {
    "MUNIVIDEO_DEMO_ERP_SECRET": "sandbox-secret",
    "MUNIVIDEO_DEMO_JITSI_SECRET": "demo-only-jitsi-secret-not-for-production",
}
RESCHEDULED = "AG-000003"
CANCELLED = "AG-000004"
NO_SHOW = "AG-000002"
TECHNICAL_FAILURE = "AG-000006"
FORWARDED = "AG-000005"


ERP_CODES: dict[str, str] = {
    "AG": "requested (no servant or slot confirmed yet: no room)",
    "CF": "confirmed",
    "RM": "rescheduled (confirmed at a new time)",
    "CA": "cancelled (no room)",
    "AT": "attended",
    "FA": "citizen did not show up",
    "FS": "servant did not show up",
    "FT": "technical failure",
}
"""The sandbox ERP's booking status codes (``situacao``), also its attendance results
(``resultadoAtendimento``): the legend the demo prints under its table."""

FAULT_KINDS: tuple[tuple[str, str], ...] = (
    ("drop_after_commit", "the ERP did the write, then the connection was cut before the answer"),
    ("error_after_commit", "the ERP did the write, then answered with an HTTP error"),
    ("timeout", "the ERP did the write too slowly: the engine stopped waiting"),
    ("malformed", "the ERP did the write, then answered with a truncated body"),
    ("drop", "the connection was cut before the ERP did anything"),
    ("error", "the ERP answered with an HTTP error (nothing written)"),
    ("fault", "the ERP answered with a contract error (nothing written)"),
    ("unavailable", "the ERP answered 503 'unavailable, retry later' (nothing written)"),
    ("ratelimit", "the ERP answered 429 'too many requests' (nothing written)"),
    ("latency", "the ERP answered late, but normally"),
)
"""Fault kind of a ``--faults`` rule (its action, see :mod:`munivideo.sandbox.faults`) -> what
it does to a write, in words."""

OUTCOME_WORDS: dict[str, str] = {
    "attended": "attended",
    "citizen_no_show": "citizen did not show up",
    "servant_no_show": "servant did not show up",
    "technical_failure": "technical failure",
    "cancelled": "cancelled",
}
"""Attendance outcome (``munivideo.models.Outcome`` value) -> words for the summary."""


class ProtocolRow(BaseModel):
    """One protocol as the demo read it back from the sandbox ERP: ``protocol`` is
    ``number/year``, ``outcome`` the ERP's outcome field, ``attachments`` how many documents
    are on it, ``forwards`` the department codes it was routed to, ``booking_status`` the ERP's
    status code of the booking afterwards."""

    booking_id: str
    protocol: str
    outcome: str
    attachments: int
    forwards: list[str]
    booking_status: str


class DemoReport(BaseModel):
    """What ``munivideo demo`` did and found, also written as ``<out>/report.json``.

    Counts of the cycle (bookings, rooms, invitations, messages, attendances by outcome,
    deliveries, retries after injected faults, ``seconds`` of wall-clock time), then the
    auditor's view: ``protocols`` read back from the ERP, and the lists that must be empty for
    ``ok``: attendances with no protocol (``missing``), with more than one (``duplicated``),
    protocols nobody recorded (``unexpected``), bookings left in the wrong status
    (``wrong_status``), ERP effects not executed exactly once (``effects_not_once``).
    """

    ok: bool = False
    seconds: float = 0.0
    output: str
    video_provider: str = ""
    bookings: int = 0
    #: The ERP's booking ids by status code before the first sync (``{"AG": ["AG-000007",
    #: ...], "CF": [...]}``; codes in :data:`ERP_CODES`).
    erp_statuses: dict[str, list[str]] = Field(default_factory=dict)
    rooms: int = 0
    invitations: int = 0
    messages: int = 0
    rooms_closed: int = 0
    invitations_written: int = 0
    calendar_files: int = 0
    rescheduled: str = RESCHEDULED
    cancelled: str = CANCELLED
    attendances: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)
    delivered: int = 0
    retries: int = 0
    faults: str = ""
    faults_fired: dict[str, int] = Field(default_factory=dict)
    protocols: list[ProtocolRow] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    duplicated: list[str] = Field(default_factory=list)
    unexpected: list[str] = Field(default_factory=list)
    wrong_status: list[str] = Field(default_factory=list)
    #: Effects the ERP executed other than exactly once ("AG-000005 attach:<sha256> x2"),
    #: counted by the sandbox itself, not read back through a unique constraint.
    effects_not_once: list[str] = Field(default_factory=list)


def demo_config_text() -> str:
    """The demo tenant's TOML: ``examples/demo.toml`` of a source checkout, else the copy
    shipped with the package."""
    checkout = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    from importlib import resources

    return resources.files("munivideo").joinpath("_demo.toml").read_text(encoding="utf-8")


def _fill(value: Any, subst: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for key, repl in subst.items():
            value = value.replace("{" + key + "}", repl)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, subst) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, subst) for v in value]
    return value


def _fresh(out: Path) -> None:
    """Remove what an earlier demo run left (only the files the demo itself writes)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "outbox", ignore_errors=True)
    for name in ("munivideo.db", "munivideo.db-wal", "munivideo.db-shm", "report.json"):
        (out / name).unlink(missing_ok=True)


def run_demo(
    out: Path,
    *,
    faults: str = DEFAULT_FAULTS,
    fault_seed: int = 2024,
    say: Callable[[str], None] = lambda _m: None,
) -> DemoReport:
    """Run the demo into ``out`` and return its report (``report.ok`` is the invariant)."""
    from munivideo.api import Munivideo
    from munivideo.config import parse_config
    from munivideo.models import OUTCOME_STATUS
    from munivideo.plugins import load_plugins
    from munivideo.sandbox import Sandbox
    from munivideo.store import OutboxState

    started = time.monotonic()
    out = out.resolve()
    _fresh(out)
    report = DemoReport(output=str(out), faults=faults)
    with Sandbox(dialect="both", seed="tax-office", port=0) as sb:
        for booking in sb.bookings():
            report.erp_statuses.setdefault(booking["situacao"], []).append(booking["id"])
        say(f"sandbox ERP on {sb.base_url} (tax-office seed: {len(sb.bookings())} bookings)")
        raw = tomllib.loads(demo_config_text())
        data = _fill(raw, {"sandbox": sb.base_url, "out": out.as_posix()})
        plugins = load_plugins()
        if "jitsi" not in plugins.video_providers:
            from munivideo.sandbox import rooms as demo_rooms

            plugins.add(demo_rooms, name="munivideo.demo-rooms", source="builtin", version="demo")
            data["video"] = {"provider": "demo-rooms", "settings": {}}
            say("video provider 'jitsi' is not installed: using the demo's placeholder rooms")
        config = parse_config(data, source="examples/demo.toml", env={**os.environ, **SECRETS})
        report.video_provider = config.video.provider
        with Munivideo.from_config(config, plugins=plugins) as mv:
            first = mv.sync()
            report.bookings = first.bound
            report.rooms = first.rooms_created
            report.invitations = first.invitations_sent
            report.messages = first.messages_sent
            say(
                f"sync: {first.bound} bookings bound, {first.rooms_created} rooms, "
                f"{first.invitations_sent} invitations ({first.messages_sent} messages)"
            )
            moved = mv.engine.store.get_binding(config.tenant.id, RESCHEDULED)
            assert moved is not None
            day = moved.booking.start.astimezone(_sp()).date().isoformat()
            sb.reschedule_booking(RESCHEDULED, day, "16:00", "16:30")
            sb.cancel_booking(CANCELLED, "Cidadão pediu o cancelamento pelo portal.")
            second = mv.sync()
            report.rooms_closed = second.rooms_closed
            say(
                f"sync after changes: {second.rooms_updated} room moved, "
                f"{second.rooms_closed} room closed, {second.invitations_sent} new invitation, "
                f"{second.cancellations_sent} cancellation, {second.unchanged} unchanged"
            )

            recorded = _play_the_day(mv, say)
            report.attendances = len(recorded)
            report.outcomes = dict(Counter(recorded.values()))

            sb.inject(faults, seed=fault_seed)
            say(f"faults injected: {faults}")
            result = mv.writeback(wait_seconds=40)
            report.delivered = result.delivered
            report.retries = result.retrying
            report.faults_fired = {
                str(r["rule"]): int(r["fired"])
                for r in sb.faults()["rules"]  # type: ignore[attr-defined]
            }
            sb.inject("")
            say(
                f"writeback: {result.delivered} delivered, {result.retrying} retried later after "
                f"faults, {result.pending_left} waiting, {result.failed_total} failed"
            )
            delivered = {i.booking_id for i in mv.outbox(OutboxState.DELIVERED)}

        # Read everything back from the ERP, as an auditor would.
        by_ref = Counter(p["referenciaExterna"] for p in sb.protocols())
        erp_bookings = {b["id"]: b for b in sb.bookings()}
        status_code = {
            "attended": "AT",
            "no_show": "FA",
            "servant_no_show": "FS",
            "failed": "FT",
            "cancelled": "CA",
        }
        for protocol in sorted(sb.protocols(), key=lambda p: (p["ano"], p["numero"])):
            booking_id = protocol["idAgendamento"]
            report.protocols.append(
                ProtocolRow(
                    booking_id=booking_id,
                    protocol=f"{protocol['numero']}/{protocol['ano']}",
                    outcome=protocol["resultadoAtendimento"],
                    attachments=len(protocol["anexos"]),
                    forwards=[t["codigoDepartamentoDestino"] for t in protocol["tramitacoes"]],
                    booking_status=erp_bookings[booking_id]["situacao"],
                )
            )
        for booking_id, outcome in recorded.items():
            ref = f"munivideo:{config.tenant.id}:{booking_id}"
            if by_ref[ref] == 0:
                report.missing.append(booking_id)
            elif by_ref[ref] > 1:
                report.duplicated.append(booking_id)
            expected = status_code[OUTCOME_STATUS[outcome].value]
            if erp_bookings[booking_id]["situacao"] != expected:
                report.wrong_status.append(booking_id)
        effects = sb.effects()
        for booking_id in recorded:
            steps = effects.get(f"munivideo:{config.tenant.id}:{booking_id}", {"create": 0})
            report.effects_not_once += [
                f"{booking_id} {step} x{n}" for step, n in steps.items() if n != 1
            ]
        expected_refs = {f"munivideo:{config.tenant.id}:{b}" for b in recorded}
        report.unexpected = sorted(set(by_ref) - expected_refs)
        report.invitations_written = len(list((out / "outbox").rglob("*.eml")))
        report.calendar_files = sum(
            1 for p in (out / "outbox").rglob("*.eml") if b"text/calendar" in p.read_bytes()
        )
        report.ok = (
            not report.missing
            and not report.duplicated
            and not report.unexpected
            and not report.wrong_status
            and not report.effects_not_once
            and delivered == set(recorded)
            and len(report.protocols) == len(recorded)
        )
    report.seconds = round(time.monotonic() - started, 2)
    (out / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return report


def _sp() -> Any:
    from munivideo.values import SAO_PAULO

    return SAO_PAULO


def _play_the_day(mv: Any, say: Callable[[str], None]) -> dict[str, Any]:
    """Join/leave events and outcome forms for every booking that took place."""
    from munivideo.models import (
        BookingStatus,
        EventKind,
        ForwardedDemand,
        Outcome,
        OutcomeForm,
        Role,
        VerifiedDocument,
    )

    def doc(name: str, kind: str) -> VerifiedDocument:
        return VerifiedDocument(
            name=name, kind=kind, sha256=hashlib.sha256(name.encode()).hexdigest(), size=48_213
        )

    recorded: dict[str, Outcome] = {}
    bindings = [mv.engine.store.get_binding(mv.tenant_id, f"AG-{n:06d}") for n in range(1, 31)]
    for binding in bindings:
        if binding is None or binding.booking.servant is None:
            continue
        booking = binding.booking
        if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.RESCHEDULED):
            continue
        servant = booking.servant
        assert servant is not None
        event = functools.partial(_event, booking)

        servant_in = [event(1, Role.SERVANT, EventKind.JOIN, -3)]
        servant_out = [event(9, Role.SERVANT, EventKind.LEAVE, 28)]
        citizen = [
            event(2, Role.CITIZEN, EventKind.JOIN, 1),
            event(3, Role.CITIZEN, EventKind.LEAVE, 24),
        ]
        documents: tuple[VerifiedDocument, ...] = (doc(f"{booking.id}-identidade.pdf", "rg"),)
        demands: tuple[ForwardedDemand, ...] = ()
        summary = "Dúvidas do cidadão respondidas durante o atendimento por vídeo."
        technical = False
        if booking.id == NO_SHOW:
            citizen, documents, summary = [], (), "O cidadão não entrou na sala."
        elif booking.id == TECHNICAL_FAILURE:
            citizen = [
                event(2, Role.CITIZEN, EventKind.JOIN, 1),
                event(3, Role.CITIZEN, EventKind.LEAVE, 2),
            ]
            technical, documents = True, ()
            summary = "A conexão do cidadão caiu duas vezes; atendimento a remarcar."
        elif booking.id == FORWARDED:
            documents = (
                doc(f"{booking.id}-certidao-divida.pdf", "certidao"),
                doc(f"{booking.id}-identidade.pdf", "rg"),
            )
            demands = (
                ForwardedDemand(
                    department_code="SMF-DIV",
                    description="Cidadão pede parcelamento da dívida ativa de IPTU de 2022 e 2023.",
                ),
            )
            summary = "Débitos em dívida ativa conferidos; pedido de parcelamento encaminhado."
        form = OutcomeForm(
            booking_id=booking.id,
            servant_registration=servant.registration,
            summary=summary,
            documents=documents,
            demands=demands,
            technical_failure=technical,
        )
        result = mv.record([*servant_in, *citizen, *servant_out], form)
        if result.outcome is not None:
            recorded[booking.id] = result.outcome
    say(
        "attendance recorded: "
        + ", ".join(f"{n} {o.value}" for o, n in sorted(Counter(recorded.values()).items()))
    )
    return recorded


def _event(booking: Any, n: int, role: Any, kind: Any, minutes: int) -> Any:
    from munivideo.models import AttendanceEvent, Role

    servant = booking.servant
    who = servant.registration if role is Role.SERVANT else f"citizen-{booking.id}"
    return AttendanceEvent(
        event_id=f"{booking.id}-{n}",
        booking_id=booking.id,
        participant_id=who,
        role=role,
        kind=kind,
        at=booking.start + timedelta(minutes=minutes),
        source="demo",
    )


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the outbox (.eml + .ics), the store and report.json.",
)
@click.option("--faults", default=DEFAULT_FAULTS, show_default=True, help="Sandbox fault spec.")
@click.option("--fault-seed", default=2024, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Show the engine's warnings (retries...).")
@click.option(
    "--scenario",
    type=click.Choice(["tax-office", "health"]),
    default="tax-office",
    show_default=True,
    help="tax-office (REST ERP) or health (teleconsultations over FHIR R4).",
)
def demo(
    out: Path, faults: str, fault_seed: int, as_json: bool, verbose: bool, scenario: str
) -> None:
    """Run the whole cycle on the embedded sandbox ERP (offline, under a minute)."""
    say: Callable[[str], None] = (lambda _m: None) if as_json else click.echo
    # The injected faults make the engine log every retry; the summary tells the story.
    quiet = {"munivideo": logging.ERROR, "werkzeug": logging.CRITICAL} if not verbose else {}
    before = {name: logging.getLogger(name).level for name in quiet}
    try:
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        if scenario == "health":
            from munivideo import demo_health

            fhir_faults = demo_health.DEFAULT_FAULTS if faults == DEFAULT_FAULTS else faults
            health = demo_health.run_health_demo(
                out, faults=fhir_faults, fault_seed=fault_seed, say=say
            )
            if as_json:
                click.echo(json.dumps(health.model_dump(mode="json"), ensure_ascii=False, indent=2))
            else:
                demo_health.print_health_summary(health)
            raise SystemExit(EXIT_OK if health.ok else EXIT_FAILED)
        report = run_demo(out, faults=faults, fault_seed=fault_seed, say=say)
    except MunivideoError as exc:
        fail(exc, as_json=as_json)
        return
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print_summary(report)
    raise SystemExit(EXIT_OK if report.ok else EXIT_FAILED)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def fault_kind(rule: str) -> str:
    """The kind of a fault rule (``"criarProtocolo=drop_after_commit@0.1"`` ->
    ``"drop_after_commit"``; ``"*=error:502@0.05"`` -> ``"error"``): a key of
    :data:`FAULT_KINDS`, or the rule's own action text when it is none of them."""
    return rule.split("=", 1)[-1].split("@", 1)[0].split(":", 1)[0]


def explain(report: DemoReport) -> list[str]:
    """The demo's story in numbered paragraphs a newcomer can follow, every number taken from
    ``report`` (what ``munivideo demo`` prints above its table)."""
    codes = report.erp_statuses
    with_room = len(codes.get("CF", [])) + len(codes.get("RM", []))
    order = {code: n for n, code in enumerate(ERP_CODES)}

    def group(code: str, ids: list[str]) -> str:
        words = ERP_CODES.get(code, code).split(" (")[0]
        listed = "" if code == "CF" else ": " + ", ".join(sorted(ids))
        return f"{len(ids)} {words} ({code}{listed})"

    by_code = "; ".join(
        group(c, ids) for c, ids in sorted(codes.items(), key=lambda kv: order.get(kv[0], 99))
    )
    outcomes = ", ".join(
        f"{n} {OUTCOME_WORDS.get(o, o)}" for o, n in sorted(report.outcomes.items())
    )
    fired = sum(report.faults_fired.values())
    kinds: Counter[str] = Counter()
    for rule, n in report.faults_fired.items():
        kinds[fault_kind(rule)] += n
    words = dict(FAULT_KINDS)
    fault_lines = [
        f"   - {n} {kind}: {words.get(kind, 'as the rule says')}"
        for kind, n in kinds.most_common()
        if n
    ]
    forwards = [r for r in report.protocols if r.forwards]
    forwarded = "; ".join(
        f"{r.booking_id} attached {_count(r.attachments, 'document')} and forwarded a demand "
        f"to {', '.join(r.forwards)}"
        for r in forwards
    )
    return [
        f"1. The ERP had {_count(report.bookings, 'booking')}: {by_code}. Only confirmed and "
        f"rescheduled bookings ({with_room}) have a servant and a time, so the first sync made "
        f"{_count(report.rooms, 'video room')} and sent {_count(report.invitations, 'invitation')} "
        f"({_count(report.messages, 'message')}: e-mail with a calendar file, SMS, WhatsApp). "
        "Requested and cancelled bookings got no room.",
        f"2. Then the citizen of {report.rescheduled} moved it to 16:00 (same room, an updated "
        f"invitation) and the citizen of {report.cancelled} cancelled it "
        f"({_count(report.rooms_closed, 'room')} closed, a cancellation sent).",
        f"3. {_count(report.attendances, 'video attendance')} took place in the rooms still open: "
        f"{outcomes}. {forwarded}.",
        f"4. The outcome of each attendance was written back to the ERP (a protocol, its "
        f"documents, forwards and the booking status) while the sandbox failed "
        f"{_count(fired, 'write call')} on purpose:",
        *fault_lines,
        "   Before repeating a write whose answer was lost, the engine looks it up in the ERP by "
        "its idempotency key, so a write that already happened is not done again. "
        f"{_count(report.delivered, 'outcome')} delivered; "
        f"{_count(report.retries, 'delivery', 'deliveries')} had to wait and be retried later "
        "(retries).",
    ]


def legend() -> str:
    """One line per ERP status code (``AG requested ...``), for under the protocol table."""
    return "\n".join(f"  {code}  {words}" for code, words in ERP_CODES.items())


def _print_summary(report: DemoReport) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print("\nWhat the demo did")
    for line in explain(report):
        console.print(escape(line))
    table = Table(
        title="Protocols in the ERP, one per attendance (read back through the sandbox "
        "inspection API)"
    )
    columns = (
        "booking",
        "protocol no./year",
        "result",
        "documents",
        "forwarded to",
        "booking status now",
    )
    for column in columns:
        table.add_column(column)
    for row in report.protocols:
        table.add_row(
            row.booking_id,
            row.protocol,
            row.outcome,
            str(row.attachments),
            ", ".join(row.forwards) or "-",
            row.booking_status,
        )
    console.print(table)
    console.print("Codes (the ERP's result and booking status):\n" + legend())
    fired = sum(report.faults_fired.values())
    console.print(
        f"\n{report.bookings} bookings -> {report.rooms} rooms -> {report.attendances} "
        f"attendances -> {len(report.protocols)} protocols; "
        f"{report.invitations_written} e-mail files (citizens' and servants', updates and "
        f"cancellations included; {report.calendar_files} with .ics) in {report.output}/outbox; "
        f"{fired} faults fired, {report.retries} retried; "
        f"{report.seconds:.1f} s"
    )
    if report.ok:
        console.print(
            f"[green]OK: read back from the ERP, each of the {report.attendances} attendances "
            "has exactly one protocol (none missing, none twice, none unexpected) and its "
            "booking has the status its result requires; the ERP's own counters show every "
            "protocol, document, forward and status update executed exactly once.[/]"
        )
    else:
        console.print(
            f"[red]FAILED[/]: missing {report.missing}, duplicated {report.duplicated}, "
            f"unexpected {report.unexpected}, wrong status {report.wrong_status}, "
            f"effects not once {report.effects_not_once}"
        )
