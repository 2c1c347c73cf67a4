"""Settings: embedded defaults, then ``config.toml``, then ``NOTIFIER_<SECTION>__<KEY>`` env vars.

Load once at start-up with :func:`load_settings` and pass the object down; nothing in the
package reads the environment on its own. With no file and no variables the engine runs on
its embedded defaults: SQLite under ``var/``, every channel writing to ``var/outbox/``.

    settings = load_settings(Path("config.toml"))
    settings.email.smtp.host      # NOTIFIER_EMAIL__SMTP__HOST overrides the file
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from notifier.errors import ConfigError

CONFIG_ENV = "NOTIFIER_CONFIG"


class DatabaseSettings(BaseModel):
    url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means sqlite:///<data_dir>/notifier.db",
    )
    echo: bool = False


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=1_048_576, description="larger request bodies get 413")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="base URL customers and providers reach us at (links, callbacks)",
    )
    secret_key: SecretStr = Field(
        default=SecretStr("dev-insecure-secret"),
        description="signs unsubscribe links; must be set in production",
    )


class ApiSettings(BaseModel):
    keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="bearer keys for /v1/*"
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        # NOTIFIER_API__KEYS="k1,k2" is friendlier than a JSON list in an env var.
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value


class ShopSettings(BaseModel):
    name: str = "Sklep"
    country: str = "PL"
    timezone: str = "Europe/Warsaw"
    default_locale: str = "pl"
    currency: str = "PLN"
    support_email: str = "pomoc@example.com"
    support_phone: str = "+48 22 000 00 00"
    contact_url: str = ""


class ServiceLevel(BaseModel):
    """Promise made for a shipping method: ship and deliver within so many business days."""

    ship_within_days: int = 1
    deliver_within_days: int = 2


class ServiceLevelSettings(BaseModel):
    default: ServiceLevel = Field(default_factory=ServiceLevel)
    methods: dict[str, ServiceLevel] = Field(
        default_factory=dict, description="shipping method name (case-insensitive) -> promise"
    )

    def for_method(self, method: str | None) -> ServiceLevel:
        wanted = (method or "").strip().lower()
        for name, level in self.methods.items():
            if name.strip().lower() == wanted:
                return level
        return self.default


class ShopifySettings(BaseModel):
    webhook_secret: SecretStr = SecretStr("")
    previous_webhook_secret: SecretStr = SecretStr("")


class WooCommerceSettings(BaseModel):
    webhook_secret: SecretStr = SecretStr("")


class SmtpSettings(BaseModel):
    host: str = "localhost"
    port: int = 587
    username: str = ""
    password: SecretStr = SecretStr("")
    starttls: bool = True
    use_tls: bool = False
    timeout_s: float = 30.0
    pool_size: int = 4


class EmailSettings(BaseModel):
    model_config = {"populate_by_name": True}

    transport: Literal["outbox", "smtp"] = "outbox"
    from_: str = Field(default="Sklep <sklep@example.com>", alias="from")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)


class TwilioSettings(BaseModel):
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base_url: str = Field(default="", description="empty means Twilio's own API")


class SmsSettings(BaseModel):
    transport: Literal["outbox", "twilio"] = "outbox"
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)


class WebPushSettings(BaseModel):
    vapid_private_key: SecretStr = SecretStr("")
    vapid_public_key: str = ""
    vapid_subject: str = "mailto:sklep@example.com"


class FcmSettings(BaseModel):
    project_id: str = ""
    service_account_file: str = ""
    api_base_url: str = ""


class PushSettings(BaseModel):
    transport: Literal["outbox", "webpush", "fcm"] = "outbox"
    webpush: WebPushSettings = Field(default_factory=WebPushSettings)
    fcm: FcmSettings = Field(default_factory=FcmSettings)


class PathSettings(BaseModel):
    data_dir: Path = Path("var")
    rules_dir: Path = Path("rules")
    templates_dir: Path = Path("templates")

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


class DeliverySettings(BaseModel):
    """How the dispatcher sends: retries, leases, quiet hours, caps and rate limits."""

    max_attempts: int = Field(default=6, ge=1, description="tries before a message fails")
    backoff_base_s: float = Field(default=30.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    lease_s: float = Field(default=300.0, gt=0, description="a claim older than this is retaken")
    batch_size: int = Field(default=100, ge=1)
    concurrency: int = Field(default=8, ge=1, description="messages in flight per worker")
    sms_max_segments: int = Field(default=3, ge=1)
    holidays_quiet_for_marketing: bool = True
    quiet_hours: dict[str, str] = Field(
        default_factory=lambda: {"sms": "21:00-08:00", "push": "21:00-08:00"},
        description='"channel" or "channel.purpose" -> "HH:MM-HH:MM" in the customer\'s zone',
    )
    frequency_caps: dict[str, str] = Field(
        default_factory=lambda: {"marketing": "1/24h"},
        description='purpose -> "N/duration": at most N messages per customer per window',
    )
    rate_limits: dict[str, float] = Field(
        default_factory=dict, description="channel -> messages per second (0: unlimited)"
    )


class SchedulerSettings(BaseModel):
    detect_interval_s: float = 30.0
    dispatch_interval_s: float = 5.0


class Settings(BaseSettings):
    """All of notifier's configuration; every section mirrors a ``[section]`` of the TOML."""

    model_config = SettingsConfigDict(
        env_prefix="NOTIFIER_",
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
    )

    environment: Literal["development", "production"] = "development"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    shop: ShopSettings = Field(default_factory=ShopSettings)
    service_levels: ServiceLevelSettings = Field(default_factory=ServiceLevelSettings)
    shopify: ShopifySettings = Field(default_factory=ShopifySettings)
    woocommerce: WooCommerceSettings = Field(default_factory=WooCommerceSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _toml_file.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.paths.data_dir / 'notifier.db'}"


class _TomlFile:
    """Which TOML file the next Settings() reads; a context var would be overkill here."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def get(self) -> Path | None:
        return self.path


_toml_file = _TomlFile()


def resolve_config_path(explicit: Path | None = None) -> Path | None:
    """``--config`` wins, then ``NOTIFIER_CONFIG``, then ``./config.toml`` if it exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV} points to a missing file: {path}")
        return path
    default = Path("config.toml")
    return default if default.is_file() else None


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once, failing loudly with the offending key named."""
    _toml_file.path = resolve_config_path(config_path)
    try:
        settings = Settings(**overrides)
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}: {exc.__cause__}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
    finally:
        _toml_file.path = None
    _refuse_placeholders(settings)
    return settings


def _refuse_placeholders(settings: Settings) -> None:
    if settings.environment != "production":
        return
    if settings.server.secret_key.get_secret_value() in {"", "dev-insecure-secret"}:
        raise ConfigError("server.secret_key: placeholder secret refused in production")
    for key in settings.api.keys:
        if key.get_secret_value() in {"", "change-me", "dev-key"}:
            raise ConfigError("api.keys: placeholder key refused in production")
