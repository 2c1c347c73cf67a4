"""An opt-out is never reversed by the shop's next update (#11 item 3), and every consent
change is kept with its source and time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.runtime import Runtime
from notifier.store import consent_log
from notifier.store.consent_log import ConsentChange, Held, Word, judge
from notifier.store.tables import Consent, Customer
from notifier.track.tokens import sign
from tests.ingest.conftest import load, shopify_headers

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CUSTOMER_ID = 115310627314723954


def shopify(client: TestClient, topic: str, payload: dict, event_id: str) -> None:
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/shopify", content=body,
                           headers=shopify_headers(body, topic, event_id=event_id))
    assert response.status_code == 200, response.text


def customer_update(consent: dict | None, *, updated_at: str) -> dict:
    customer = dict(load("shopify_order.json")["customer"], updated_at=updated_at)
    customer.pop("sms_marketing_consent")
    if consent is None:
        customer.pop("email_marketing_consent")
    else:
        customer["email_marketing_consent"] = consent
    return customer


def email_consent(runtime: Runtime) -> Consent:
    with runtime.sessions() as session:
        return session.exec(select(Consent).where(Consent.channel == "email")).one()


def trail(runtime: Runtime) -> list[ConsentChange]:
    with runtime.sessions() as session:
        customer = session.exec(select(Customer)).one()
        return [c for c in consent_log.history(session, customer_id=customer.id)
                if c.channel == "email"]


def test_an_opt_out_is_not_reversed_by_a_shop_update_without_newer_consent_time(
    client: TestClient, runtime: Runtime, clock: FrozenClock
) -> None:
    shopify(client, "orders/create", load("shopify_order.json"), "e1")
    assert email_consent(runtime).granted
    with runtime.sessions() as session:
        customer_id = session.exec(select(Customer)).one().id
    token = sign({"c": customer_id, "p": "marketing"},
                 runtime.settings.server.secret_key.get_secret_value())
    assert client.post(f"/u/{token}").status_code == 200
    assert not email_consent(runtime).granted

    # The shop's next update: consent time null, then missing, then older than the opt-out.
    clock.set(T0 + timedelta(hours=1))
    later = "2026-12-01T11:00:00+01:00"
    shopify(client, "customers/update", customer_update(
        {"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": None},
        updated_at=later), "e2")
    shopify(client, "customers/update", customer_update(
        {"state": "subscribed", "opt_in_level": "single_opt_in"}, updated_at=later), "e3")
    shopify(client, "customers/update", customer_update(
        {"state": "subscribed", "consent_updated_at": "2025-03-01T12:00:00+01:00"},
        updated_at=later), "e4")
    assert not email_consent(runtime).granted

    # The customer subscribes again in the shop after the opt-out: evidence of their action.
    shopify(client, "customers/update", customer_update(
        {"state": "subscribed", "consent_updated_at": "2026-12-01T10:30:00+01:00"},
        updated_at=later), "e5")
    held = email_consent(runtime)
    assert held.granted and held.at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

    steps = [(c.source, c.granted, c.outcome) for c in trail(runtime)]
    assert steps == [
        ("shopify", True, "applied"),
        ("unsubscribe-link", False, "applied"),
        ("shopify", True, "refused"),
        ("shopify", True, "refused"),
        ("shopify", True, "refused"),
        ("shopify", True, "applied"),
    ]
    refused = trail(runtime)[2]
    assert refused.at is None and "no consent time" in refused.reason
    assert refused.recorded_at == T0 + timedelta(hours=1) and refused.event_id is not None
    assert trail(runtime)[1].at == T0


def test_a_repeated_word_is_not_logged_again(client: TestClient, runtime: Runtime) -> None:
    shopify(client, "orders/create", load("shopify_order.json"), "e1")
    order = load("shopify_order.json")
    order["updated_at"] = "2026-11-30T12:00:00+01:00"
    shopify(client, "orders/updated", order, "e2")
    assert len(trail(runtime)) == 1


WHEN = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("held, word, apply, log", [
    (None, Word("email", "marketing", True, None, "shopify"), True, True),
    (Held(True, WHEN, "shopify"), Word("email", "marketing", False, None, "shopify"), True, True),
    (Held(False, WHEN, "link"), Word("email", "marketing", True, None, "shopify"), False, True),
    (Held(False, WHEN, "link"), Word("email", "marketing", True, WHEN, "shopify"), False, True),
    (Held(False, WHEN, "link"),
     Word("email", "marketing", True, WHEN + timedelta(seconds=1), "shopify"), True, True),
    (Held(True, WHEN, "api"),
     Word("email", "marketing", False, WHEN - timedelta(days=1), "api"), False, True),
    (Held(False, WHEN, "link"), Word("email", "marketing", False, None, "shopify"), False, False),
    (Held(False, WHEN, "link"),
     Word("email", "marketing", False, WHEN + timedelta(days=1), "shopify"), True, False),
])
def test_consent_judgement_table(held: Held | None, word: Word, apply: bool, log: bool) -> None:
    verdict = judge(held, word)
    assert (verdict.apply, verdict.log) == (apply, log)


def test_the_trail_is_shown_by_the_cli(client: TestClient, runtime: Runtime, tmp_path) -> None:
    from typer.testing import CliRunner

    from notifier.cli import app

    shopify(client, "orders/create", load("shopify_order.json"), "e1")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{runtime.settings.database_url}"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(config), "consents", "history",
                                      f"shopify:{CUSTOMER_ID}", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(x["channel"], x["granted"], x["source"], x["outcome"]) for x in lines] == [
        ("email", True, "shopify", "applied"), ("sms", False, "shopify", "applied")]
    assert lines[0]["at"] == "2025-03-01T11:00:00+00:00"
