"""Configuration: embedded defaults, the TOML file, NOTIFIER_* variables, secrets hidden."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel, BeforeValidator

from notifier.config import OfferTierSettings, Settings, load_settings
from notifier.config_types import text_list
from notifier.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/notifier.db"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.email.transport == settings.sms.transport == settings.push.transport == "outbox"
    assert settings.paths.outbox_dir == Path("var/outbox")


def test_file_then_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[email]\ntransport = "smtp"\nfrom = "Shop <shop@example.com>"\n'
        '[email.smtp]\nhost = "mail.example.com"\npassword = "s3cret"\n'
        '[api]\nkeys = ["k1"]\n', encoding="utf-8")
    monkeypatch.setenv("NOTIFIER_EMAIL__SMTP__HOST", "smtp.override.example")
    monkeypatch.setenv("NOTIFIER_API__KEYS", "a,b")
    settings = load_settings(config)
    assert settings.email.transport == "smtp"
    assert settings.email.from_ == "Shop <shop@example.com>"
    assert settings.email.smtp.host == "smtp.override.example"
    assert [k.get_secret_value() for k in settings.api.keys] == ["a", "b"]
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


def test_config_env_var_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[server]\nport = 9000\n", encoding="utf-8")
    monkeypatch.setenv("NOTIFIER_CONFIG", str(config))
    assert load_settings().server.port == 9000
    config.write_text('[server]\nport = "many"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_settings()
    config.write_text("[nonsense]\nx = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nonsense"):
        load_settings()


def test_example_config_is_valid_and_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(REPO / "config.example.toml")
    assert settings.database_url.startswith("sqlite:///")


def _keys(model: object, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    out: set[str] = set()
    for name, field in type(model).model_fields.items():  # type: ignore[attr-defined]
        key = field.alias or name
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out |= _keys(value, f"{prefix}{key}.")
        elif not isinstance(value, dict):
            out.add(f"{prefix}{key}")
    return out


def test_example_config_documents_every_key() -> None:
    import tomllib

    from notifier.config import Settings

    data = tomllib.loads((REPO / "config.example.toml").read_text(encoding="utf-8"))

    def flatten(table: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, value in table.items():
            if isinstance(value, dict) and value:
                out |= flatten(value, f"{prefix}{key}.")
            elif not isinstance(value, dict):
                out.add(f"{prefix}{key}")
        return out

    assert _keys(Settings()) - flatten(data) == set()


# -- validated at start-up: file, key and reason; never a traceback ------------------------

BAD_FILES = [
    ('[delivery.quiet_hours]\nsms = "25:00-08:00"\n',
     r"delivery\.quiet_hours\.sms: '25:00-08:00' is not a time window HH:MM-HH:MM"),
    ('[delivery.quiet_hours]\nfax = "21:00-08:00"\n', r"delivery\.quiet_hours: 'fax'"),
    ('[delivery.frequency_caps]\nmarketing = "many/24h"\n',
     r"delivery\.frequency_caps\.marketing: 'many/24h' is not a cap"),
    ('[delivery.frequency_caps]\nmarketing = "1/0m"\n', r"frequency_caps\.marketing: .*zero"),
    ('[escalation]\nincident_window = "a month"\n', r"escalation\.incident_window: bad duration"),
    ('[offers.policies.x]\ntiers = [{percent = 5}]\nlimit = "1/fortnight"\n',
     r"offers\.policies\.x\.limit"),
    ("[scheduler]\ndetect_interval_s = -1\n", r"scheduler\.detect_interval_s: .*greater than 0"),
    ("[scheduler]\ndispatch_interval_s = 0\n", r"scheduler\.dispatch_interval_s"),
    ("[server]\nprot = 8000\n", r"server\.prot: unknown key"),
    ('[email.smtp]\npasswrod = "x"\n', r"email\.smtp\.passwrod: unknown key"),
    ("[server]\nmax_body_bytes = 0\n", r"server\.max_body_bytes"),
    ('[shop]\ncountry = "XX"\n', r"shop\.country: 'XX' is not a country"),
    ('[shop]\ntimezone = "Europe/Warszawa"\n', r"shop\.timezone: 'Europe/Warszawa' is not an IANA"),
    ('[database]\nurl = "mysql://u:hunter2@h/db"\n', r"database\.url: not a supported database"),
    ("[delivery.rate_limits]\nsms = -1\n", r"delivery\.rate_limits\.sms"),
    ("[server\nport = 1\n", r"not valid TOML"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_bad_setting_in_the_file_names_file_key_and_reason(
        tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings(config)
    assert str(config) in str(caught.value)
    assert "hunter2" not in str(caught.value)  # a URL's password is never echoed


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("NOTIFIER_DELIVERY__QUIET_HOURS__SMS", "25:00-08:00", r"delivery\.quiet_hours\.sms"),
    ("NOTIFIER_DELIVERY__FREQUENCY_CAPS", '{"marketing": "1/2w"}',
     r"delivery\.frequency_caps\.marketing"),
    ("NOTIFIER_ESCALATION__INCIDENT_WINDOW", "30 days", r"escalation\.incident_window"),
])
def test_bad_setting_in_the_environment_names_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
        expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings()
    assert variable in str(caught.value)


def test_settings_reach_the_code_as_values(tmp_path: Path) -> None:
    from datetime import time, timedelta

    config = tmp_path / "config.toml"
    config.write_text('[delivery.quiet_hours]\nsms = "22:30-07:15"\n"email.marketing" = ""\n'
                      '[delivery.frequency_caps]\nmarketing = "2/1d12h"\n'
                      '[escalation]\nincident_window = "14d"\n', encoding="utf-8")
    settings = load_settings(config)
    window = settings.delivery.quiet_window("sms", "marketing")
    assert window is not None and (window.start, window.end) == (time(22, 30), time(7, 15))
    assert settings.delivery.quiet_window("email", "marketing") is None
    cap = settings.delivery.frequency_caps["marketing"]
    assert cap is not None and (cap.count, cap.window) == (2, timedelta(days=1, hours=12))
    assert settings.escalation.incident_window == timedelta(days=14)


def test_no_module_level_toml_state() -> None:
    import notifier.cli
    import notifier.config

    assert not hasattr(notifier.config, "_toml_file")
    assert not hasattr(notifier.cli, "_state")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_exit_non_zero_naming_the_key(tmp_path: Path, command: str) -> None:
    import os
    import subprocess
    import sys

    config = tmp_path / "site.toml"  # not ./config.toml: --config must be what is read
    config.write_text('[delivery.quiet_hours]\nsms = "25:00-08:00"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env["NOTIFIER_DELIVERY__FREQUENCY_CAPS__MARKETING"] = "1/sometimes"
    done = subprocess.run([sys.executable, "-m", "notifier.cli", "--config", str(config),
                           command], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert done.returncode == 2
    assert "delivery.quiet_hours.sms" in done.stderr
    assert "NOTIFIER_DELIVERY__FREQUENCY_CAPS__MARKETING" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# Every list-valued setting, from the environment in both forms users write.
LIST_SETTINGS = [
    ("NOTIFIER_API__KEYS", lambda s: [k.get_secret_value() for k in s.api.keys],
     ["k1", "k2"]),
    ("NOTIFIER_OFFERS__WEBHOOK_EVENTS", lambda s: s.offers.webhook_events,
     ["offer.issued", "offer.pool_empty"]),
    ("NOTIFIER_TRACK__SES__TOPIC_ARNS", lambda s: s.track.ses.topic_arns,
     ["arn:aws:sns:eu-west-1:1:a", "arn:aws:sns:eu-west-1:1:b"]),
    ("NOTIFIER_PUSH__CAPTURE__ALLOWED_ORIGINS", lambda s: s.push.capture.allowed_origins,
     ["https://sklep.example.pl", "https://m.sklep.example.pl"]),
]


def _list_fields(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, Any]]:
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _list_fields(kind, f"{path}{name}.")
        elif get_origin(kind) is list:
            [item] = get_args(kind)
            if not (isinstance(item, type) and issubclass(item, BaseModel)):
                yield f"{path}{name}", info


def test_every_list_setting_reads_both_forms() -> None:
    """A new list setting must read JSON and commas too (and be in LIST_SETTINGS)."""
    found = dict(_list_fields(Settings))
    found.update((f"offers.policies.*.tiers.*.{n}", i) for n, i in _list_fields(OfferTierSettings))
    plain = [name for name, info in found.items()
             if not any(isinstance(m, BeforeValidator) and m.func is text_list
                        for m in info.metadata)]
    assert plain == []
    covered = {v.removeprefix("NOTIFIER_").lower().replace("__", ".") for v, _, _ in LIST_SETTINGS}
    assert set(found) - covered == {"offers.policies.*.tiers.*.segments"}  # tested below


@pytest.mark.parametrize(("variable", "read", "values"), LIST_SETTINGS)
@pytest.mark.parametrize("form", ["json", "commas"])
def test_list_settings_from_env_in_json_or_commas(
    variable: str, read: Any, values: list[str], form: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    text = json.dumps(values) if form == "json" else " , ".join(values)
    monkeypatch.setenv(variable, text)
    assert read(load_settings()) == values


def test_an_offer_policy_segments_list_from_env_in_either_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[offers.policies.vip]\ntiers = [{percent = 10, segments = ["vip"]}]\n',
                      encoding="utf-8")
    settings = load_settings(config)
    assert settings.offers.policies["vip"].tiers[0].segments == ["vip"]
    for text in ('["vip","gold"]', "vip,gold"):
        tier = OfferTierSettings.model_validate({"percent": 10, "segments": text})
        assert tier.segments == ["vip", "gold"]


def test_a_broken_json_list_in_env_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFIER_API__KEYS", '["k1", ')
    with pytest.raises(ConfigError, match="NOTIFIER_API__KEYS"):
        load_settings()
