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
    body = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"{prefix}-{body}" if prefix else body


def normalise_code(code: str) -> str:
    """How codes are compared: shops treat them case-insensitively, customers add spaces."""
    return "".join(code.split()).upper()
