"""Configuration: embedded defaults, the TOML file, NOTIFIER_* variables, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.config import load_settings
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
