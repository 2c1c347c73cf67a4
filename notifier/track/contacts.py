"""Support contacts reported by a helpdesk (``POST /v1/contacts``): the direct measure of
"tell them before they complain" (contacts per 100 customers in each arm).

Two shapes come in. Our own (:class:`ContactIn`), or a helpdesk's outgoing webhook
as it is, read through a per-source mapping (``[track.contacts.<source>]``: a dotted
path into its JSON for each field, and the helpdesk's tags mapped onto our topics).
``(source, id)`` is unique: the helpdesk resending a ticket changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from notifier.config import ContactSourceSettings
from notifier.store.sql import insert_ignore
from notifier.store.tables import Customer, Order
from notifier.store.track_tables import Contact

Topic = Literal["where_is_my_order", "delay_complaint", "damaged", "return", "other"]
TOPICS: tuple[str, ...] = ("where_is_my_order", "delay_complaint", "damaged", "return", "other")


class ContactCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    external_id: str | None = Field(default=None, max_length=128)


class ContactIn(BaseModel):
    """A contact in our own shape.

    ``order`` is the order's id in the shop (external id) or its number."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, description="the helpdesk's id")
    channel: str = Field(min_length=1, max_length=32, description="email, phone, chat, ...")
    topic: Topic
    at: datetime
    order: str | None = Field(default=None, max_length=128)
    customer: ContactCustomer = Field(default_factory=ContactCustomer)


class MappingError(ValueError):
    """A helpdesk body lacks a field its mapping points at; ``field`` names the path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _dig(body: Any, path: str) -> Any:
    value = body
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _topic(value: Any, topics: dict[str, str]) -> str:
    for tag in value if isinstance(value, list) else [value]:
        text = str(tag or "").strip()
        if text in TOPICS:
            return text
        if text in topics:
            return topics[text]
    return "other"


def from_mapping(body: Any, mapping: ContactSourceSettings) -> ContactIn:
    """A helpdesk's JSON read through its mapping (validated like our own shape)."""
    def text(path: str) -> str | None:
        value = _dig(body, path) if path else None
        return None if value is None or value == "" else str(value)

    for field, path in (("id", mapping.id), ("at", mapping.at)):
        if text(path) is None:
            raise MappingError(path, f"missing (the mapping's {field})")
    return ContactIn(
        id=text(mapping.id) or "", channel=text(mapping.channel) or "other",
        topic=_topic(_dig(body, mapping.topic) if mapping.topic else None,
                     mapping.topics),  # type: ignore[arg-type]
        at=text(mapping.at),  # type: ignore[arg-type]
        order=text(mapping.order),
        customer=ContactCustomer(email=text(mapping.customer_email),
                                 phone=text(mapping.customer_phone),
                                 external_id=text(mapping.customer_id)))


def _customer_id(session: Session, who: ContactCustomer) -> int | None:
    for column, value in ((col(Customer.external_id), who.external_id),
                          (sa.func.lower(Customer.email), who.email and who.email.strip().lower()),
                          (col(Customer.phone), who.phone)):
        if value:
            found = session.exec(select(Customer.id).where(column == value)
                                 .order_by(col(Customer.id))).first()
            if found is not None:
                return found
    return None


def record_contact(session: Session, contact: ContactIn, *, source: str,
                   now: datetime) -> tuple[bool, int | None, int | None]:
    """Store the contact once; (new, customer id, order id) as resolved."""
    order = None
    if contact.order:
        order = session.exec(select(Order).where(
            (Order.external_id == contact.order) | (Order.number == contact.order))
            .order_by(col(Order.id).desc())).first()
    customer_id = _customer_id(session, contact.customer) or (order.customer_id if order
                                                              else None)
    created = insert_ignore(session, Contact, {
        "source": source, "external_id": contact.id, "customer_id": customer_id,
        "order_id": order.id if order else None, "channel": contact.channel,
        "topic": contact.topic, "contacted_at": contact.at, "received_at": now},
        keys=["source", "external_id"])
    return created, customer_id, order.id if order else None
