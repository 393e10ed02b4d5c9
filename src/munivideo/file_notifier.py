"""Built-in notifier ``file``: writes each message as an ``.eml`` file into an outbox folder.

It is the embedded default, so the demo and a fresh install deliver invitations with no mail
server. Files are written atomically (temp file + rename) and named by the message's idempotency
key, so sending the same message twice leaves one file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from munivideo.errors import ConfigurationError, TransientError
from munivideo.hookspecs import hookimpl
from munivideo.invitations.messages import WIRE_POLICY, build_email
from munivideo.models import Channel, DeliveryReceipt, OutboundMessage, Tenant
from munivideo.ports import NotifierFactory
from munivideo.values import utcnow

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileNotifier:
    """Writes ``<outbox>/<channel>/<key>.eml`` (or ``.txt`` for SMS/WhatsApp)."""

    name = "file"
    #: Sending a message twice leaves one file (named by its key): safe to repeat.
    dedupes = True
    #: The outbox takes every channel (``.eml`` for e-mail, ``.txt`` for SMS and WhatsApp).
    channels = frozenset(Channel)

    def __init__(self, outbox: Path, sender: str) -> None:
        self.outbox = outbox
        self.sender = sender

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Write ``message`` to ``<outbox>/<channel>/<key>.eml`` (an RFC 5322 message with
        the ``.ics`` attached, as the SMTP notifier would send it) or ``.txt`` (``To:`` line
        and text), through a temporary file renamed into place: a reader never sees half a
        file, and the same key twice leaves one file.

        :returns: a receipt whose ``reference`` is the file's path.
        :raises munivideo.errors.TransientError: the folder cannot be written (disk full,
            permissions); nothing is left behind but a possible ``.tmp-*`` file.
        """
        folder = self.outbox / message.channel.value
        suffix = ".eml" if message.channel is Channel.EMAIL else ".txt"
        target = folder / f"{_SAFE.sub('-', message.idempotency_key)}{suffix}"
        if message.channel is Channel.EMAIL:
            data = build_email(message, sender=self.sender).as_bytes(policy=WIRE_POLICY)
        else:
            data = f"To: {message.to}\n\n{message.text}\n".encode()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            raise TransientError(
                f"cannot write to outbox {folder}: {exc.strerror}", record_id=message.booking_id
            ) from exc
        return DeliveryReceipt(
            notifier=self.name,
            booking_id=message.booking_id,
            reference=str(target),
            delivered_at=utcnow(),
        )


def make_file_notifier(tenant: Tenant, settings: Mapping[str, Any]) -> FileNotifier:
    """The ``file`` notifier's factory (:data:`munivideo.ports.NotifierFactory`).

    Settings: ``path`` (default ``outbox``, relative to the working directory; the tenant's
    id is appended so cities never share a folder) and ``sender`` (the ``From`` address,
    default ``atendimento@<tenant id>.invalid``, a reserved domain, RFC 2606).

    :raises munivideo.errors.ConfigurationError: an unknown setting (field
        ``notifiers.settings``).
    """
    unknown = set(settings) - {"path", "sender"}
    if unknown:
        raise ConfigurationError(
            f"unknown settings for notifier 'file': {', '.join(sorted(unknown))}",
            field="notifiers.settings",
        )
    path = Path(str(settings.get("path", "outbox"))) / tenant.id
    sender = str(settings.get("sender", f"atendimento@{tenant.id}.invalid"))
    return FileNotifier(path, sender)


@hookimpl
def register_notifiers(register: Any) -> None:
    """The ``register_notifiers`` hook: registers ``file`` (a built-in plugin, always loaded)."""
    factory: NotifierFactory = make_file_notifier
    register("file", factory)
