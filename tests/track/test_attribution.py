"""Attribution on a fixture history with a known answer.

Orders inside and outside each channel's window, treated and held-out customers, two
messages before one order, a click before an order, cancelled and early orders, and
carts recovered (through the link, held out, too late). The expected outcome of every
notification and every cart is written out by hand below; the track job must produce
exactly that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Cart, Customer, Notification, Order
from notifier.track.conversions import Windows, track_orders

T = datetime(2026, 11, 1, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
WINDOWS = Windows({"email": 120.0, "push": 120.0, "sms": 24.0})

# name: (customer, channel, status, touched at, clicked at, cart)
NOTIFICATIONS = {
    "a_email":   ("A", "email", "sent",        T,          None,            None),
    "a_sms":     ("A", "sms",   "sent",        T + 2 * D,  None,            None),
    "b_email":   ("B", "email", "held_out",    T,          None,            None),
    "b_push":    ("B", "push",  "held_out",    T + 7 * D,  None,            None),
    "c_sms":     ("C", "sms",   "sent",        T,          None,            None),
    "c_email":   ("C", "email", "sent",        T + 2 * D,  T + 2 * D + H,   None),
    "d_email":   ("D", "email", "sent",        T + D,      None,            None),
    "e_bounced": ("E", "email", "undelivered", T,          None,            None),
    "f_cart_0":  ("F", "email", "sent",        T,          None,            "F"),
    "f_cart_1":  ("F", "email", "sent",        T + D,      T + D + H,       "F"),
    "g_cart_0":  ("G", "email", "held_out",    T,          None,            "G"),
    "h_cart_0":  ("H", "email", "sent",        T,          None,            "H"),
}
# name: (customer, placed at, total, status, is_test, cart it completes)
ORDERS = {
    "a1": ("A", T + 2 * D + 3 * H, "100.00", "confirmed", False, None),  # a_email and a_sms
    "a2": ("A", T + 4 * D,         "40.00",  "confirmed", False, None),  # a_sms window over
    "b1": ("B", T + 6 * D,         "70.00",  "confirmed", False, None),  # after 5 days
    "b2": ("B", T + 11 * D + 23 * H, "55.50", "confirmed", False, None),  # held out, inside
    "c1": ("C", T + 25 * H,        "10.00",  "confirmed", False, None),  # SMS window is 24 h
    "c2": ("C", T + 2 * D + 2 * H, "99.99",  "confirmed", False, None),  # after the click
    "d1": ("D", T + 12 * H,        "20.00",  "confirmed", False, None),  # before the message
    "d2": ("D", T + D + H,         "30.00",  "cancelled", False, None),  # cancelled
    "d3": ("D", T + D + 2 * H,     "35.00",  "confirmed", True,  None),  # a test order
    "e1": ("E", T + H,             "15.00",  "confirmed", False, None),  # bounced: no touch
    "f1": ("F", T + D + 2 * H,     "98.00",  "confirmed", False, "F"),   # cart token, clicked
    "g1": ("G", T + 2 * D,         "61.00",  "confirmed", False, None),  # held-out cart
    "h1": ("H", T + 6 * D,         "80.00",  "confirmed", False, "H"),   # too late
}
EXPECTED_CONVERSIONS = {  # notification: (order, after a click)
    "a_email": ("a2", False), "a_sms": ("a1", False),
    "b_email": None, "b_push": ("b2", False),
    "c_sms": None, "c_email": ("c2", True),
    "d_email": None, "e_bounced": None,
    "f_cart_0": None, "f_cart_1": ("f1", True),
    "g_cart_0": ("g1", False), "h_cart_0": None,
}
EXPECTED_CARTS = {  # cart: (recovered by, first reminder, through the link)
    "F": ("f1", "f_cart_0", True), "G": ("g1", "g_cart_0", False), "H": None,
}


def build(session: Session) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    customers, carts, notes, orders = {}, {}, {}, {}
    for name in sorted({c for c, *_ in NOTIFICATIONS.values()}):
        customer = Customer(source="api", external_id=name, email=f"{name.lower()}@x.pl")
        session.add(customer)
        session.flush()
        customers[name] = customer.id
    for name in ("F", "G", "H"):
        cart = Cart(source="api", external_id=f"cart-{name}", currency="PLN",
                    customer_id=customers[name], last_activity_at=T - H)
        session.add(cart)
        session.flush()
        carts[name] = cart.id
    for name, (who, channel, status, at, clicked, cart) in NOTIFICATIONS.items():
        step = 1 if name.endswith("_1") else 0
        n = Notification(key=name, rule="cart-abandoned" if cart else "r", step=step,
                         entity_kind="cart" if cart else "order",
                         entity_id=carts[cart] if cart else 0, customer_id=customers[who],
                         template="t", purpose="marketing", channels=[channel],
                         channel=None if status == "held_out" else channel, status=status,
                         due_at=at, detected_at=at,
                         sent_at=None if status == "held_out" else at,
                         clicked_at=clicked, clicks=1 if clicked else 0)
        session.add(n)
        session.flush()
        notes[name] = n.id
    for name, (who, placed, total, status, test, cart) in ORDERS.items():
        order = Order(source="api", external_id=name, status=status, currency="PLN",
                      total=Decimal(total), placed_at=placed, is_test=test,
                      customer_id=customers[who], updated_at=placed)
        session.add(order)
        session.flush()
        orders[name] = order.id
        if cart:
            row = session.get(Cart, carts[cart])
            assert row is not None
            row.order_id, row.completed_at = order.id, placed
            session.add(row)
    return notes, orders, carts


def test_every_conversion_is_exactly_as_expected(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        notes, orders, carts = build(session)
    with transaction(runtime.sessions) as session:
        done = track_orders(session, now=T + 30 * D, windows=WINDOWS)
    assert done["orders"] == len(ORDERS)
    by_id = {v: k for k, v in orders.items()}
    with runtime.sessions() as session:
        got = {}
        for name, nid in notes.items():
            n = session.get(Notification, nid)
            assert n is not None
            got[name] = ((by_id[n.conversion_order], n.converted_after_click)
                         if n.conversion_order else None)
            if n.conversion_order:
                placed, total = ORDERS[by_id[n.conversion_order]][1:3]
                assert n.converted_at == placed and n.conversion_revenue == Decimal(total)
        assert got == EXPECTED_CONVERSIONS
        note_names = {v: k for k, v in notes.items()}
        carts_got = {}
        for name, cid in carts.items():
            cart = session.get(Cart, cid)
            assert cart is not None
            carts_got[name] = ((by_id[cart.recovered_order_id or 0],
                                note_names[cart.recovered_notification_id or 0],
                                cart.recovered_via_link) if cart.recovered_at else None)
        assert carts_got == EXPECTED_CARTS
    assert done["converted"] == sum(v is not None for v in EXPECTED_CONVERSIONS.values())


def test_tracking_again_changes_nothing_until_an_order_changes(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        build(session)
    with transaction(runtime.sessions) as session:
        track_orders(session, now=T + 30 * D, windows=WINDOWS)
    with transaction(runtime.sessions) as session:
        assert track_orders(session, now=T + 31 * D, windows=WINDOWS) == {}
        order = session.exec(select(Order).where(Order.external_id == "a1")).one()
        order.updated_at = T + 31 * D  # ingest stored a newer version
        session.add(order)
    with transaction(runtime.sessions) as session:
        assert track_orders(session, now=T + 32 * D, windows=WINDOWS) == {"orders": 1}


# Intention to treat: (arm, status, sent) -> whether an order an hour after due converts it.
ITT_CASES = {
    "treated_bounced": ("treated", "undelivered", True, True),
    "treated_failed": ("treated", "failed", False, True),
    "treated_skipped": ("treated", "skipped", False, True),
    "treated_pending": ("treated", "pending", False, False),
    "excluded_skipped": ("excluded", "skipped", False, False),
    "no_arm_skipped": (None, "skipped", False, False),
}


def test_a_treated_customer_whose_message_did_not_arrive_stays_measured(
        runtime: Runtime) -> None:
    """A treated message that bounced, failed or was skipped still opens its window (from
    ``sent_at``, else ``due_at``), exactly as a held-out one does: otherwise the treated
    arm would lose conversions the holdout keeps and the uplift would lean low."""
    names = {}
    with transaction(runtime.sessions) as session:
        for name, (arm, status, sent, _) in ITT_CASES.items():
            customer = Customer(source="api", external_id=name, email=f"{name}@x.pl")
            session.add(customer)
            session.flush()
            session.add(Notification(
                key=name, rule="r", step=0, entity_kind="order", entity_id=0,
                customer_id=customer.id, template="t", purpose="transactional",
                channels=["email"], channel="email", status=status, arm=arm,
                due_at=T, detected_at=T, sent_at=T if sent else None))
            session.add(Order(source="api", external_id=name, status="confirmed",
                              currency="PLN", total=Decimal("10.00"), placed_at=T + H,
                              customer_id=customer.id, updated_at=T + H))
            names[name] = customer.id
    with transaction(runtime.sessions) as session:
        track_orders(session, now=T + 30 * D, windows=WINDOWS)
    with runtime.sessions() as session:
        got = {name: session.exec(select(Notification).where(
            Notification.key == name)).one().converted_at is not None for name in names}
    assert got == {name: case[3] for name, case in ITT_CASES.items()}
