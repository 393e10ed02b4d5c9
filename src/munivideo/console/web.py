"""The console's request plumbing: sessions, sign-in state, roles, CSRF, limits, headers.

* Sessions are Starlette's signed cookie sessions (itsdangerous): ``HttpOnly``,
  ``SameSite=Lax``, ``Secure`` whenever the request came over https (directly or through a proxy
  that uvicorn trusts), and a maximum age.
* Every page needs a signed-in role (:func:`page`); the sign-in page and the static files are
  the only exceptions, plus the video-provider webhooks, which authenticate with their own
  shared secret.
* Every POST carries the session's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``; htmx sends the header) and, when the browser sends one, an ``Origin`` of
  this host; anything else is answered 403 before the handler runs.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment
from starlette.datastructures import FormData
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from munivideo.api import Munivideo
from munivideo.console.i18n import LOCALES, translate
from munivideo.console.users import Authenticator, ConsoleRole, ConsoleUser
from munivideo.error_catalogue import localized, localized_entry
from munivideo.models import Locale

SESSION_COOKIE = "munivideo_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

Handler = Callable[["Page"], Awaitable[Response]]


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console runs (everything else comes from the tenant files and the users file).

    :param session_secret: signs the session cookie; at least 32 characters.
    :param session_max_age_seconds: a session ends this long after sign-in.
    :param max_body_bytes: request bodies above this are refused (413); uploads included.
    :param webhook_max_bytes: the cap for video-provider webhook bodies.
    :param locale: the language of a session that did not choose one.
    """

    session_secret: str = field(repr=False)
    session_max_age_seconds: int = 8 * 3600
    max_body_bytes: int = 25 * 1024 * 1024
    webhook_max_bytes: int = 256 * 1024  #: munivideo.engine.record.MAX_WEBHOOK_BYTES
    locale: Locale = Locale.PT_BR

    def __post_init__(self) -> None:
        from munivideo.errors import ConfigurationError

        if len(self.session_secret) < 32:
            raise ConfigurationError(
                "the session secret needs at least 32 characters", field="session_secret"
            )


@dataclass
class Console:
    """What every handler reaches: tenants, users, settings and the template environment."""

    tenants: Mapping[str, Munivideo]
    auth: Authenticator
    settings: ConsoleSettings
    templates: Environment

    def tenant(self, tenant_id: str) -> Munivideo | None:
        """The served tenant ``tenant_id``, or None."""
        return self.tenants.get(tenant_id)


@dataclass
class Page:
    """One request to a guarded page: who asks, in which language, and the parsed form."""

    request: Request
    console: Console
    user: ConsoleUser
    locale: Locale
    form: FormData | None = None

    @property
    def mv(self) -> Munivideo:
        """The signed-in user's own tenant."""
        return self.console.tenants[self.user.tenant]

    @property
    def zone(self) -> ZoneInfo:
        """The signed-in tenant's time zone."""
        return ZoneInfo(self.mv.engine.config.tenant.timezone)

    def now(self) -> datetime:
        """The tenant engine's clock (UTC)."""
        return self.mv.engine.now()

    def t(self, key: str, **values: Any) -> str:
        """The message ``key`` in this page's language."""
        return translate(self.locale, key, **values)

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render ``template`` for this user and language."""
        return render(
            self.request,
            self.console,
            template,
            self.locale,
            status_code,
            user=self.user,
            **context,
        )

    def form_value(self, name: str) -> str:
        """A text field of the posted form, stripped (``""`` when absent)."""
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""


def session_locale(request: Request, console: Console) -> Locale:
    """The session's chosen language, else the console's default (pt-BR)."""
    chosen = request.session.get("lang")
    return Locale(chosen) if chosen in LOCALES else console.settings.locale


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the sign-in page makes it)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def render(
    request: Request,
    console: Console,
    template: str,
    locale: Locale,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a template with the request, language, translator and CSRF token."""
    html = console.templates.get_template(template).render(
        request=request,
        locale=locale.value,
        t=lambda key, **values: translate(locale, key, **values),
        reason=lambda error_type, message: localized(error_type, message, locale),
        entry=lambda text: localized_entry(text, locale),
        csrf=csrf_token(request),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def signed_in(request: Request, console: Console) -> ConsoleUser | None:
    """The user the session names, if still in the users file."""
    key = request.session.get("user")
    return console.auth.user(key) if isinstance(key, str) else None


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or an old one: the CSRF token still has to match
        return True
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def csrf_ok(request: Request, form: FormData | None) -> bool:
    """True when the request carries the session's CSRF token and comes from this site."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) if form else None)
    if not isinstance(expected, str) or not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode()) and same_origin(request)


def forbidden(request: Request, console: Console, locale: Locale, reason: str) -> Response:
    """A 403 page saying ``reason``."""
    return render(request, console, "error.html", locale, 403, user=None, message=reason)


def page(
    *roles: ConsoleRole, upload_limit: int = 0
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Guard a handler: a signed-in user with one of ``roles``; on POST a valid CSRF token.

    Not signed in: a GET goes to the sign-in page, anything else is 403. ``upload_limit`` > 0
    lets the form carry files (at most 20).
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            locale = session_locale(request, console)
            user = signed_in(request, console)
            if user is None:
                if request.method == "GET":
                    target = request.url.path
                    if request.url.query:
                        target += "?" + request.url.query
                    return RedirectResponse(
                        "/login?" + urlencode({"next": target}), status_code=303
                    )
                return forbidden(request, console, locale, translate(locale, "error.signin"))
            if user.role not in roles:
                return forbidden(request, console, locale, translate(locale, "error.role"))
            form = None
            if request.method == "POST":
                form = await request.form(
                    max_files=20 if upload_limit else 0, max_fields=200, max_part_size=64 * 1024
                )
                if not csrf_ok(request, form):
                    await form.close()
                    return forbidden(request, console, locale, translate(locale, "error.csrf"))
            try:
                return await handler(Page(request, console, user, locale, form))
            finally:
                if form is not None:
                    await form.close()

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


class SchemeSessions:
    """Starlette sessions whose cookie is ``Secure`` exactly when the request is https."""

    def __init__(self, app: ASGIApp, *, secret: str, max_age: int) -> None:
        options: dict[str, Any] = {
            "secret_key": secret,
            "session_cookie": SESSION_COOKIE,
            "max_age": max_age,
            "same_site": "lax",
        }
        self.plain = SessionMiddleware(app, https_only=False, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") in ("https", "wss")
        await (self.secure if https else self.plain)(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over a size (413), counting what is actually received; the
    ``/webhooks/`` paths get their own, smaller cap."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, webhook_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.webhook_max_bytes = webhook_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        cap = self.webhook_max_bytes if path.startswith("/webhooks/") else self.max_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLargeError:
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)


class BodyTooLargeError(Exception):
    """Raised inside :class:`BodyLimit` when a body grows past its cap."""


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with the
    # console's own forms, which the CSRF check refuses
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
"""Sent with every answer: scripts and styles only from the console itself (htmx is served
from the package), no framing, no referrer to other sites (pages hold personal data and join
links), no caching."""


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
