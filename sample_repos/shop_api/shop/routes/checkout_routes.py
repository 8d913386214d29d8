"""Checkout and order endpoints."""

from __future__ import annotations

from shop.models.cart import get_or_create_cart
from shop.models.customer import find_customer
from shop.models.order import find_order
from shop.services.checkout import cancel_order, checkout
from shop.web import Request, Response, Router, jsonify

router = Router()

REQUIRED_FIELDS = ("customer_id", "payment_token")


@router.post("/checkout")
def checkout_route(request: Request) -> Response:
    """POST /checkout {"customer_id": "...", "payment_token": "tok_..."}

    Uses the session cart. Errors (empty cart, out of stock, declined card,
    gateway down) are ShopErrors and are turned into JSON by the dispatcher.
    """
    missing = [name for name in REQUIRED_FIELDS if not request.json.get(name)]
    if missing:
        return jsonify(
            {"error": "missing_fields", "message": f"missing required field(s): {', '.join(missing)}"},
            status=400,
        )
    cart = get_or_create_cart(request.session_id)
    customer = find_customer(request.json["customer_id"])
    order = checkout(cart, customer, payment_token=request.json["payment_token"])
    return jsonify(order.to_dict(), status=201)


@router.get("/orders/<order_id>")
def get_order_route(request: Request, order_id: str) -> Response:
    order = find_order(order_id)
    if order is None:
        return jsonify({"error": "order_not_found", "message": f"no order {order_id}"}, status=404)
    return jsonify(order.to_dict())


@router.post("/orders/<order_id>/cancel")
def cancel_order_route(request: Request, order_id: str) -> Response:
    order = find_order(order_id)
    if order is None:
        return jsonify({"error": "order_not_found", "message": f"no order {order_id}"}, status=404)
    return jsonify(cancel_order(order).to_dict())
