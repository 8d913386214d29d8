"""Shopping carts.

A cart holds :class:`CartItem` lines keyed by SKU. Money maths is not done
here: :meth:`Cart.total` delegates to :func:`shop.services.pricing.price_cart`
so the checkout and the cart page always agree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional

from shop.db import get_db
from shop.errors import InvalidQuantityError, OutOfStockError
from shop.models.product import Product

if TYPE_CHECKING:
    from shop.services.pricing import PriceBreakdown

MAX_QUANTITY_PER_LINE = 99


@dataclass
class CartItem:
    sku: str
    name: str
    unit_price_cents: int
    quantity: int
    weight_grams: int = 0
    taxable: bool = True

    @property
    def line_total_cents(self) -> int:
        return self.unit_price_cents * self.quantity

    @classmethod
    def from_product(cls, product: Product, quantity: int) -> "CartItem":
        return cls(
            sku=product.sku,
            name=product.name,
            unit_price_cents=product.price_cents,
            quantity=quantity,
            weight_grams=product.weight_grams,
            taxable=product.taxable,
        )


def _validate_quantity(quantity: int) -> None:
    if quantity < 1 or quantity > MAX_QUANTITY_PER_LINE:
        raise InvalidQuantityError(quantity)


@dataclass
class Cart:
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    customer_id: Optional[str] = None
    items: Dict[str, CartItem] = field(default_factory=dict)

    def add_item(self, product: Product, quantity: int = 1) -> CartItem:
        """Add ``quantity`` of ``product``, merging with an existing line."""
        _validate_quantity(quantity)
        existing = self.items.get(product.sku)
        new_quantity = quantity + (existing.quantity if existing else 0)
        _validate_quantity(new_quantity)
        if new_quantity > product.stock:
            raise OutOfStockError(product.sku, new_quantity, product.stock)
        item = CartItem.from_product(product, new_quantity)
        self.items[product.sku] = item
        return item

    def update_quantity(self, sku: str, quantity: int) -> None:
        if sku not in self.items:
            raise KeyError(sku)
        _validate_quantity(quantity)
        self.items[sku].quantity = quantity

    def remove_item(self, sku: str) -> None:
        self.items.pop(sku, None)

    def clear(self) -> None:
        self.items.clear()

    @property
    def is_empty(self) -> bool:
        return not self.items

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items.values())

    @property
    def total_weight_grams(self) -> int:
        return sum(item.weight_grams * item.quantity for item in self.items.values())

    def lines(self) -> List[CartItem]:
        return sorted(self.items.values(), key=lambda item: item.sku)

    def subtotal(self) -> int:
        from shop.services.pricing import calculate_subtotal

        return calculate_subtotal(self.lines())

    def total(self, region: str, international: bool = False) -> "PriceBreakdown":
        """Full price breakdown (subtotal, tax, shipping, total) for a region."""
        from shop.services.pricing import price_cart

        return price_cart(self, region=region, international=international)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "items": [
                {
                    "sku": item.sku,
                    "name": item.name,
                    "quantity": item.quantity,
                    "unit_price_cents": item.unit_price_cents,
                    "line_total_cents": item.line_total_cents,
                }
                for item in self.lines()
            ],
            "item_count": self.item_count,
            "subtotal_cents": self.subtotal(),
        }


def get_or_create_cart(cart_id: Optional[str] = None) -> Cart:
    db = get_db()
    if cart_id is not None:
        cart = db.get("carts", cart_id)
        if cart is not None:
            return cart
    cart = Cart(id=cart_id) if cart_id else Cart()
    db.put("carts", cart.id, cart)
    return cart


def save_cart(cart: Cart) -> Cart:
    get_db().put("carts", cart.id, cart)
    return cart
