"""Medium findings of #11: signing secrets, list limits, malformed tokens, STOP keywords."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.config import Settings, load_settings
from notifier.errors import ConfigError
from notifier.runtime import Runtime, create_runtime
from notifier.store.tables import Customer, Suppression
from notifier.track.routes import is_stop
from notifier.track.tokens import sign
from tests.conftest import make_settings
from tests.fakes.twilio_server import twilio_signature

AUTH = {"Authorization": "Bearer test-key"}


def test_a_random_secret_is_generated_on_first_start_and_kept(tmp_path: Path) -> None:
    first = make_settings(tmp_path).server.secret_key.get_secret_value()
    again = make_settings(tmp_path).server.secret_key.get_secret_value()
    other = make_settings(tmp_path / "elsewhere").server.secret_key.get_secret_value()
    assert first == again and first != other and len(first) >= 40
    kept = tmp_path / "var" / "secret_key"
    assert kept.read_text().strip() == first
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600


def test_no_known_value_is_ever_signed_with(tmp_path: Path) -> None:
    assert make_settings(tmp_path).server.secret_key.get_secret_value() != "dev-insecure-secret"
    config = tmp_path / "config.toml"
    config.write_text('[server]\nsecret_key = "dev-insecure-secret"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings(config)


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'environment = "production"\n[paths]\ndata_dir = "{tmp_path}"\n'
                      '[api]\nkeys = ["k-0123456789"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings(config)
    assert not (tmp_path / "secret_key").exists()


def test_a_link_signed_with_the_old_public_secret_unsubscribes_nobody(
    client: TestClient, runtime: Runtime
) -> None:
    client.post("/v1/customers", json={"external_id": "c-1", "email": "a@example.pl"},
                headers=AUTH)
    with runtime.sessions() as session:
        customer_id = session.exec(select(Customer.id)).one()
    forged = sign({"c": customer_id, "p": "marketing"}, "dev-insecure-secret")
    assert client.post(f"/u/{forged}").status_code == 404


@pytest.mark.parametrize("limit", ["-1", "0", "501", "x"])
def test_a_notifications_limit_out_of_range_is_refused(client: TestClient, limit: str) -> None:
    response = client.get(f"/v1/notifications?limit={limit}", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("payload", [{}, {"c": "x"}, {"c": None}, {"c": [1]}, {"n": 1, "s": 2}])
def test_a_validly_signed_but_malformed_token_is_a_4xx_not_a_500(
    client: TestClient, runtime: Runtime, payload: dict
) -> None:
    token = sign(payload, runtime.settings.server.secret_key.get_secret_value())
    assert client.get(f"/u/{token}").status_code == 404
    assert client.post(f"/u/{token}").status_code == 404


@pytest.mark.parametrize("body", ["STOP", "stop", "Stop.", " OPTOUT ", "revoke", "StopAll",
                                  "stop all", "UNSUBSCRIBE", "cancel", "END", "quit!",
                                  "opt-out", "opt out"])
def test_twilio_opt_out_keywords_are_recognised(body: str) -> None:
    assert is_stop(body)


@pytest.mark.parametrize("body", ["stop sending me this please", "STOPS", "", "start", "HELP"])
def test_other_replies_are_not_opt_outs(body: str) -> None:
    assert not is_stop(body)


@pytest.fixture
def twilio_client(tmp_path: Path, db_url: str):
    settings = make_settings(tmp_path, database={"url": db_url},
                             server={"public_url": "https://notify.example.pl"},
                             sms={"twilio": {"account_sid": "AC1", "auth_token": "tok",
                                             "from_number": "+48500000000"}})
    runtime = create_runtime(settings)
    yield TestClient(create_app(runtime)), runtime
    runtime.close()


@pytest.mark.parametrize("form", [
    {"From": "+48600100200", "Body": "OPTOUT"},
    {"From": "+48600100200", "Body": "REVOKE"},
    {"From": "+48600100200", "Body": "NIE", "OptOutType": "STOP"},  # an added keyword
])
def test_an_inbound_opt_out_suppresses_the_number(twilio_client, form: dict) -> None:
    client, runtime = twilio_client
    url = "https://notify.example.pl/webhooks/twilio/inbound"
    response = client.post("/webhooks/twilio/inbound", data=form,
                           headers={"X-Twilio-Signature": twilio_signature("tok", url, form)})
    assert response.status_code == 200
    with runtime.sessions() as session:
        [row] = session.exec(select(Suppression)).all()
    assert row.channel == "sms" and row.address == "+48600100200"


def test_settings_built_in_tests_never_carry_the_placeholder(settings: Settings) -> None:
    assert settings.server.secret_key.get_secret_value() not in {"", "dev-insecure-secret"}
