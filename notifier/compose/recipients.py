"""Who a message goes to: the customer's address, or the contact left on a guest cart."""

from __future__ import annotations

from notifier.compose.context import RenderContext
from notifier.domain import Channel, PushSubscription
from notifier.errors import NotifierError


class RecipientError(NotifierError):
    """Raised when this customer cannot get the message on the channel: no email, phone
    or push subscription, or a marketing email without an unsubscribe link.

    Unlike :class:`~notifier.errors.TemplateError` this is about one customer, not the
    template: the engine should skip this message, not disable the rule step.
    """


def email_of(ctx: RenderContext) -> str:
    address = (ctx.customer.email if ctx.customer else None) or (
        ctx.cart.email if ctx.cart else None
    )
    if not address:
        raise RecipientError("no email address for this customer or cart")
    return address


def phone_of(ctx: RenderContext) -> str:
    phone = (ctx.customer.phone if ctx.customer else None) or (ctx.cart.phone if ctx.cart else None)
    if not phone:
        raise RecipientError("no phone number for this customer or cart")
    return phone


def push_subscription_of(ctx: RenderContext) -> PushSubscription:
    """The first subscription; callers fan out with ``dataclasses.replace(msg, to=sub)``."""
    subscriptions = ctx.customer.push_subscriptions if ctx.customer else ()
    if not subscriptions:
        raise RecipientError("no push subscription for this customer")
    return subscriptions[0]


def has_recipient(channel: Channel, ctx: RenderContext) -> bool:
    """Whether ``ctx`` can be reached on ``channel`` (consent is the engine's business)."""
    getter = {Channel.EMAIL: email_of, Channel.SMS: phone_of, Channel.PUSH: push_subscription_of}
    try:
        getter[channel](ctx)
    except RecipientError:
        return False
    return True
