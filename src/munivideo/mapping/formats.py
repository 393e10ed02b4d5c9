"""Static checks of strftime patterns a mapping file declares (``munivideo config check``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

_SAMPLE = datetime(2031, 12, 25, 13, 45, 30)

FormatKind = Literal["date", "time", "datetime"]


def check_format(pattern: str, kind: FormatKind) -> None:
    """Refuse a pattern that cannot carry a ``kind`` both ways.

    A sample value is written with the pattern and read back: a pattern with an unknown
    directive, or one that loses the day, the month, the year (date), the hour or the minute
    (time) fails here, when the file is loaded, rather than on the first record.

    :raises ValueError: naming the pattern and what it loses.
    """
    try:
        text = _SAMPLE.strftime(pattern)
        back = datetime.strptime(text, pattern)
    except ValueError as exc:
        raise ValueError(f"format {pattern!r} is not a valid strftime pattern: {exc}") from None
    wanted: dict[str, tuple[str, ...]] = {
        "date": ("year", "month", "day"),
        "time": ("hour", "minute"),
        "datetime": ("year", "month", "day", "hour", "minute"),
    }
    lost = [part for part in wanted[kind] if getattr(back, part) != getattr(_SAMPLE, part)]
    if lost:
        raise ValueError(
            f"format {pattern!r} cannot carry a {kind}: it loses the {', '.join(lost)}"
        )
