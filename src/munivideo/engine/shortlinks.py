"""The redirect behind short join addresses: check the signature and the room window, then
send the browser to a freshly minted join link.

This is also what keeps a BigBlueButton link inside its room window: BBB checksums never
expire, so a provider whose links do not expire by themselves (``links_expire = False``) is
reached through this redirect, which refuses before ``valid_from`` and after ``valid_until``,
asks the provider to open the meeting (``ensure_meeting``) only inside the window, and mints
the signed join URL at the moment of the click.

:func:`redirect_app` is a plain WSGI application (mount it under the ``base_url`` path of
``[invitations.short_links]``, next to the webhook receiver, with any WSGI server).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

from munivideo.engine.context import Engine
from munivideo.errors import ConfigurationError, LifecycleError, MunivideoError, NotFoundError
from munivideo.invitations.shortlinks import parse_token, verify_token
from munivideo.models import Participant, Role

StartResponse = Callable[..., Any]


def resolve(engine: Engine, token: str) -> str:
    """The join link a short address stands for, minted now.

    :raises NotFoundError: not a token of this tenant, or the booking or room is unknown.
    :raises LifecycleError: the room is closed, not open yet, or its window has passed.
    :raises ConfigurationError: short links are not configured for the tenant.
    """
    settings = engine.config.invitations.short_links
    if settings is None:
        raise ConfigurationError("short links are not configured", field="invitations.short_links")
    booking_id, role, mac = parse_token(token)
    binding = engine.store.get_binding(engine.tenant_id, booking_id)
    room = binding.room if binding is not None else None
    if (
        binding is None
        or room is None
        or not verify_token(
            settings.secret.get_secret_value(), engine.tenant_id, booking_id, role, mac, room
        )
    ):
        raise NotFoundError("unknown join address", field="token")
    if room.closed:
        raise LifecycleError("the room is closed", record_id=booking_id, field="room.closed")
    now = engine.now()
    if now < room.valid_from:
        raise LifecycleError(
            "the room is not open yet", record_id=booking_id, field="room.valid_from"
        )
    if now >= room.valid_until:
        raise LifecycleError(
            "the room window is over", record_id=booking_id, field="room.valid_until"
        )
    booking = binding.booking
    if role is Role.SERVANT and booking.servant is not None:
        who = Participant(
            id=booking.servant.registration,
            name=booking.servant.name,
            email=booking.servant.email,
            role=Role.SERVANT,
        )
    else:
        who = Participant(
            id=f"citizen-{booking.id}",
            name=booking.citizen.name,
            email=booking.citizen.email,
            role=Role.CITIZEN,
        )
    ensure = getattr(engine.video, "ensure_meeting", None)
    if callable(ensure):
        ensure(room)
    return engine.video.join_link(room, who).url


_PAGES: dict[type[MunivideoError], tuple[str, str]] = {
    NotFoundError: ("404 Not Found", "Endereço desconhecido / Unknown address."),
    LifecycleError: (
        "410 Gone",
        "A sala não está aberta agora: ela abre alguns minutos antes do horário marcado. / "
        "The room is not open now: it opens a few minutes before the appointment.",
    ),
}


def page_for(error: type[MunivideoError]) -> tuple[int, str]:
    """The HTTP status and the (bilingual, HTML-escaped) text a short link answers when
    :func:`resolve` raised ``error``: 410 outside the room window, 404 for anything else."""
    status, text = _PAGES.get(error, _PAGES[NotFoundError])
    return int(status.split()[0]), html.escape(text)


def redirect_app(engine: Engine) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application: ``GET <mount>/<token>`` answers ``302`` to a fresh join link,
    ``410`` outside the room window or for a closed room, ``404`` for anything else."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        token = str(environ.get("PATH_INFO", "")).rsplit("/", 1)[-1]
        headers = [("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer")]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [*headers, ("Allow", "GET, HEAD")])
            return [b""]
        try:
            target = resolve(engine, token)
        except MunivideoError as exc:
            status, text = _PAGES.get(type(exc), ("404 Not Found", _PAGES[NotFoundError][1]))
            body = f"<!DOCTYPE html><meta charset=utf-8><p>{html.escape(text)}</p>".encode()
            start_response(status, [*headers, ("Content-Type", "text/html; charset=utf-8")])
            return [body]
        start_response("302 Found", [*headers, ("Location", target)])
        return [b""]

    return app
