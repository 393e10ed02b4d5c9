"""Dates and times as citizens read them: Babel (CLDR) in the locale, the tenant's time zone.

The locale is a template language (:class:`munivideo.models.Locale`) or any Babel locale
identifier a tenant picks (``pt_BR``, ``en_GB``, ``es``, ``pt_PT``...: ``Tenant.date_locale``).
CLDR separates times from AM/PM with a narrow no-break space; we write a plain space, so an SMS
stays in the GSM-7 alphabet.
"""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo

import babel
from babel import dates as babel_dates

from munivideo.models import Locale
from munivideo.values import SAO_PAULO, local

_SPACES = str.maketrans({"\u202f": " ", "\xa0": " "})


@functools.lru_cache(maxsize=64)
def babel_locale(locale: Locale | str) -> babel.Locale:
    """The Babel locale for a template language or a Babel/BCP 47 identifier."""
    return babel.Locale.parse(str(locale).replace("-", "_"))


def _plain(text: str) -> str:
    return text.translate(_SPACES)


def format_date(value: datetime, locale: Locale | str, tz: ZoneInfo = SAO_PAULO) -> str:
    """``segunda-feira, 7 de dezembro de 2026`` / ``Monday, December 7, 2026`` (CLDR full)."""
    day = local(value, tz).date()
    return _plain(babel_dates.format_date(day, format="full", locale=babel_locale(locale)))


def format_short_date(value: datetime, locale: Locale | str, tz: ZoneInfo = SAO_PAULO) -> str:
    """``07/12/2026`` (pt-BR) / ``12/7/2026`` (en), for SMS: the locale's numeric day, month
    and four-digit year."""
    day = local(value, tz).date()
    return _plain(babel_dates.format_skeleton("yMMdd", day, locale=babel_locale(locale)))


def format_time(value: datetime, locale: Locale | str, tz: ZoneInfo = SAO_PAULO) -> str:
    """``14:30`` (pt-BR, 24 h) / ``2:30 PM`` (en), in ``tz``."""
    moment = local(value, tz)
    return _plain(babel_dates.format_time(moment, format="short", locale=babel_locale(locale)))


def zone_name(value: datetime, locale: Locale | str, tz: ZoneInfo = SAO_PAULO) -> str:
    """The zone as people name it: ``Horário de Brasília``, ``Amazon Time``... (CLDR)."""
    moment = local(value, tz)
    return _plain(
        babel_dates.get_timezone_name(
            moment,
            width="long",
            uncommon=False,
            locale=babel_locale(locale),
            zone_variant="generic",
        )
    )
