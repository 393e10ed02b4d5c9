"""What the video provider plugins share (``munivideo-jitsi``, ``munivideo-bbb``): the user id
that maps a room's occupant back to a booking, and the fail-closed check of a webhook's shared
secret. Core and dependency-free, so every provider plugin can use it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from pydantic import SecretStr

from munivideo.errors import ConfigurationError, UnauthenticatedError
from munivideo.models import Participant, Role

USER_ID_PREFIX = "mv1"
"""Version tag of :func:`participant_user_id`'s layout; ids without it are not ours."""

_ROLES = frozenset(r.value for r in Role)


def participant_user_id(booking_id: str, participant: Participant) -> str:
    """``mv1|<booking>|<role>|<participant>``: the user id a provider puts in a join token or
    URL and echoes back in its attendance reports and webhooks."""
    return f"{USER_ID_PREFIX}|{booking_id}|{participant.role.value}|{participant.id}"


def parse_participant_user_id(value: str) -> tuple[str, Role, str] | None:
    """``(booking id, role, participant id)`` from a :func:`participant_user_id` value; None
    for anything else (a guest, another application's user, a malformed id)."""
    parts = value.split("|")
    if len(parts) != 4 or parts[0] != USER_ID_PREFIX or parts[2] not in _ROLES:
        return None
    return parts[1], Role(parts[2]), parts[3]


def check_webhook_secret(
    headers: Mapping[str, str], expected: SecretStr | None, *, what: str
) -> None:
    """Check ``Authorization: Bearer <secret>`` (header name in any case) against the
    configured ``webhook_secret``, in constant time.

    Fails closed: without a configured secret no call can be trusted, so every call is refused.

    :param headers: the request's headers.
    :param expected: the configured ``webhook_secret``, or ``None`` when none is configured.
    :param what: names the receiver in the messages (``"BBB webhook"``).
    :raises ConfigurationError: no secret configured (field ``video.settings.webhook_secret``).
    :raises UnauthenticatedError: the header is missing or carries another secret (field
        ``Authorization``).
    """
    if expected is None:  # an unauthenticated receiver accepts forgeries
        raise ConfigurationError(
            f"{what}: no webhook_secret configured, so no call can be trusted",
            field="video.settings.webhook_secret",
        )
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    given = lowered.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.get_secret_value().encode()
    ):
        raise UnauthenticatedError(f"{what}: shared secret missing or wrong", field="Authorization")


__all__ = [
    "USER_ID_PREFIX",
    "check_webhook_secret",
    "parse_participant_user_id",
    "participant_user_id",
]
