"""``create_app``: the console as one Starlette application.

Routes (every page but sign-in needs a role; every POST needs the session's CSRF token):

=====================================  ==========  =========================================
path                                   role        what
=====================================  ==========  =========================================
``GET/POST /login``, ``POST /logout``  -           sign in (tenant, name, password), sign out
``POST /lang``                         -           switch pt-BR / en for this session
``GET /agenda?day=``                   servant     the day's bookings
``GET /bookings/{id}``                 servant     a booking, its outcome form or write-back
``POST /bookings/{id}/outcome``        servant     save the outcome (attendance + outbox row)
``GET /bookings/{id}/writeback``       servant     the write-back panel (htmx polls it)
``GET /outbox?tenant&state&age&after`` operator    the outbox, 50 rows a page (keyset)
``GET /outbox/{id}``                   operator    a row: steps, audit trail, actions
``POST /outbox/{id}/replay|requeue|    operator    the actions, each with a reason
done``
``GET /quarantine``                    operator    quarantined records, payload masked
``POST /quarantine/{id}/readmit``      operator    re-process a quarantined record
``GET /health``                        operator    per-city lag, pending, dead letters
``POST /webhooks/{tenant}/{provider}`` (secret)    video-provider attendance events
``GET /j/{tenant}/{token}`` (signed token)           SMS short join links (redirect in the window)
``GET /static/...``                    -           htmx and the style sheet
=====================================  ==========  =========================================
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from munivideo.api import Munivideo
from munivideo.console import joins, operator, servant, webhooks
from munivideo.console.i18n import LOCALES, translate
from munivideo.console.users import Authenticator, ConsoleRole, ConsoleUser
from munivideo.console.web import (
    BodyLimit,
    Console,
    ConsoleSettings,
    SchemeSessions,
    SecurityHeaders,
    csrf_ok,
    forbidden,
    render,
    session_locale,
    signed_in,
)
from munivideo.models import Locale

HOME: dict[ConsoleRole, str] = {ConsoleRole.SERVANT: "/agenda", ConsoleRole.OPERATOR: "/outbox"}
"""Where each role lands after signing in."""


@dataclass
class Throttle:
    """Sign-in attempts per (tenant, name): after ``limit`` failures within ``window`` seconds
    that name is refused (without checking the password) until the window passes."""

    limit: int = 5
    window: float = 900.0
    max_names: int = 10_000  #: names tracked at once: guessing many names cannot fill memory
    failures: dict[str, list[float]] = field(default_factory=dict)

    def blocked(self, key: str, now: float) -> bool:
        """True while ``key`` (``tenant/name``) has used up its failures."""
        recent = [t for t in self.failures.get(key, []) if now - t < self.window]
        self.failures[key] = recent
        return len(recent) >= self.limit

    def failed(self, key: str, now: float) -> None:
        """Count one failed sign-in of ``key`` at ``now`` (monotonic seconds)."""
        if key not in self.failures and len(self.failures) >= self.max_names:
            self.failures = {
                k: v for k, v in self.failures.items() if v and now - v[-1] < self.window
            }
            while len(self.failures) >= self.max_names:  # still full: forget the oldest
                del self.failures[next(iter(self.failures))]
        self.failures.setdefault(key, []).append(now)

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures after a good sign-in."""
        self.failures.pop(key, None)


def _safe_next(target: str, user: ConsoleUser) -> str:
    # only a path on this site, never //host or a scheme
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME[user.role]


async def home(request: Request) -> Response:
    """``/``: the signed-in role's first page, or the sign-in form."""
    user = signed_in(request, request.app.state.console)
    return RedirectResponse(HOME[user.role] if user else "/login", status_code=303)


async def login(request: Request) -> Response:
    """The sign-in form (GET) and its check (POST, CSRF-protected like every POST)."""
    console: Console = request.app.state.console
    locale = session_locale(request, console)
    error = ""
    next_path = request.query_params.get("next", "")
    tenant = ""
    name = ""
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=10)
        if not csrf_ok(request, form):
            return forbidden(request, console, locale, translate(locale, "error.csrf"))
        tenant = str(form.get("tenant", ""))
        name = str(form.get("name", "")).strip().lower()
        password = str(form.get("password", ""))
        next_path = str(form.get("next", ""))
        key = f"{tenant}/{name}"
        throttle: Throttle = request.app.state.throttle
        user = None
        if not throttle.blocked(key, time.monotonic()):
            user = await run_in_threadpool(console.auth.verify, tenant, name, password)
        if user is not None and user.tenant in console.tenants:
            throttle.succeeded(key)
            lang = request.session.get("lang")
            request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
            request.session["user"] = user.key
            if lang in LOCALES:
                request.session["lang"] = lang
            return RedirectResponse(_safe_next(next_path, user), status_code=303)
        throttle.failed(key, time.monotonic())
        error = translate(locale, "login.failed")
    return render(
        request,
        console,
        "login.html",
        locale,
        401 if error else 200,
        user=None,
        tenants=[(t, mv.engine.config.tenant.name) for t, mv in sorted(console.tenants.items())],
        tenant=tenant,
        name=name,
        next=next_path,
        error=error,
    )


