"""Settings: embedded defaults, then ``config.toml``, then ``NOTIFIER_<SECTION>__<KEY>`` env vars.

Load once at start-up with :func:`load_settings` and pass the object down; nothing in the
package reads the environment on its own. With no file and no variables the engine runs on
its embedded defaults: SQLite under ``var/``, every channel writing to ``var/outbox/``.

    settings = load_settings(Path("config.toml"))
    settings.email.smtp.host      # NOTIFIER_EMAIL__SMTP__HOST overrides the file
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from notifier.config_types import Cap, CapText, Duration, TimeWindow, Window, text_list
from notifier.errors import ConfigError

CONFIG_ENV = "NOTIFIER_CONFIG"
_T = TypeVar("_T")
CHANNELS = ("email", "sms", "push")
RATE_LIMITED = (*CHANNELS, "webhook", "shopify")
PURPOSES = ("transactional", "marketing")


class Section(BaseModel):
    """Base of every ``[section]``: a key it does not know (a typo) is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means sqlite:///<data_dir>/notifier.db",
    )
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        # Checked by shape here (config imports no database library); the engine opens it.
        if value.strip() and not re.fullmatch(r"(sqlite|postgresql)(\+\w+)?://\S*", value):
            raise ValueError("not a supported database URL: use sqlite:///path/notifier.db "
                             "or postgresql+psycopg://user:pass@host/notifier")
        return value.strip()


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=1 << 30,
                                description="larger request bodies get 413")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="base URL customers and providers reach us at (links, callbacks)",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="signs customer links (unsubscribe, clicks, surveys); empty: a random "
        "one generated on first start and kept in <data_dir>/secret_key (refused in "
        "production, where every process must share one)",
    )


#: A list setting: in an environment variable either a JSON list or comma-separated
#: (NOTIFIER_API__KEYS='["k1","k2"]' or NOTIFIER_API__KEYS=k1,k2), see text_list.
TextList = Annotated[list[_T], NoDecode, BeforeValidator(text_list)]


class ApiSettings(Section):
    keys: TextList[SecretStr] = Field(default_factory=list, description="bearer keys for /v1/*")
    idempotency_key_ttl: Duration = Field(
        default=timedelta(hours=24),
        description="how long an Idempotency-Key is remembered (per API key and endpoint)",
    )
    batch_max_records: int = Field(
        default=200, ge=1, le=10_000,
        description="group commit: at most this many records of concurrent webhook and API "
        "requests are applied in one transaction",
    )
    batch_window_ms: int = Field(
        default=20, ge=0, le=1000,
        description="group commit: how long a batch waits after the previous commit for "
        "as many requests as that one held (a lone request is applied at once)",
    )


class ShopSettings(Section):
    name: str = "Sklep"
    country: str = "PL"
    timezone: str = "Europe/Warsaw"
    default_locale: str = "pl"
    currency: str = Field(default="PLN", pattern=r"^[A-Z]{3}$")
    support_email: str = "pomoc@example.com"
    support_phone: str = "+48 22 000 00 00"
    contact_url: str = ""

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        import holidays

        if value.upper() not in holidays.list_supported_countries():
            raise ValueError(f"{value!r} is not a country the holidays calendar knows "
                             "(ISO 3166 alpha-2, e.g. PL, DE, US)")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Warsaw)") from exc
    return value


class ServiceLevel(Section):
    """Promise made for a shipping method: ship and deliver within so many business days."""

    ship_within_days: int = 1
    deliver_within_days: int = 2


class ServiceLevelSettings(Section):
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


class ShopifySettings(Section):
    webhook_secret: SecretStr = SecretStr("")
    previous_webhook_secret: SecretStr = SecretStr("")


class WooCommerceSettings(Section):
    webhook_secret: SecretStr = SecretStr("")


class SmtpSettings(Section):
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    starttls: bool = True
    use_tls: bool = False
    timeout_s: float = Field(default=30.0, gt=0, description="connect and per-command timeout")
    final_reply_timeout_s: float = Field(
        default=600.0, gt=0,
        description="wait for the reply to the message data (RFC 5321: 10 minutes); no "
                    "reply in time is an unknown outcome, see delivery.on_unknown")
    pool_size: int = Field(default=4, ge=1)


