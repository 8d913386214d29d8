"""Cart endpoints. The cart id comes from the ``X-Session-Id`` header."""

from __future__ import annotations

from shop.errors import InvalidQuantityError
from shop.models.cart import get_or_create_cart, save_cart
from shop.models.product import find_product
from shop.web import Request, Response, Router, jsonify

router = Router(prefix="/cart")


def _parse_quantity(raw) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidQuantityError(0) from None


@router.get("")
def view_cart(request: Request) -> Response:
    """GET /cart?region=CA -> items plus a price breakdown for the region."""
    cart = get_or_create_cart(request.session_id)
    body = cart.to_dict()
    region = request.args.get("region")
    if region:
        body["pricing"] = cart.total(region=region).to_dict()
    return jsonify(body)


@router.post("/items")
def add_to_cart(request: Request) -> Response:
    """POST /cart/items {"sku": "...", "quantity": 2}"""
    cart = get_or_create_cart(request.session_id)
    product = find_product(str(request.json.get("sku", "")))
    quantity = _parse_quantity(request.json.get("quantity", 1))
    cart.add_item(product, quantity)
    save_cart(cart)
    return jsonify(cart.to_dict(), status=201)


@router.post("/items/<sku>")
def update_cart_item(request: Request, sku: str) -> Response:
    """POST /cart/items/<sku> {"quantity": 3}"""
    cart = get_or_create_cart(request.session_id)
    if sku not in cart.items:
        return jsonify({"error": "not_in_cart", "message": f"{sku} is not in the cart"}, status=404)
    cart.update_quantity(sku, _parse_quantity(request.json.get("quantity")))
    save_cart(cart)
    return jsonify(cart.to_dict())


@router.delete("/items/<sku>")
def remove_from_cart(request: Request, sku: str) -> Response:
    """DELETE /cart/items/<sku>"""
    cart = get_or_create_cart(request.session_id)
    cart.remove_item(sku)
    save_cart(cart)
    return jsonify(cart.to_dict())
