"""Rollout and holdout: which customers a rule treats, deterministically.

A customer's group comes from a stable hash of the rule name and the customer key, so the
same customer lands in the same group on every tick, process and restart — no state kept.
Two independent hashes: widening ``rollout`` only adds customers (nobody treated drops
out), and the holdout stays the same share of whoever is rolled out.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from notifier.detect.rules import Rule
from notifier.domain import Facts

Group = Literal["excluded", "holdout", "treated"]


def bucket(*parts: str) -> float:
    """A stable number in [0, 100), in steps of 0.0001, for ``parts``.

    sha256 because Python's ``hash`` changes per process; integer steps so that no
    rounding can reach 100 and exclude someone from a 100% rollout.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 1_000_000 / 10_000


def assign(rule: Rule, customer_key: str) -> Group:
    """The customer's group for ``rule``: ``excluded`` (outside the rollout), ``holdout``
    (the control group: recorded, not sent) or ``treated``.
    """
    # A bucket lies in [0, 100): a full rollout or no holdout needs no hash.
    if rule.rollout < 100 and bucket(rule.name, "rollout", customer_key) >= rule.rollout:
        return "excluded"
    if rule.holdout > 0 and bucket(rule.name, "holdout", customer_key) < rule.holdout:
        return "holdout"
    return "treated"


def customer_key(facts: Facts) -> str | None:
    """Who the case is about, for :func:`assign`: the customer id, else a guest's email or phone."""
    if facts.customer is not None:
        return f"customer:{facts.customer.id}"
    cart = facts.cart
    if cart is not None and cart.email:
        return f"email:{cart.email.strip().lower()}"
    if cart is not None and cart.phone:
        return f"phone:{cart.phone.strip()}"
    return None
