"""SMS length: GSM-7 vs UCS-2 encoding and segment counting (3GPP TS 23.038 / 23.040).

One accented letter outside the GSM-7 alphabet (``ã``, ``õ``, ``á`` are common in Portuguese)
switches the whole message to UCS-2 and cuts a segment from 160 to 70 characters, so the
renderer folds accents before it gives up on a segment budget.
"""

from __future__ import annotations

import unicodedata

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 7-bit default alphabet or its
    extension table (3GPP TS 23.038, section 6.2.1): then the SMS is sent in GSM-7 (160
    septets a segment), else in UCS-2 (70 characters). ``é`` is in the alphabet, ``á``, ``ã``,
    ``ç`` and ``õ`` are not."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def sms_units(text: str) -> tuple[str, int]:
    """``("gsm7", septets)`` or ``("ucs2", UTF-16 code units)``."""
    if is_gsm7(text):
        return "gsm7", sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return "ucs2", len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes (concatenated messages lose room to the UDH)."""
    encoding, units = sms_units(text)
    single, multi = (160, 153) if encoding == "gsm7" else (70, 67)
    if units <= single:
        return 1
    return -(-units // multi)


def fold_to_gsm7(text: str) -> str:
    """Replace characters outside GSM-7 by their closest GSM-7 form (``ã`` -> ``a``)."""
    out = []
    for char in text:
        if char in GSM7_BASIC or char in GSM7_EXTENSION:
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base and all(c in GSM7_BASIC for c in base):
            out.append(base)
        elif char in "“”":
            out.append('"')
        elif char in "‘’":
            out.append("'")
        elif char in "–—":
            out.append("-")
        else:
            out.append("?")
    return "".join(out)
