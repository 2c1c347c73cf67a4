"""Compose: turn a RenderContext and a message name into a ready email, SMS or push.

    composer = Composer.from_settings(settings)
    message = composer.render("shipment_late", Channel.EMAIL, ctx)

Templates live under ``templates/`` (layout in :mod:`notifier.compose.layout`, guide in
``docs/templates.md``) and render in a sandbox; failures raise ``TemplateError`` with
``file:line: reason``. This stage never touches the database or the network.
"""

from notifier.compose.composer import DEFAULT_SMS_MAX_SEGMENTS, Composer, SmsTooLongError
from notifier.compose.context import Links, OfferKind, OfferView, RenderContext, ShopView
from notifier.compose.recipients import RecipientError

__all__ = [
    "DEFAULT_SMS_MAX_SEGMENTS",
    "Composer",
    "Links",
    "OfferKind",
    "OfferView",
    "RecipientError",
    "RenderContext",
    "ShopView",
    "SmsTooLongError",
]
