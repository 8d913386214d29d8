from __future__ import annotations

import pytest

from shop.app import create_app
from shop.errors import EmptyCartError, OutOfStockError, PaymentDeclinedError, PaymentGatewayError
from shop.models.cart import Cart, save_cart
from shop.models.order import OrderStatus, find_order
from shop.models.product import find_product
from shop.services import checkout as checkout_service
from shop.services.checkout import cancel_order, checkout
from shop.services.payment import PaymentGateway, charge_with_retry
from shop.web import Request


class FlakyGateway(PaymentGateway):
    """Fails the first ``failures`` calls with a transient error."""

    def __init__(self, failures: int) -> None:
        super().__init__(failure_rate=0.0)
        self.failures = failures
        self.calls = 0

    def charge(self, amount_cents, payment_token, idempotency_key):
        self.calls += 1
        if self.calls <= self.failures:
            raise PaymentGatewayError("simulated timeout")
        return super().charge(amount_cents, payment_token, idempotency_key)


def test_checkout_creates_paid_order(cart, customer, gateway, outbox):
    order = checkout(cart, customer, payment_token="tok_visa", gateway=gateway)
    assert order.status is OrderStatus.PAID
    assert order.subtotal_cents == 2 * 2499 + 1250
    assert order.total_cents == order.subtotal_cents + order.tax_cents + order.shipping_cents
    assert find_order(order.id) is order
    assert cart.is_empty
    assert customer.order_ids == [order.id]
    assert find_product("BOOK-001").stock == 8
    assert outbox.outbox[0].subject == f"Order {order.id} confirmed"


def test_checkout_sends_low_stock_alert(cart, customer, gateway, outbox):
    checkout(cart, customer, payment_token="tok_visa", gateway=gateway)
    subjects = [m.subject for m in outbox.outbox]
    assert "Low stock: 1 product(s)" in subjects  # MUG-002 drops to 2


def test_empty_cart_rejected(customer, gateway):
    with pytest.raises(EmptyCartError):
        checkout(Cart(id="empty"), customer, payment_token="tok_visa", gateway=gateway)


def test_declined_card_rolls_back_stock(cart, customer, gateway):
    with pytest.raises(PaymentDeclinedError):
        checkout(cart, customer, payment_token="tok_decline_insufficient_funds", gateway=gateway)
    assert find_product("BOOK-001").stock == 10
    assert not cart.is_empty


def test_out_of_stock_detected_at_checkout(cart, customer, gateway):
    find_product("MUG-002").stock = 0
    with pytest.raises(OutOfStockError, match="insufficient stock for MUG-002"):
        checkout(cart, customer, payment_token="tok_visa", gateway=gateway)


def test_charge_with_retry_backs_off_exponentially():
    sleeps = []
    result = charge_with_retry(FlakyGateway(failures=3), 1000, "tok_visa", sleep=sleeps.append)
    assert result.attempts == 4
    assert sleeps == [1, 2, 4]


def test_charge_with_retry_gives_up(monkeypatch):
    sleeps = []
    with pytest.raises(PaymentGatewayError, match="after 5 attempt"):
        charge_with_retry(FlakyGateway(failures=99), 1000, "tok_visa", sleep=sleeps.append)
    assert sleeps == [1, 2, 4, 8]


def test_cancel_paid_order_refunds_and_restocks(cart, customer, gateway):
    order = checkout(cart, customer, payment_token="tok_visa", gateway=gateway)
    cancel_order(order, gateway=gateway)
    assert order.status is OrderStatus.REFUNDED
    assert find_product("BOOK-001").stock == 10
    assert gateway.charges == {}


def test_checkout_route(cart, customer, gateway):
    save_cart(cart)
    checkout_service.set_gateway(gateway)
    app = create_app()
    resp = app.dispatch(
        Request(
            "POST",
            "/checkout",
            json={"customer_id": customer.id, "payment_token": "tok_visa"},
            headers={"X-Session-Id": cart.id},
        )
    )
    assert resp.status == 201
    assert resp.body["status"] == "paid"

    missing = app.dispatch(Request("POST", "/checkout", json={}, headers={"X-Session-Id": cart.id}))
    assert missing.status == 400
    assert "payment_token" in missing.body["message"]
