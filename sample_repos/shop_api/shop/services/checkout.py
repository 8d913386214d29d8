"""Checkout: turn a cart into a paid, persisted order.

Steps, all inside one database transaction:

1. refuse empty carts,
2. reserve stock (raises ``OutOfStockError``),
3. price the cart for the customer's region,
4. create a pending :class:`Order`,
5. charge the card via ``charge_with_retry``,
6. mark the order paid, persist it, clear the cart.

If payment fails the transaction rolls back, so the reserved stock comes
back automatically. E-mails are sent only after the transaction commits.
"""

from __future__ import annotations

import logging
from typing import Optional

from shop.db import get_db
from shop.errors import EmptyCartError
from shop.models.cart import Cart, save_cart
from shop.models.customer import Customer, save_customer
from shop.models.order import Order, OrderLine, save_order
from shop.services import inventory, notifications
from shop.services.payment import PaymentGateway, charge_with_retry
from shop.services.pricing import price_cart

log = logging.getLogger(__name__)

_default_gateway: Optional[PaymentGateway] = None


def get_gateway() -> PaymentGateway:
    global _default_gateway
    if _default_gateway is None:
        _default_gateway = PaymentGateway()
    return _default_gateway


def set_gateway(gateway: Optional[PaymentGateway]) -> None:
    global _default_gateway
    _default_gateway = gateway


def build_order_lines(cart: Cart) -> list[OrderLine]:
    return [
        OrderLine(sku=item.sku, name=item.name, quantity=item.quantity, unit_price_cents=item.unit_price_cents)
        for item in cart.lines()
    ]


def checkout(
    cart: Cart,
    customer: Customer,
    payment_token: str,
    gateway: Optional[PaymentGateway] = None,
) -> Order:
    """Check out ``cart`` for ``customer`` and return the paid order."""
    if cart.is_empty:
        raise EmptyCartError(cart.id)
    gateway = gateway or get_gateway()
    db = get_db()
    address = customer.shipping_address

    with db.transaction():
        running_low = inventory.reserve_stock(cart)
        breakdown = price_cart(cart, region=address.region, international=address.is_international)
        order = Order(
            id=db.next_order_id(),
            customer_id=customer.id,
            lines=build_order_lines(cart),
            subtotal_cents=breakdown.subtotal_cents,
            tax_cents=breakdown.tax_cents,
            shipping_cents=breakdown.shipping_cents,
            total_cents=breakdown.total_cents,
        )
        result = charge_with_retry(
            gateway, order.total_cents, payment_token, idempotency_key=f"{order.id}-{cart.id}"
        )
        order.mark_paid(result.payment_ref)
        save_order(order)
        customer.record_order(order.id)
        save_customer(customer)
        cart.clear()
        save_cart(cart)

    log.info("order %s paid after %d attempt(s)", order.id, result.attempts)
    notifications.send_order_confirmation(customer, order)
    if running_low:
        notifications.send_low_stock_alert(running_low)
    return order


def cancel_order(order: Order, gateway: Optional[PaymentGateway] = None) -> Order:
    """Cancel a pending order or refund a paid one, returning its stock."""
    from shop.services.payment import refund_payment

    gateway = gateway or get_gateway()
    with get_db().transaction():
        if order.payment_ref is not None:
            refund_payment(gateway, order.payment_ref)
            order.mark_refunded()
        else:
            order.cancel()
        inventory.release_stock(order.lines)
        save_order(order)
    return order
