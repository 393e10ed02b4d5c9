"""Short, signed join addresses: ``<base_url>/<token>`` instead of a long credential-bearing
join link (a Jitsi JWT alone is ~400 characters: three SMS segments are not enough).

The token names the booking and the role and carries an HMAC-SHA256 (96 bits) over the tenant,
booking, role and room name, so it is unguessable, cannot be edited into another booking's, and
stops working when the room is replaced (a recipient change opens a new room). It holds no
credential and no personal data: the redirect (:mod:`munivideo.engine.shortlinks`) looks the
booking up and mints a fresh join link, inside the room window only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from munivideo.config import ShortLinksConfig
from munivideo.errors import NotFoundError
from munivideo.models import Role, Room

_ROLES = {"c": Role.CITIZEN, "s": Role.SERVANT}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, tenant_id: str, booking_id: str, role: Role, room_name: str) -> str:
    data = f"{tenant_id}|{booking_id}|{role.value}|{room_name}".encode()
    return _b64(hmac.new(secret.encode(), data, hashlib.sha256).digest()[:12])


def make_token(secret: str, tenant_id: str, booking_id: str, role: Role, room: Room) -> str:
    """``<booking id, base64url>.<role letter><mac>``."""
    letter = "c" if role is Role.CITIZEN else "s"
    mac = _mac(secret, tenant_id, booking_id, role, room.name)
    return f"{_b64(booking_id.encode())}.{letter}{mac}"


def parse_token(token: str) -> tuple[str, Role, str]:
    """(booking id, role, mac) of a token; :class:`NotFoundError` if it is not one."""
    head, _, tail = token.partition(".")
    try:
        booking_id = _unb64(head).decode()
    except (ValueError, UnicodeDecodeError):
        raise NotFoundError("not a join address", field="token") from None
    if not booking_id or len(tail) < 2 or tail[0] not in _ROLES:
        raise NotFoundError("not a join address", field="token")
    return booking_id, _ROLES[tail[0]], tail[1:]


def verify_token(
    secret: str, tenant_id: str, booking_id: str, role: Role, mac: str, room: Room
) -> bool:
    """Was this token signed for this booking, role and room?"""
    expected = _mac(secret, tenant_id, booking_id, role, room.name)
    return hmac.compare_digest(expected.encode(), mac.encode())


def short_link_for(
    settings: ShortLinksConfig, tenant_id: str, booking_id: str, role: Role, room: Room
) -> str:
    """The short join address of ``role`` for ``booking_id``'s ``room``."""
    secret = settings.secret.get_secret_value()
    token = make_token(secret, tenant_id, booking_id, role, room)
    return f"{settings.base_url.rstrip('/')}/{token}"
