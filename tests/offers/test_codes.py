"""Codes: unguessable, unambiguous read aloud, prefixed; signatures on our webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.deliver.signing import signature, verify
from notifier.offers.codes import ALPHABET, generate_code, normalise_code

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_codes_are_prefixed_random_and_unambiguous() -> None:
    codes = {generate_code("SORRY", 10) for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        prefix, body = code.split("-")
        assert prefix == "SORRY" and len(body) == 10
        assert set(body) <= set(ALPHABET)
    assert not set("01OIL") & set(ALPHABET)
    assert "-" not in generate_code("", 8) and len(generate_code("", 8)) == 8


def test_codes_compare_case_and_space_insensitively() -> None:
    assert normalise_code(" sorry-7kq2 m9xd ") == "SORRY-7KQ2M9XD"


def test_signature_verifies_and_refuses_tampering_and_replays() -> None:
    body = b'{"event": "offer.issued"}'
    header = signature("s3cret", body, int(NOW.timestamp()))
    assert header.startswith(f"t={int(NOW.timestamp())},v1=")
    assert verify("s3cret", body, header, now=NOW + timedelta(seconds=60))
    assert not verify("other", body, header, now=NOW)
    assert not verify("s3cret", body + b" ", header, now=NOW)
    assert not verify("s3cret", body, header, now=NOW + timedelta(minutes=10))
    assert not verify("s3cret", body, None, now=NOW)
    rotated = header + ",v1=" + "0" * 64
    assert verify("s3cret", body, rotated, now=NOW)
