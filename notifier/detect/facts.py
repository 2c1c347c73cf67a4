"""What detection knows about one case: the snapshots a rule is evaluated against."""

from __future__ import annotations

from dataclasses import dataclass

from notifier.domain import CartSnapshot, CustomerSnapshot, OrderSnapshot, ShipmentSnapshot
from notifier.transit.model import TransitModel


@dataclass(frozen=True)
class Facts:
    """The entity a rule is about plus the related snapshots the scan loaded with it.

    Any of them may be None: a guest cart has no customer, an order not yet shipped has no
    shipment. Each trigger says which it reads (:attr:`Trigger.sees`); conditions see the
    absent ones as ``none``.
    """

    customer: CustomerSnapshot | None = None
    order: OrderSnapshot | None = None
    shipment: ShipmentSnapshot | None = None
    cart: CartSnapshot | None = None
    #: The carriers' transit model in force (``shipment.at_risk`` predicts with it).
    transit: TransitModel | None = None
