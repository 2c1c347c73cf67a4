"""Discount codes people can read aloud and nobody can guess.

The alphabet leaves out 0/O and 1/I/L, which sound or look alike; what remains is 31
characters, so ten random ones carry about 49 bits: guessing a live code online is
hopeless. Codes come from :mod:`secrets`, never :mod:`random`.

    generate_code("SORRY", 10)   # "SORRY-7KQ2M9XDHT"
"""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def generate_code(prefix: str, length: int) -> str:
    """A fresh random code, ``PREFIX-XXXX...`` (or just the random part without a prefix)."""
    # One uniform draw over all len(ALPHABET) ** length codes, written in base 31: the
    # same distribution as a secrets.choice per character, with one read of the OS's
    # random source instead of one per character.
    number = secrets.randbelow(len(ALPHABET) ** length)
    body = []
    for _ in range(length):
        number, digit = divmod(number, len(ALPHABET))
        body.append(ALPHABET[digit])
    text = "".join(body)
    return f"{prefix}-{text}" if prefix else text


def normalise_code(code: str) -> str:
    """How codes are compared: shops treat them case-insensitively, customers add spaces."""
    return "".join(code.split()).upper()
