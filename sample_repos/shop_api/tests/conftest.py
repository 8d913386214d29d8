"""Shared fixtures: a fresh database, a small catalogue, a customer and a
deterministic payment gateway."""

from __future__ import annotations

import random

import pytest

from shop.config import Settings, override_settings
from shop.db import reset_db
from shop.models.cart import Cart
from shop.models.customer import Address, Customer, save_customer
from shop.models.product import Product, save_product
from shop.services import checkout as checkout_service
from shop.services import notifications
from shop.services.payment import PaymentGateway


@pytest.fixture(autouse=True)
def fresh_state():
    reset_db()
    override_settings(Settings())
    outbox = notifications.OutboxTransport()
    notifications.set_transport(outbox)
    yield outbox
    override_settings(None)
    checkout_service.set_gateway(None)


@pytest.fixture
def outbox(fresh_state):
    return fresh_state


@pytest.fixture
def products():
    items = [
        Product(sku="BOOK-001", name="Field Guide to Moths", price_cents=2499, weight_grams=600, stock=10, category="books"),
        Product(sku="MUG-002", name="Enamel Camp Mug", price_cents=1250, weight_grams=350, stock=3, category="kitchen"),
        Product(sku="GIFT-003", name="Gift Card", price_cents=5000, weight_grams=0, stock=100, taxable=False),
    ]
    return {p.sku: save_product(p) for p in items}


@pytest.fixture
def customer():
    address = Address(line1="1 Main St", city="Portland", region="CA", postal_code="94000")
    return save_customer(Customer(id="cus_1", email="ada@example.com", name="Ada Lovelace", shipping_address=address))


@pytest.fixture
def cart(products):
    cart = Cart(id="cart_1", customer_id="cus_1")
    cart.add_item(products["BOOK-001"], 2)
    cart.add_item(products["MUG-002"], 1)
    return cart


@pytest.fixture
def gateway():
    """A gateway that never fails transiently."""
    return PaymentGateway(failure_rate=0.0, rng=random.Random(7))