class EmailSettings(Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    transport: Literal["outbox", "smtp"] = "outbox"
    from_: str = Field(default="Sklep <sklep@example.com>", alias="from")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    bounces: BounceMailboxSettings = Field(default_factory=lambda: BounceMailboxSettings())


class TwilioSettings(Section):
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base_url: str = Field(default="", description="empty means Twilio's own API")


class SmsapiSettings(Section):
    """SMSAPI.pl through its official client (``sms.transport = "smsapi"``)."""

    access_token: SecretStr = Field(default=SecretStr(""), description="OAuth token (panel)")
    sender: str = Field(default="", description="approved sender name; empty: account default")
    username: str = Field(
        default="", description="account login; delivery reports naming another are refused"
    )
    api_base_url: str = Field(default="", description="empty means https://api.smsapi.pl/")
    timeout_s: float = Field(default=15.0, gt=0)
    test: bool = Field(default=False, description="validated by SMSAPI but not sent or charged")
    inbound_token: SecretStr = Field(
        default=SecretStr(""), description="secret path of the reply callback; empty: off"
    )


class SmsSettings(Section):
    transport: Literal["outbox", "twilio", "smsapi"] = "outbox"
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    smsapi: SmsapiSettings = Field(default_factory=SmsapiSettings)


class WebPushSettings(Section):
    vapid_private_key: SecretStr = SecretStr("")
    vapid_public_key: str = ""
    vapid_subject: str = "mailto:sklep@example.com"


class FcmSettings(Section):
    project_id: str = ""
    service_account_file: str = ""
    api_base_url: str = ""


class PushCaptureSettings(Section):
    """Subscriptions collected on the storefront (``/push/subscribe.js``, ``/push/sw.js``)."""

    enabled: bool = False
    publishable_key: str = Field(
        default="", description="identifies the shop in its pages; can only create subscriptions"
    )
    allowed_origins: TextList[str] = Field(
        default_factory=list, description="storefront origins, e.g. https://sklep.example.pl"
    )
    customer_token_secret: SecretStr = Field(
        default=SecretStr(""), description="HMAC key the shop signs customer tokens with"
    )
    customer_source: str = Field(
        default="api", description="source of the customers the tokens name (shopify, api...)"
    )
    max_token_age_s: int = Field(
        default=86_400, ge=60, description="tokens expiring later than this are refused"
    )
    rate_limit_per_minute: int = Field(default=30, ge=1, description="requests per client address")
    icon_url: str = Field(default="", description="icon the notifications show")

    @field_validator("allowed_origins")
    @classmethod
    def _bare_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin.rstrip("/").count("/") != 2 or not origin.startswith(("https://", "http://")):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        return [o.rstrip("/") for o in value]

    @model_validator(mode="after")
    def _keys_when_enabled(self) -> PushCaptureSettings:
        if self.enabled and not self.publishable_key:
            raise ValueError("enabled needs publishable_key")
        if self.enabled and not self.customer_token_secret.get_secret_value():
            raise ValueError("enabled needs customer_token_secret")
        if self.enabled and not self.allowed_origins:
            raise ValueError("enabled needs allowed_origins")
        return self


class PushSettings(Section):
    transport: Literal["outbox", "webpush", "fcm"] = "outbox"
    webpush: WebPushSettings = Field(default_factory=WebPushSettings)
    fcm: FcmSettings = Field(default_factory=FcmSettings)
    capture: PushCaptureSettings = Field(default_factory=PushCaptureSettings)


class PathSettings(Section):
    data_dir: Path = Path("var")
    rules_dir: Path = Path("rules")
    templates_dir: Path = Path("templates")

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


class DeliverySettings(Section):
    """How the dispatcher sends: retries, leases, quiet hours, caps and rate limits."""

    max_attempts: int = Field(default=6, ge=1, description="tries before a message fails")
    backoff_base_s: float = Field(default=30.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    lease_s: float = Field(default=300.0, gt=0, description="a claim older than this is retaken")
    on_unknown: Literal["resend", "hold"] = Field(
        default="hold",
        description="a send with no known outcome: hold it (at most once) or resend it "
                    "(at least once)")
    batch_size: int = Field(default=100, ge=1)
    concurrency: int = Field(default=8, ge=1, description="messages in flight per worker")
    commit_window_ms: float = Field(
        default=5.0, ge=0, le=1000,
        description="the attempts and provider answers of concurrent sends are committed "
                    "together at most this often; a crash loses at most this window's "
                    "answers (judged by on_unknown)")
    sms_max_segments: int = Field(default=3, ge=1)
    holidays_quiet_for_marketing: bool = True
    quiet_hours: dict[str, Window] = Field(
        default_factory=lambda: {"sms": TimeWindow.parse("21:00-08:00"),
                                 "push": TimeWindow.parse("21:00-08:00")},
        description='"channel" or "channel.purpose" -> "HH:MM-HH:MM" in the customer\'s zone',
    )
    frequency_caps: dict[str, CapText] = Field(
        default_factory=lambda: {"marketing": Cap.parse("1/24h")},
        description='purpose -> "N/duration": at most N messages per customer per window',
    )
    rate_limits: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="channel -> messages per second (0: unlimited)"
    )

    @field_validator("quiet_hours")
    @classmethod
    def _window_keys(cls, value: dict[str, TimeWindow | None]) -> dict[str, TimeWindow | None]:
        for key in value:
            channel, _, purpose = key.partition(".")
            if channel not in CHANNELS or (purpose and purpose not in PURPOSES):
                raise ValueError(f"{key!r}: keys are a channel ({', '.join(CHANNELS)}) or "
                                 f"channel.purpose ({', '.join(PURPOSES)})")
        return value

    @field_validator("frequency_caps")
    @classmethod
    def _cap_keys(cls, value: dict[str, Cap | None]) -> dict[str, Cap | None]:
        for key in value:
            if key not in PURPOSES:
                raise ValueError(f"{key!r}: keys are purposes ({', '.join(PURPOSES)})")
        return value

    @field_validator("rate_limits")
    @classmethod
    def _rate_keys(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            if key not in RATE_LIMITED:
                raise ValueError(f"{key!r}: keys are channels ({', '.join(RATE_LIMITED)})")
        return value

    def quiet_window(self, channel: str, purpose: str) -> TimeWindow | None:
        """The quiet window of ``channel`` for ``purpose`` (``sms.marketing`` before ``sms``)."""
        specific = f"{channel}.{purpose}"
        if specific in self.quiet_hours:
            return self.quiet_hours[specific]
        return self.quiet_hours.get(channel)


class SchedulerSettings(Section):
    detect_interval_s: float = Field(default=30.0, gt=0, le=86400)
    dispatch_interval_s: float = Field(default=5.0, gt=0, le=86400)


class OutboundWebhookSettings(Section):
    """A receiver of our signed outbound webhooks (shop sync, helpdesk).

    Every POST carries ``X-Notifier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<raw body>" keyed with secret>``; a receiver recomputes it and refuses an old ``t``
    (replays). Each call is an outbox row retried like every message (``[delivery]``
    ``max_attempts`` and backoff); ``X-Notifier-Delivery`` lets the receiver deduplicate.
    """

    url: str = Field(default="", description="empty: nothing is sent")
    secret: SecretStr = SecretStr("")
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _signed(self) -> OutboundWebhookSettings:
        if self.url and not self.secret.get_secret_value():
            raise ValueError("a webhook url needs a secret to sign with")
        return self


class OfferTierSettings(Section):
    """One tier of an offer policy: the conditions it needs and the discount it gives.

    Every bound is inclusive and an unset one always holds; ``segments`` empty means any
    segment. Order totals are in the shop currency (other currencies are converted with
    ``[offers].exchange_rates``). ``percent`` is for ``kind = "percent"``, ``amount`` (a
    table currency -> amount, e.g. ``{ PLN = 20.00, EUR = 5.00 }``) for ``"amount"``.
    """

    min_days_late: int | None = Field(default=None, ge=0)
    max_days_late: int | None = Field(default=None, ge=0)
    min_order_total: Decimal | None = Field(default=None, ge=0)
    max_order_total: Decimal | None = Field(default=None, ge=0)
    segments: TextList[str] = Field(default_factory=list)
    kind: Literal["percent", "amount", "free_shipping"] = "percent"
    percent: Decimal | None = Field(default=None, gt=0, le=100)
    amount: dict[str, Decimal] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _value_given(self) -> OfferTierSettings:
        if self.kind == "percent" and self.percent is None:
            raise ValueError('kind = "percent" needs percent = N')
        if self.kind == "amount" and not self.amount:
            raise ValueError('kind = "amount" needs amount = { PLN = 20.00, ... }')
        if any(v <= 0 for v in self.amount.values()):
            raise ValueError("amounts must be positive")
        return self


class OfferPolicySettings(Section):
    """A named compensation policy, referenced from a rule step (``offer = "name"``).

    The first tier that matches decides the discount. ``limit`` ("N/duration", empty: none)
    counts offers per customer across every policy of the same ``limit_group`` (default:
    the policy's name). ``monthly_budget`` caps the estimated cost issued per calendar month
    of the shop's timezone, in the shop currency: percent offers cost percent x order
    total, amounts their value, free shipping ``free_shipping_cost``. When the limit, the
    budget or the code pool is exhausted the message goes out without an offer, or the
    step escalates to a person with ``on_exhausted = "escalate"``.
    """

    description: str = ""
    tiers: list[OfferTierSettings] = Field(min_length=1)
    valid_for: Duration = timedelta(days=30)
    limit: CapText = Cap(1, timedelta(days=30))
    limit_group: str = ""
    monthly_budget: Decimal | None = Field(default=None, ge=0)
    free_shipping_cost: Decimal = Field(default=Decimal("15.00"), ge=0)
    on_exhausted: Literal["send_without", "escalate"] = "send_without"
    codes: Literal["generate", "pool"] = "generate"
    code_prefix: str = Field(default="SORRY", pattern=r"^[A-Z0-9]{0,16}$")
    pool_low_threshold: int = Field(default=50, ge=0)

    @field_validator("valid_for")
    @classmethod
    def _valid_for(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("an offer must be valid for longer than zero")
        return value

    @model_validator(mode="after")
    def _pool_has_one_value(self) -> OfferPolicySettings:
        # A pooled code was made in the shop with one fixed discount; tiers cannot vary it.
        values = {(t.kind, t.percent, tuple(sorted(t.amount.items()))) for t in self.tiers}
        if self.codes == "pool" and len(values) > 1:
            raise ValueError('codes = "pool": every tier must give the same discount')
        return self


class ShopifyAdminSettings(Section):
    """Create every issued code as a discount in Shopify (Admin GraphQL API)."""

    enabled: bool = False
    shop: str = Field(default="", description="e.g. example.myshopify.com")
    access_token: SecretStr = SecretStr("")
    api_version: str = "2025-10"
    api_base_url: str = Field(default="", description="empty: https://<shop>")
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> ShopifyAdminSettings:
        if self.enabled and not (self.shop or self.api_base_url):
            raise ValueError("enabled needs shop (or api_base_url)")
        if self.enabled and not self.access_token.get_secret_value():
            raise ValueError("enabled needs access_token")
        return self


class OffersSettings(Section):
    """Compensation offers. Policies here replace or add to the embedded defaults
    (``delay-compensation``, ``cart-recovery``) by name."""

    enabled: bool = True
    code_length: int = Field(default=10, ge=6, le=32, description="random characters")
    exchange_rates: dict[str, Decimal] = Field(
        default_factory=dict, description="currency -> value of 1 unit in the shop currency"
    )
    policies: dict[str, OfferPolicySettings] = Field(default_factory=dict)
    webhook: OutboundWebhookSettings = Field(default_factory=OutboundWebhookSettings)
    webhook_events: TextList[Literal["offer.issued", "offer.voided", "offer.pool_low",
                                     "offer.pool_empty"]] = Field(
        default_factory=lambda: ["offer.issued", "offer.voided", "offer.pool_low",
                                 "offer.pool_empty"])
    shopify: ShopifyAdminSettings = Field(default_factory=ShopifyAdminSettings)


class EscalationSettings(Section):
    """Handing a case to a person: a signed webhook to the helpdesk and/or an email."""

    webhook: OutboundWebhookSettings = Field(default_factory=OutboundWebhookSettings)
    email: bool = True
    email_to: str = Field(default="", description="empty: shop.support_email")
    incident_window: Duration = timedelta(days=30)
    timeline_limit: int = Field(default=50, ge=1)


class BaseLinkerSettings(Section):
    """Pull orders and parcels from BaseLinker, which sends no webhooks.

    The poller reads BaseLinker's event journal (``getJournalList``; BaseLinker support must
    enable it for the account) from the last position it stored, and re-reads orders by
    confirmation date when it was away longer than the journal keeps events. ``status_map``
    maps the account's own order statuses (by id or by name, see ``getOrderStatusList``)
    onto ours, e.g. ``{ "1051" = "confirmed", "Wysłane" = "shipped" }``.
    """

    enabled: bool = False
    token: SecretStr = Field(default=SecretStr(""), description="API token (X-BLToken)")
    api_url: str = "https://api.baselinker.com/connector.php"
    poll_interval_s: float = Field(default=60.0, gt=0)
    requests_per_minute: int = Field(default=100, ge=1, description="BaseLinker allows 100")
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, description="retries of one transient failure")
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=900.0, gt=0)
    unhealthy_after: int = Field(default=3, ge=1, description="failed polls in a row")
    journal_safe_age_h: float = Field(
        default=60.0, gt=0, description="older last journal read: re-sync (journal keeps 72 h)"
    )
    resync_days: int = Field(default=14, ge=1, description="orders re-read after a gap")
    tracking_refresh_s: float = Field(default=3600.0, gt=0)
    tracking_max_age_days: int = Field(default=30, ge=1)
    status_map: dict[str, Literal["pending", "confirmed", "shipped", "delivered", "cancelled"]] = (
        Field(default_factory=dict, description="BaseLinker status id or name -> our status")
    )

    @model_validator(mode="after")
    def _token_when_enabled(self) -> BaseLinkerSettings:
        if self.enabled and not self.token.get_secret_value():
            raise ValueError("enabled needs token")
        return self


# --- track stage (#13): receipts, clicks, attribution, surveys, contacts ------------------


class BounceMailboxSettings(Section):
    """``[email.bounces]``: a mailbox receiving the DSNs of mail relayed through the shop's
    own SMTP server, read over IMAP on a schedule. With ``verp_domain`` set, messages go
    out with a per-message return path ``<verp_local>+<token>@<verp_domain>``."""

    enabled: bool = False
    host: str = "localhost"
    port: int = Field(default=993, ge=1, le=65535)
    ssl: bool = True
    starttls: bool = False
    username: str = ""
    password: SecretStr = SecretStr("")
    mailbox: str = "INBOX"
    interval_s: float = Field(default=300.0, gt=0)
    delete_processed: bool = Field(default=False, description="else marked \\Seen and kept")
    verp_local: str = "bounces"
    verp_domain: str = Field(default="", description="empty: no VERP return path")

    @model_validator(mode="after")
    def _login_when_enabled(self) -> BounceMailboxSettings:
        if self.enabled and not (self.username and self.password.get_secret_value()):
            raise ValueError("enabled needs username and password")
        return self


class SesSettings(Section):
    """Amazon SES events through an SNS HTTP(S) subscription (``POST /webhooks/ses``)."""

    enabled: bool = False
    topic_arns: TextList[str] = Field(default_factory=list, description="empty: any topic")
    cert_url_pattern: str = Field(
        default=r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/",
        description="regex the SigningCertURL and SubscribeURL must match")
    confirm_subscriptions: bool = True


class MailgunSettings(Section):
    """Mailgun webhooks (``POST /webhooks/mailgun``), signed with the HTTP signing key."""

    signing_key: SecretStr = SecretStr("")
    max_age_s: float = Field(default=300.0, gt=0, description="older timestamps refused")


class SendGridSettings(Section):
    """SendGrid Event Webhook (``POST /webhooks/sendgrid``) with signature verification."""

    verification_key: str = Field(default="", description="the public key SendGrid shows")
    max_age_s: float = Field(default=300.0, gt=0)


class PostmarkSettings(Section):
    """Postmark webhooks (``POST /webhooks/postmark``) behind basic auth on the URL."""

    username: str = ""
    password: SecretStr = SecretStr("")


class ContactSourceSettings(Section):
    """How one helpdesk's outgoing JSON maps onto a contact: dotted paths into its body.

    ``topics`` maps the helpdesk's own tags/categories onto ours; unmapped ones are
    ``other``."""

    id: str = "id"
    customer_email: str = "customer.email"
    customer_phone: str = ""
    customer_id: str = ""
    order: str = "order"
    channel: str = "channel"
    topic: str = "topic"
    at: str = "created_at"
    topics: dict[str, Literal["where_is_my_order", "delay_complaint", "damaged", "return",
                              "other"]] = Field(default_factory=dict)


class SurveySettings(Section):
    """One-click satisfaction questions; a low answer is handed to a person once."""

    low_csat: int = Field(default=2, ge=1, le=5, description="CSAT at or below escalates")
    low_nps: int = Field(default=6, ge=0, le=10, description="NPS at or below escalates")


class TrackSettings(Section):
    """``[track]``: what happens after a send."""

    click_tracking: bool = True
    open_pixel: bool = True
    scanner_grace_s: float = Field(default=10.0, ge=0,
                                   description="clicks this soon after sending are scanners")
    scanner_burst_s: float = Field(default=5.0, ge=0,
                                   description="every link clicked within this is a scanner")
    attribution_hours: dict[Literal["email", "sms", "push"], float] = Field(
        default_factory=lambda: {"email": 120.0, "push": 120.0, "sms": 24.0},
        description="last-touch window after sending (or the held-out due time)")
    interval_s: float = Field(default=60.0, gt=0, description="attribution job interval")
    ses: SesSettings = Field(default_factory=SesSettings)
    mailgun: MailgunSettings = Field(default_factory=MailgunSettings)
    sendgrid: SendGridSettings = Field(default_factory=SendGridSettings)
    postmark: PostmarkSettings = Field(default_factory=PostmarkSettings)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    contacts: dict[str, ContactSourceSettings] = Field(
        default_factory=dict,
        description="per helpdesk: the JSON mapping of POST /v1/contacts?source=<name>")
class ReportsSettings(Section):
    """Proof-of-value reports (#14): what a message costs and when a verdict may be given.

    ``message_cost`` is per message sent, in the shop currency (e.g. ``sms = 0.07``).
    A rule's verdict stays ``insufficient data`` until each arm has ``min_customers``
    customers and ``min_conversions`` conversions, and ``preliminary`` until its planned
    readout: ``readouts[rule]`` (a date), else ``readout_after_days`` after the rule's
    first assignment. ``primary_metric`` picks what the verdict is about per rule
    (``conversion`` by default; ``contacts``: fewer support contacts is better; ``csat``).
    """

    message_cost: dict[str, Decimal] = Field(
        default_factory=lambda: {"email": Decimal(0), "sms": Decimal(0), "push": Decimal(0)},
        description="cost of one sent message per channel, shop currency")
    min_customers: int = Field(default=100, ge=1, description="per arm, before any verdict")
    min_conversions: int = Field(default=5, ge=0, description="per arm, before any verdict")
    readout_after_days: int = Field(default=28, ge=0)
    readouts: dict[str, date] = Field(default_factory=dict,
                                      description="rule name -> planned readout date")
    primary_metric: dict[str, Literal["conversion", "contacts", "csat"]] = Field(
        default_factory=dict, description="rule name -> the metric its verdict is about")
    target_difference: float = Field(default=0.02, gt=0, lt=1,
                                     description="uplift the planner reports weeks for")
    contact_window_days: int = Field(default=14, ge=0,
                                     description="support contacts counted after assignment")
    survey_window_days: int = Field(default=30, ge=0,
                                    description="survey answers counted after assignment")
    bootstrap_resamples: int = Field(default=2000, ge=100, le=100_000)


# --- transit predictions (#19) ------------------------------------------------------------


class TransitSettings(Section):
    """The transit model behind ``shipment.at_risk`` and ``notifier carriers report``.

    Refit once a day at ``refit_hour`` (shop time) by one worker (a lease), from the
    parcels handed over in the last ``window_days``. Curves are kept per (carrier,
    service, region), scan status and silence (hours since the last scan, on a grid of
    ``step_hours`` up to ``max_silence_hours``); one fitted on fewer than
    ``min_observations`` stays out and the wider segment (the carrier's curve) speaks.
    """

    enabled: bool = True
    refit_hour: int = Field(default=3, ge=0, le=23, description="hour of the daily refit")
    window_days: int = Field(default=180, ge=7, description="training window")
    region_digits: int = Field(default=2, ge=1, le=5, description="postcode digits of a region")
    step_hours: float = Field(default=4.0, gt=0, le=48)
    max_silence_hours: float = Field(default=120.0, gt=0)
    min_observations: int = Field(default=30, ge=5)
    holdout_days: int = Field(default=28, ge=1, description="backtest period of the report")


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
    offers: OffersSettings = Field(default_factory=OffersSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    baselinker: BaseLinkerSettings = Field(default_factory=BaseLinkerSettings)
    track: TrackSettings = Field(default_factory=TrackSettings)
    reports: ReportsSettings = Field(default_factory=ReportsSettings)
    transit: TransitSettings = Field(default_factory=TransitSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.paths.data_dir / 'notifier.db'}"

    @model_validator(mode="after")
    def _signing_secret(self) -> Settings:
        # Customer links are signed with this: a value written in the source (or in the
        # example config) would let anyone unsubscribe every customer, ids being
        # sequential. Unset outside production, each installation gets its own.
        secret = self.server.secret_key.get_secret_value()
        if secret in PUBLISHED_SECRETS:
            raise ValueError("server.secret_key: a published placeholder; remove it to have "
                             "a random one generated, or set your own")
        if not secret and self.environment != "production":
            self.server.secret_key = SecretStr(stored_secret(self.paths.data_dir / "secret_key"))
        return self


#: Values that appeared in notifier's source or documentation: never signed with.
PUBLISHED_SECRETS = frozenset({"dev-insecure-secret", "change-me"})


def stored_secret(path: Path) -> str:
    """The secret kept in ``path``, created (random, 256 bits, mode 0600) when missing.

    Created under a temporary name and linked into place, so processes starting at once
    all read the one that won."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temp, path)
    except FileExistsError:
        pass  # another process got there first: its secret is the one
    finally:
        temp.unlink()
    return path.read_text(encoding="ascii").strip()


def _reading(toml_file: Path | None) -> type[Settings]:
    """Settings reading ``toml_file`` (a subclass carries the path: no module state)."""
    if toml_file is None:
        return Settings

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_file)

    FileSettings.__name__ = FileSettings.__qualname__ = "Settings"
    return FileSettings


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
    """Build the settings once, failing loudly with the source, the key and the reason.

    ``ConfigError("config.toml: delivery.quiet_hours.sms: '25:00-08:00' is not a time
    window HH:MM-HH:MM")``; a value from the environment names its variable instead.
    """
    path = resolve_config_path(config_path)
    if path is not None:
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        settings = _reading(path)(**overrides)
    except SettingsError as exc:
        raise ConfigError(f"{path or 'environment'}: invalid configuration: {exc}: "
                          f"{exc.__cause__}") from exc
    except ValidationError as exc:
        problems = "\n  ".join(_problem(err, path) for err in exc.errors())
        raise ConfigError(f"invalid configuration:\n  {problems}") from exc
    _refuse_placeholders(settings)
    return settings


def _problem(err: Any, path: Path | None) -> str:
    """One validation error as ``<source>: <dotted key>: <reason>``."""
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    variable = "NOTIFIER_" + "__".join(p.upper() for p in loc)
    # A whole section may come from one JSON-valued variable (NOTIFIER_DELIVERY__QUIET_HOURS).
    from_env = next((variable[:i] for i in range(len(variable), 0, -1)
                     if variable[:i] in os.environ and
                     (i == len(variable) or variable[i:i + 2] == "__")), None)
    source = from_env or (str(path) if path is not None else "settings")
    reason = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        reason = "unknown key (a typo?)"
    value = err.get("input")
    secretive = any(word in key for word in ("url", "secret", "password", "token", "key"))
    shown = f" (got {value!r})" if isinstance(value, str | int | float) and not secretive \
        and repr(value) not in reason and err["type"] != "extra_forbidden" else ""
    return f"{source}: {key}: {reason}{shown}"


def _refuse_placeholders(settings: Settings) -> None:
    if settings.environment != "production":
        return
    if not settings.server.secret_key.get_secret_value():
        raise ConfigError("server.secret_key: must be set in production (every process "
                          "signs and checks customer links with it)")
    for key in settings.api.keys:
        if key.get_secret_value() in {"", "change-me", "dev-key"}:
            raise ConfigError("api.keys: placeholder key refused in production")