async def logout(request: Request) -> Response:
    """Sign out (POST with the CSRF token): the session is cleared."""
    console: Console = request.app.state.console
    form = await request.form(max_files=0, max_fields=10)
    if not csrf_ok(request, form):
        locale = session_locale(request, console)
        return forbidden(request, console, locale, translate(locale, "error.csrf"))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def switch_language(request: Request) -> Response:
    """Set the session's language (``lang`` = ``pt-BR`` or ``en``) and go back."""
    console: Console = request.app.state.console
    form = await request.form(max_files=0, max_fields=10)
    if not csrf_ok(request, form):
        locale = session_locale(request, console)
        return forbidden(request, console, locale, translate(locale, "error.csrf"))
    lang = str(form.get("lang", ""))
    if lang in LOCALES:
        request.session["lang"] = lang
    back = str(form.get("next", "/"))
    return RedirectResponse(
        back if back.startswith("/") and not back.startswith("//") else "/", status_code=303
    )


def template_environment() -> Environment:
    """Jinja2 with autoescaping for every template, loaded from the package."""
    folder = resources.files("munivideo.console").joinpath("templates")
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hm"] = lambda dt, zone: dt.astimezone(zone).strftime("%H:%M")
    env.filters["when"] = lambda dt, zone: dt.astimezone(zone).strftime("%d/%m/%Y %H:%M")
    env.filters["span"] = _span
    return env


def _span(delta: object) -> str:
    """A duration as ``3d 4h``, ``2h 05m`` or ``42s``."""
    from datetime import timedelta

    if not isinstance(delta, timedelta):
        return "-"
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def create_app(
    tenants: Mapping[str, Munivideo],
    auth: Authenticator,
    settings: ConsoleSettings,
) -> Starlette:
    """The console for ``tenants`` (tenant id -> its :class:`Munivideo`), signing in the users
    ``auth`` knows. The caller owns the tenants (and closes them)."""
    console = Console(
        tenants=dict(tenants), auth=auth, settings=settings, templates=template_environment()
    )
    static = resources.files("munivideo.console").joinpath("static")
    routes = [
        Route("/", home),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang", switch_language, methods=["POST"]),
        Route("/agenda", servant.agenda),
        Route("/bookings/{booking_id}", servant.booking_page),
        Route("/bookings/{booking_id}/outcome", servant.record_outcome, methods=["POST"]),
        Route("/bookings/{booking_id}/writeback", servant.writeback_status),
        Route("/fragments/document-row", servant.document_row),
        Route("/fragments/demand-row", servant.demand_row),
        Route("/outbox", operator.outbox),
        Route("/outbox/{item_id:int}", operator.outbox_item),
        Route("/outbox/{item_id:int}/replay", operator.replay_item, methods=["POST"]),
        Route("/outbox/{item_id:int}/requeue", operator.requeue_item, methods=["POST"]),
        Route("/outbox/{item_id:int}/done", operator.done_item, methods=["POST"]),
        Route("/quarantine", operator.quarantine),
        Route("/quarantine/{quarantine_id:int}/readmit", operator.readmit_item, methods=["POST"]),
        Route("/health", operator.health),
        Route("/webhooks/{tenant}/{provider}", webhooks.receive, methods=["POST"]),
        Route("/j/{tenant}/{token}", joins.join, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                BodyLimit,
                max_bytes=settings.max_body_bytes,
                webhook_max_bytes=settings.webhook_max_bytes,
            ),
            Middleware(
                SchemeSessions,
                secret=settings.session_secret,
                max_age=settings.session_max_age_seconds,
            ),
        ],
    )
    app.state.console = console
    app.state.throttle = Throttle()
    return app


__all__ = ["HOME", "Locale", "Throttle", "create_app", "template_environment"]
