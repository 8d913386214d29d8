"""Catalogue endpoints: list, fetch and restock products."""

from __future__ import annotations

from shop.models.product import find_product, list_products
from shop.services.inventory import restock
from shop.services.pricing import format_cents
from shop.web import Request, Response, Router, jsonify

router = Router(prefix="/products")


def _product_json(product) -> dict:
    data = product.to_dict()
    data["display_price"] = format_cents(product.price_cents)
    return data


@router.get("")
def list_products_route(request: Request) -> Response:
    """GET /products?category=books"""
    category = request.args.get("category")
    products = list_products(category=category)
    return jsonify({"products": [_product_json(p) for p in products], "count": len(products)})


@router.get("/<sku>")
def get_product_route(request: Request, sku: str) -> Response:
    """GET /products/<sku>; unknown SKUs give a 404 via ProductNotFoundError."""
    return jsonify(_product_json(find_product(sku)))


@router.post("/<sku>/restock")
def restock_product_route(request: Request, sku: str) -> Response:
    """POST /products/<sku>/restock {"quantity": 10}"""
    quantity = int(request.json.get("quantity", 0))
    if quantity <= 0:
        return jsonify({"error": "invalid_quantity", "message": "quantity must be positive"}, status=400)
    product = restock(sku, quantity)
    return jsonify(_product_json(product))
