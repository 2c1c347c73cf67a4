"""SMS text rules: which encoding a body needs and how many segments it costs.

Operators bill per segment, and a single character outside the GSM 03.38 alphabet (any
Polish diacritic: ą, ć, ę, ł, ń, ó, ś, ź, ż) switches the whole message to UCS-2, which
cuts a segment from 160 to 70 characters. So we measure exactly, and optionally
transliterate to stay in GSM-7.

    >>> measure("Paczka dotrze jutro.")
    SmsSize(encoding='GSM-7', units=20, segments=1)
    >>> measure("Paczka dotrze w środę.").encoding
    'UCS-2'

Limits per segment (3GPP TS 23.040): GSM-7 160 septets alone or 153 in a concatenated
message (the UDH takes 7); UCS-2 70 or 67 UTF-16 code units. GSM-7 extension characters
(``^ { } \\ [ ] ~ | €`` and form feed) cost two septets, and neither an escape pair nor a
UTF-16 surrogate pair may be split across segments.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}

# Typography that reads the same in an SMS but would force UCS-2 (or, for exotic spaces,
# render as boxes on old handsets). Applied to every SMS, transliterated or not.
_PLAIN = str.maketrans(
    {
        "\u00a0": " ",  # no-break space (Babel puts it in money and numbers)
        "\u202f": " ",  # narrow no-break space (Babel's time formats)
        "\u2007": " ",
        "\u2009": " ",
        "\u200b": "",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00d7": "x",
        "\u2022": "-",
    }
)

# Letters NFKD cannot reduce to a GSM-7 base letter.
_TRANSLITERATIONS = {
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "þ": "th",
    "œ": "oe",
    "Œ": "OE",
    "ı": "i",
}


@dataclass(frozen=True)
class SmsSize:
    """What a body costs: its encoding, length in septets/code units, and segments."""

    encoding: str
    units: int
    segments: int


def normalise(text: str) -> str:
    """Plain SMS text: typographic spaces and punctuation made plain, lines trimmed."""
    text = text.replace("\r\n", "\n").translate(_PLAIN)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def transliterate(text: str) -> str:
    """Replace every letter outside GSM-7 by its base letter where one exists (ą→a, ł→l).

    Letters GSM-7 already has (é, ü, ñ, ß, ...) are kept; characters with no GSM-7 base
    (emoji, Cyrillic) are kept too, so such a message simply stays UCS-2.
    """
    out: list[str] = []
    for char in text:
        if char in GSM7_BASIC or char in GSM7_EXTENSION:
            out.append(char)
        elif char in _TRANSLITERATIONS:
            out.append(_TRANSLITERATIONS[char])
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            out.append(base if base and all(c in GSM7_BASIC for c in base) else char)
    return "".join(out)


def encoding_of(text: str) -> str:
    """``GSM-7`` when every character is in the GSM 03.38 alphabet, else ``UCS-2``."""
    ok = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    return GSM7 if ok else UCS2


def measure(text: str) -> SmsSize:
    """Encoding, length and segment count of ``text`` as an operator would bill it."""
    encoding = encoding_of(text)
    if encoding == GSM7:
        widths = [2 if c in GSM7_EXTENSION else 1 for c in text]
    else:
        widths = [2 if ord(c) > 0xFFFF else 1 for c in text]
    units = sum(widths)
    single, multi = _LIMITS[encoding]
    if units <= single:
        return SmsSize(encoding, units, 1 if units else 0)
    return SmsSize(encoding, units, _pack(widths, multi))


def _pack(widths: list[int], capacity: int) -> int:
    # Greedy fill that never splits an escape pair or a surrogate pair.
    segments, used = 1, 0
    for width in widths:
        if used + width > capacity:
            segments, used = segments + 1, 0
        used += width
    return segments
