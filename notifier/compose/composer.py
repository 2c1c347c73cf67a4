"""The compose stage's entry point: RenderContext + message name -> a ready Message.

    composer = Composer(settings.paths.templates_dir, settings.shop,
                        from_addr=settings.email.from_, sms_max_segments=3)
    if composer.available("shipment_late", Channel.SMS, customer.locale):
        message = composer.render("shipment_late", Channel.SMS, ctx)

``render`` either returns a complete message or raises: :class:`TemplateError` when a
template is missing, broken or renders an SMS over the segment limit (the engine then
disables the rule step), :class:`RecipientError` when this customer cannot get it on
that channel (no address; a marketing email without an unsubscribe link). It never
touches the database or the network.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

from notifier.compose import email, sms
from notifier.compose.context import RenderContext
from notifier.compose.environment import TemplateEnvironment
from notifier.compose.filters import Formatter
from notifier.compose.layout import (
    PARTS,
    language_of,
    locale_chain,
    normalise_locale,
    resolve_locale,
    template_name,
)
from notifier.compose.recipients import (
    RecipientError,
    email_of,
    phone_of,
    push_subscription_of,
)
from notifier.compose.views import namespace
from notifier.config import Settings, ShopSettings
from notifier.domain import Channel, EmailMessage, Message, Purpose, PushMessage, SmsMessage
from notifier.errors import TemplateError

DEFAULT_SMS_MAX_SEGMENTS = 3


class SmsTooLongError(TemplateError):
    """An SMS rendered over the segment limit; ``size`` says by how much."""

    def __init__(self, path: str, size: sms.SmsSize, limit: int) -> None:
        super().__init__(
            f"{path}:1: SMS too long: {size.segments} {size.encoding} segments "
            f"({size.units} characters), limit {limit}"
        )
        self.path = path
        self.size = size
        self.limit = limit


class Composer:
    """Renders the templates under ``templates_dir`` for one shop.

    ``shop`` decides the fallback locale and timezone; ``from_addr`` is the email sender;
    ``sms_max_segments`` is the hard limit above which an SMS is refused (3 UCS-2
    segments = 201 characters of Polish).
    """

    def __init__(
        self,
        templates_dir: Path,
        shop: ShopSettings,
        *,
        from_addr: str,
        sms_max_segments: int = DEFAULT_SMS_MAX_SEGMENTS,
    ) -> None:
        if sms_max_segments < 1:
            raise ValueError("sms_max_segments must be at least 1")
        self.templates_dir = Path(templates_dir)
        self.shop = shop
        self.from_addr = from_addr
        self.sms_max_segments = sms_max_segments
        self.environment = TemplateEnvironment(self.templates_dir)
        # Locale choices of a preloaded set, per (message, channel, locales tried): with
        # the files known, a stat() per part per message (five per email) is not needed.
        self._chosen: dict[tuple[str, Channel, tuple[str, ...]], str | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings, *, sms_max_segments: int | None = None) -> Composer:
        """The composer the engine and the CLI use, configured from ``settings``
        (``sms_max_segments`` defaults to ``[delivery] sms_max_segments``)."""
        return cls(
            settings.paths.templates_dir,
            settings.shop,
            from_addr=settings.email.from_,
            sms_max_segments=sms_max_segments or settings.delivery.sms_max_segments,
        )

    # --- what exists -----------------------------------------------------------------

    def locale_for(self, message_name: str, channel: Channel, locale: str | None) -> str | None:
        """The template locale a customer speaking ``locale`` gets, or None if none fits."""
        chain = locale_chain(locale, self.shop.default_locale)
        return self._resolve(message_name, channel, chain)

    def _resolve(self, message_name: str, channel: Channel, chain: list[str]) -> str | None:
        files = self.environment.files
        if files is None:
            return resolve_locale(self.templates_dir, message_name, channel, chain)
        key = (message_name, channel, tuple(chain))
        if key not in self._chosen:
            self._chosen[key] = next(
                (loc for loc in chain if all(template_name(message_name, loc, p) in files
                                             for p in PARTS[channel] if p.required)), None)
        return self._chosen[key]

    def _exists(self, name: str) -> bool:
        files = self.environment.files
        return name in files if files is not None else (self.templates_dir / name).is_file()

    def available(self, message_name: str, channel: Channel, locale: str | None) -> bool:
        """Whether ``message_name`` can be sent on ``channel`` to a customer in ``locale``
        (after fallback to the shop's default locale and ``en``)."""
        return self.locale_for(message_name, channel, locale) is not None

    # --- rendering ---------------------------------------------------------------------

    def render(
        self,
        message_name: str,
        channel: Channel,
        ctx: RenderContext,
        *,
        transliterate: bool = False,
        locale: str | None = None,
    ) -> Message:
        """Render ``message_name`` for ``channel``.

        ``transliterate`` replaces letters outside GSM-7 (ą→a, ł→l) so an SMS costs
        GSM-7 segments. ``locale`` forces a template locale (previews, checks); by
        default it follows the customer's locale with fallback.
        """
        customer_locale = ctx.customer.locale if ctx.customer else None
        tried = [locale] if locale else locale_chain(customer_locale, self.shop.default_locale)
        chosen = self._resolve(message_name, channel, tried)
        if chosen is None:
            raise TemplateError(
                f"{self.templates_dir / message_name}:1: no {channel.value} template "
                f"in any of {', '.join(tried)}"
            )
        locale = chosen
        formatter = self.formatter(locale, ctx)
        if channel is Channel.EMAIL:
            return self._email(message_name, locale, ctx, formatter)
        if channel is Channel.SMS:
            return self._sms(message_name, locale, ctx, formatter, transliterate=transliterate)
        return self._push(message_name, locale, ctx, formatter)

    def formatter(self, template_locale: str, ctx: RenderContext) -> Formatter:
        """Formatting rules for ``ctx`` rendered with a ``template_locale`` template."""
        language = language_of(template_locale)
        wanted = normalise_locale(ctx.customer.locale if ctx.customer else None)
        candidates = [template_locale]
        if wanted and language_of(wanted) == language:
            candidates.insert(0, wanted)
        return Formatter(
            language=language,
            locale=_first_locale(tuple(candidates)),
            tz=_zone(ctx.customer.timezone if ctx.customer else None, self.shop.timezone),
            currency=ctx.shop.currency,
        )

    def _parts(
        self,
        message_name: str,
        locale: str,
        channel: Channel,
        variables: dict[str, object],
        keys: tuple[str, ...] | None = None,
    ) -> dict[str, str]:
        """Render the parts of ``channel`` (or only ``keys``); optional missing ones are ""."""
        rendered: dict[str, str] = {}
        for part in PARTS[channel]:
            if keys is not None and part.key not in keys:
                continue
            name = template_name(message_name, locale, part)
            if not part.required and not self._exists(name):
                rendered[part.key] = ""
                continue
            text = self.environment.render(name, variables)
            if part.required and not text.strip():
                raise TemplateError(f"{self.environment.display_path(name)}:1: rendered empty")
            rendered[part.key] = text
        return rendered

    def _email(
        self, message_name: str, locale: str, ctx: RenderContext, formatter: Formatter
    ) -> EmailMessage:
        to = email_of(ctx)
        marketing = ctx.purpose is Purpose.MARKETING
        if marketing and not ctx.links.unsubscribe:
            # Per recipient, not per template: skip this message, keep the rule step.
            raise RecipientError("a marketing email needs links.unsubscribe (List-Unsubscribe)")
        variables = namespace(ctx, formatter)
        head = self._parts(message_name, locale, Channel.EMAIL, variables, ("subject", "preheader"))
        # The layout shows the subject in <title> and hides the preheader in the body.
        variables.update({key: email.one_line(text) for key, text in head.items()})
        body = self._parts(message_name, locale, Channel.EMAIL, variables, ("html", "text"))
        return email.build_email(
            to=to,
            subject=head["subject"],
            preheader=head["preheader"],
            html=body["html"],
            text=body["text"],
            from_addr=self.from_addr,
            reply_to=ctx.shop.support_email,
            unsubscribe_url=ctx.links.unsubscribe if marketing else None,
            unsubscribe_mailto=ctx.shop.support_email if marketing else None,
        )

    def _sms(
        self,
        message_name: str,
        locale: str,
        ctx: RenderContext,
        formatter: Formatter,
        *,
        transliterate: bool,
    ) -> SmsMessage:
        to = phone_of(ctx)
        parts = self._parts(message_name, locale, Channel.SMS, namespace(ctx, formatter))
        body = sms.normalise(parts["body"])
        if transliterate:
            body = sms.transliterate(body)
        size = sms.measure(body)
        if size.segments > self.sms_max_segments:
            path = self.environment.display_path(
                template_name(message_name, locale, PARTS[Channel.SMS][0])
            )
            raise SmsTooLongError(path, size, self.sms_max_segments)
        return SmsMessage(to=to, body=body, encoding=size.encoding, segments=size.segments)

    def _push(
        self, message_name: str, locale: str, ctx: RenderContext, formatter: Formatter
    ) -> PushMessage:
        to = push_subscription_of(ctx)
        parts = self._parts(message_name, locale, Channel.PUSH, namespace(ctx, formatter))
        return PushMessage(
            to=to,
            title=email.one_line(parts["title"]),
            body=email.plain_text(parts["body"]).strip(),
            url=parts["url"].strip(),
        )


# A Locale loads its CLDR data on first use (~1 ms, more than the render), and a new one
# per message loaded it for every message: one Locale per locale, kept.
@lru_cache(maxsize=64)
def _first_locale(candidates: tuple[str, ...]) -> Locale:
    for candidate in candidates:
        try:
            return Locale.parse(candidate)
        except (ValueError, UnknownLocaleError):
            continue
    return Locale.parse("en")


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    # A customer's bad timezone string must not stop their parcel notice.
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")
