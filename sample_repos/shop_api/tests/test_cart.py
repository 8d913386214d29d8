from __future__ import annotations

import pytest

from shop.app import create_app
from shop.errors import InvalidQuantityError, OutOfStockError
from shop.models.cart import Cart, get_or_create_cart
from shop.web import Request


def test_add_item_merges_lines(products):
    cart = Cart()
    cart.add_item(products["BOOK-001"], 1)
    cart.add_item(products["BOOK-001"], 2)
    assert cart.items["BOOK-001"].quantity == 3
    assert cart.item_count == 3


def test_add_item_rejects_more_than_stock(products):
    cart = Cart()
    with pytest.raises(OutOfStockError, match="insufficient stock for MUG-002"):
        cart.add_item(products["MUG-002"], 4)


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_invalid_quantities(products, quantity):
    with pytest.raises(InvalidQuantityError):
        Cart().add_item(products["BOOK-001"], quantity)


def test_remove_and_weight(cart):
    assert cart.total_weight_grams == 2 * 600 + 350
    cart.remove_item("MUG-002")
    assert cart.total_weight_grams == 1200
    assert not cart.is_empty


def test_get_or_create_cart_is_persistent():
    first = get_or_create_cart("sess-1")
    assert get_or_create_cart("sess-1") is first


def test_cart_routes_roundtrip(products):
    app = create_app()
    headers = {"X-Session-Id": "sess-9"}
    resp = app.dispatch(Request("POST", "/cart/items", json={"sku": "BOOK-001", "quantity": 2}, headers=headers))
    assert resp.status == 201
    assert resp.body["item_count"] == 2

    resp = app.dispatch(Request("GET", "/cart", args={"region": "CA"}, headers=headers))
    assert resp.body["pricing"]["subtotal_cents"] == 4998

    resp = app.dispatch(Request("DELETE", "/cart/items/BOOK-001", headers=headers))
    assert resp.body["item_count"] == 0


def test_cart_route_out_of_stock_is_409(products):
    app = create_app()
    resp = app.dispatch(
        Request("POST", "/cart/items", json={"sku": "MUG-002", "quantity": 9}, headers={"X-Session-Id": "s"})
    )
    assert resp.status == 409
    assert resp.body["error"] == "out_of_stock"
