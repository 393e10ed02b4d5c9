"""SMTP notifier (entry point ``smtp``): e-mail invitations with their ``text/calendar`` part.

The MIME message is the one the built-in file outbox writes (:func:`munivideo.file_notifier.
build_email`), so what an operator inspects in the outbox is what the mail server receives. The
``Message-ID`` derives from the idempotency key: a resend after an ambiguous failure carries the
same id, which lets mail clients collapse the duplicate.

Error mapping: 4xx replies and connection failures before the message was accepted ->
:class:`TransientError`; a timeout or disconnect after DATA began -> :class:`AmbiguousError`
(the server may have queued it); 5xx replies -> :class:`RejectedError`.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from munivideo.config import parse_settings
from munivideo.errors import (
    AmbiguousError,
    ConfigurationError,
    RejectedError,
    TransientError,
)
from munivideo.hookspecs import hookimpl
from munivideo.invitations.messages import build_email
from munivideo.models import Channel, DeliveryReceipt, OutboundMessage, Tenant
from munivideo.ports import NotifierFactory
from munivideo.transport.deadline import current_watchdog, effective, watch
from munivideo.values import utcnow


class _Watched:
    """Mixin: registers the SMTP socket with the call's deadline watchdog once it exists."""

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        dog = current_watchdog()
        if dog is not None:
            dog.register(sock)
        return sock


class _WatchedSMTP(_Watched, smtplib.SMTP):
    pass


class _WatchedSMTPSSL(_Watched, smtplib.SMTP_SSL):
    pass


class SmtpSettings(BaseModel):
    """``[[notifiers]] name = "smtp"`` settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The mail server (submission or relay).
    host: str = Field(min_length=1)
    #: TCP port; default by ``security`` (see :attr:`effective_port`).
    port: int | None = Field(default=None, ge=1, le=65535)
    #: ``starttls`` (submission, 587), ``ssl`` (implicit TLS, 465) or ``plain`` (local relay).
    security: Literal["starttls", "ssl", "plain"] = "starttls"
    #: SMTP AUTH user; no login when unset.
    username: str | None = None
    password: SecretStr | None = None
    #: The ``From`` address (RFC 5322 mailbox, e.g. ``Prefeitura <atendimento@...>``); its
    #: domain also names the ``Message-ID``.
    sender: str = Field(min_length=3)
    #: Seconds for the connect and for each reply of the server.
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    #: Wall-clock bound of one whole send (connect, TLS, login, DATA), capped by any enclosing
    #: :func:`munivideo.transport.deadline.within` scope.
    total_seconds: float = Field(default=60.0, gt=0, le=900)
    #: Verify the server certificate (turn off only for a test relay).
    verify_tls: bool = True

    @property
    def effective_port(self) -> int:
        """``port`` when set, else the standard port of ``security``: 587 for ``starttls`` (message
        submission, RFC 6409), 465 for ``ssl`` (implicit TLS, RFC 8314), 25 for ``plain`` (SMTP
        relay, RFC 5321).
        """
        return self.port or {"starttls": 587, "ssl": 465, "plain": 25}[self.security]


class SmtpNotifier:
    """Sends one connection per message: invitations are few and a fresh session keeps errors
    attributable to the message that caused them."""

    name = "smtp"
    #: The engine routes only e-mail here (SMS and WhatsApp go to notifiers that declare them).
    channels = frozenset({Channel.EMAIL})

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            client: smtplib.SMTP = _WatchedSMTPSSL(
                s.host, s.effective_port, timeout=s.timeout_seconds, context=self._tls()
            )
        else:
            client = _WatchedSMTP(s.host, s.effective_port, timeout=s.timeout_seconds)
        if s.security == "starttls":
            client.starttls(context=self._tls())
        if s.username:
            password = s.password.get_secret_value() if s.password else ""
            client.login(s.username, password)
        return client

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver one e-mail within ``total_seconds`` (wall clock); see the module's error
        mapping. Past the deadline: :class:`~munivideo.transport.deadline.DeadlineExceededError`
        (ambiguous: the server may have queued it)."""
        budget = effective(self.settings.total_seconds)
        with watch(budget, what=f"SMTP {self.settings.host}"):
            return self._send(message)

    def _send(self, message: OutboundMessage) -> DeliveryReceipt:
        if message.channel is not Channel.EMAIL:
            raise RejectedError(
                f"the smtp notifier sends e-mail only, not {message.channel.value}",
                record_id=message.booking_id,
                field="channel",
            )
        mail = build_email(message, sender=self.settings.sender)
        booking = message.booking_id
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError:
            raise RejectedError(
                "SMTP authentication failed", record_id=booking, field="notifiers.smtp.username"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, "connect", booking) from None
        except ssl.SSLCertVerificationError:
            # Retrying cannot fix an untrusted certificate: an operator must.
            raise ConfigurationError(
                f"SMTP server {self.settings.host} presented an untrusted certificate",
                record_id=booking,
                field="notifiers.smtp.verify_tls",
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(
                f"SMTP connect to {self.settings.host} failed: {type(exc).__name__}",
                record_id=booking,
            ) from None
        try:
            refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _by_code(max(codes, default=550), "recipient", booking) from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, "send", booking) from None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise AmbiguousError(
                f"SMTP connection lost while sending: {type(exc).__name__}", record_id=booking
            ) from None
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        if refused:
            raise RejectedError("SMTP server refused the recipient", record_id=booking, field="to")
        return DeliveryReceipt(
            notifier=self.name,
            booking_id=booking,
            reference=str(mail["Message-ID"]),
            delivered_at=utcnow(),
        )


def _by_code(code: int, stage: str, booking: str) -> TransientError | RejectedError:
    if 400 <= code < 500:
        return TransientError(f"SMTP {stage}: temporary failure {code}", record_id=booking)
    return RejectedError(f"SMTP {stage}: permanent failure {code}", record_id=booking, field="to")


def make_smtp_notifier(tenant: Tenant, settings: Mapping[str, Any]) -> SmtpNotifier:
    """The ``smtp`` factory: validate the notifier's settings (:class:`SmtpSettings`) and build it.
    Nothing connects until the first :meth:`SmtpNotifier.send`.

    :raises ConfigurationError: naming the first offending ``notifiers.settings.<key>``.
    """
    parsed = parse_settings(
        SmtpSettings, settings, tenant=tenant, section="notifiers.settings", adapter="smtp"
    )
    return SmtpNotifier(parsed)


@hookimpl
def register_notifiers(register: Any) -> None:
    """pluggy hook (:func:`munivideo.hookspecs.register_notifiers`): register
    :func:`make_smtp_notifier` under ``smtp``, the name tenants use in ``[[notifiers]] name``.

    :param register: the host's callback, ``register(name, factory)``.
    """
    factory: NotifierFactory = make_smtp_notifier
    register("smtp", factory)


__all__ = ["SmtpNotifier", "SmtpSettings", "make_smtp_notifier"]
