"""Dates and times as citizens read them, per locale, in the city's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from munivideo.models import Locale
from munivideo.values import SAO_PAULO, local

_PT_WEEKDAYS = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)
_PT_MONTHS = (
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
)
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date(value: datetime, locale: Locale, tz: ZoneInfo = SAO_PAULO) -> str:
    """``segunda-feira, 7 de dezembro de 2026`` / ``Monday, December 7, 2026``."""
    day = local(value, tz)
    if locale is Locale.PT_BR:
        return (
            f"{_PT_WEEKDAYS[day.weekday()]}, {day.day} de {_PT_MONTHS[day.month - 1]} de {day.year}"
        )
    return f"{_EN_WEEKDAYS[day.weekday()]}, {_EN_MONTHS[day.month - 1]} {day.day}, {day.year}"


def format_short_date(value: datetime, locale: Locale, tz: ZoneInfo = SAO_PAULO) -> str:
    """``07/12/2026`` (pt-BR) / ``12/07/2026`` (en), for SMS."""
    day = local(value, tz)
    if locale is Locale.PT_BR:
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    return f"{day.month:02d}/{day.day:02d}/{day.year}"


def format_time(value: datetime, locale: Locale, tz: ZoneInfo = SAO_PAULO) -> str:
    """``14:30`` (pt-BR, 24 h) / ``2:30 PM`` (en)."""
    moment = local(value, tz)
    if locale is Locale.PT_BR:
        return f"{moment.hour:02d}:{moment.minute:02d}"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
