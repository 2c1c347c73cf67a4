"""`rules simulate` over a fixture history gives the known answer and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from notifier.cli import app
from notifier.detect.simulate import simulate
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from tests.engine.conftest import notifications, put

ACTIVE = "2026-12-01T09:00:00+00:00"
CONSENT = [{"channel": "email", "purpose": "marketing", "granted": True,
            "at": "2026-01-01T00:00:00Z"}]


def cart(cid: str, **extra: object) -> dict[str, object]:
    return {"external_id": cid, "currency": "PLN", "value": "50", "last_activity_at": ACTIVE,
            "recovery_url": f"https://s.example/{cid}", **extra}


def customer(cid: str) -> dict[str, object]:
    return {"external_id": cid, "email": f"{cid}@example.pl", "locale": "pl", "consents": CONSENT}


def seed(runtime: Runtime) -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    put(runtime, "cart", cart("A", customer=customer("a")), now=now)  # abandoned for good
    put(runtime, "cart", cart("B", customer=customer("b"),
                              completed_at="2026-12-01T15:00:00+00:00"), now=now)
    put(runtime, "cart", cart("C", customer=customer("c"),
                              completed_at="2026-12-01T09:30:00+00:00"), now=now)
    put(runtime, "cart", cart("D", email="guest@example.pl"), now=now)  # no consent
    placed = "2026-11-30T09:15:00+00:00"
    put(runtime, "order", {"external_id": "X", "currency": "PLN", "total": "10",
                           "payment_status": "paid", "placed_at": placed,
                           "customer": customer("x")}, now=now)
    put(runtime, "order", {"external_id": "Y", "currency": "PLN", "total": "10",
                           "payment_status": "paid", "placed_at": placed,
                           "shipped_at": "2026-12-01T12:00:00+00:00",
                           "customer": customer("y")}, now=now)


def test_simulation_counts_match_the_history(runtime: Runtime, engine: Engine) -> None:
    seed(runtime)
    start = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    end = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    sim = simulate(runtime.sessions, engine.rules(), start, end)

    first = sim.steps[("cart-abandoned", 0)]
    assert (first.messages, first.unreachable) == (2, 1)
    assert first.channels == {"email": 2}
    second = sim.steps[("cart-abandoned", 1)]
    assert (second.messages, second.unreachable) == (1, 1)
    assert second.offer == "cart-recovery"
    assert second.recipients[0].startswith("a@example.pl (email")
    assert sim.steps[("order-unshipped", 0)].messages == 1
    assert sim.steps[("shipment-late", 0)].messages == 0
    assert notifications(runtime) == []  # nothing written


def test_simulate_command_prints_the_counts(runtime: Runtime, tmp_path: Path) -> None:
    seed(runtime)
    config = tmp_path / "config.toml"
    settings = runtime.settings
    config.write_text(
        f'[database]\nurl = "{settings.database_url}"\n'
        f'[paths]\nrules_dir = "{settings.paths.rules_dir}"\n'
        f'templates_dir = "{settings.paths.templates_dir}"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(config), "rules", "simulate",
                                      "--from", "2026-12-01", "--to", "2026-12-03",
                                      "--rule", "cart-abandoned"])
    assert result.exit_code == 0, result.output
    assert "cart-abandoned step 1 [cart_reminder]: 2 messages (email=2)" in result.output
    assert "cart-abandoned step 2 [cart_reminder_offer]: 1 messages (email=1)" in result.output
    assert "order-unshipped" not in result.output
    assert notifications(runtime) == []
