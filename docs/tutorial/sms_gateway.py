"""Tutorial: an SMS gateway notifier for munivideo (see docs/tutorial-adapter.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from munivideo.config import parse_settings
from munivideo.errors import RejectedError, TransientError
from munivideo.hookspecs import hookimpl
from munivideo.models import Channel, DeliveryReceipt, OutboundMessage, Tenant
from munivideo.ports import NotifierFactory
from munivideo.values import utcnow


class GatewaySettings(BaseModel):
    """``[notifiers.settings]`` for ``name = "sms-gateway"``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s]+$")
    token: SecretStr  # written as { env = "SMS_TOKEN" } in the tenant file
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)


class SmsGatewayNotifier:
    """Sends SMS and WhatsApp texts through an HTTP gateway."""

    name = "sms-gateway"

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.session = requests.Session()

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        if message.channel is Channel.EMAIL:
            raise RejectedError(
                "sms-gateway does not send e-mail", record_id=message.booking_id, field="channel"
            )
        try:
            answer = self.session.post(
                self.settings.url,
                json={"to": message.to, "text": message.text, "channel": message.channel.value},
                headers={
                    "Authorization": f"Bearer {self.settings.token.get_secret_value()}",
                    # The gateway drops a second message with the same key: safe to retry.
                    "Idempotency-Key": message.idempotency_key,
                },
                timeout=self.settings.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"sms-gateway unreachable: {type(exc).__name__}", record_id=message.booking_id
            ) from None
        if answer.status_code == 429 or answer.status_code >= 500:
            raise TransientError(
                f"sms-gateway answered {answer.status_code}", record_id=message.booking_id
            )
        if answer.status_code >= 400:
            raise RejectedError(
                f"sms-gateway refused the message ({answer.status_code})",
                record_id=message.booking_id,
                field="to",
            )
        return DeliveryReceipt(
            notifier=self.name,
            booking_id=message.booking_id,
            reference=str(answer.json()["id"]),
            delivered_at=utcnow(),
        )


def make_notifier(tenant: Tenant, settings: Mapping[str, Any]) -> SmsGatewayNotifier:
    validated = parse_settings(
        GatewaySettings,
        settings,
        tenant=tenant,
        section="notifiers.settings",
        adapter="sms-gateway",
    )
    return SmsGatewayNotifier(validated)


@hookimpl
def register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    register("sms-gateway", make_notifier)
