"""How late a case is, in the whole days offer tiers count.

Delivery lateness comes from detection (the notification's ``days_late``). An order not
shipped on time counts as late too: by the days since its ship-by date, so a parcel that
never left gets compensated like one that is stuck (``order.unshipped`` steps).

    days = max(notification.days_late, days_past(order.ship_by, now))
"""

from __future__ import annotations

from datetime import datetime, timedelta

_DAY = timedelta(days=1)


def days_past(deadline: datetime | None, now: datetime) -> int:
    """Whole days (24-hour periods, rounded up) ``now`` is past ``deadline``; 0 if not past."""
    if deadline is None or now <= deadline:
        return 0
    return -((deadline - now) // _DAY)
