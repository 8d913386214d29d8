"""Stock bookkeeping: availability checks, reservations and restocking."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable, List

from shop.config import get_settings
from shop.errors import OutOfStockError
from shop.models.product import Product, find_product, save_product

if TYPE_CHECKING:
    from shop.models.cart import Cart
    from shop.models.order import OrderLine

log = logging.getLogger(__name__)


def check_availability(cart: "Cart") -> None:
    """Raise :class:`OutOfStockError` for the first line that cannot be filled."""
    for item in cart.lines():
        product = find_product(item.sku)
        if item.quantity > product.stock:
            raise OutOfStockError(item.sku, item.quantity, product.stock)


def reserve_stock(cart: "Cart") -> List[Product]:
    """Decrement stock for every cart line.

    Availability is checked for the whole cart first so a failure never
    leaves a half-reserved cart behind. Returns products that dropped to or
    below the low-stock threshold so the caller can alert someone.
    """
    check_availability(cart)
    threshold = get_settings().low_stock_threshold
    running_low: List[Product] = []
    for item in cart.lines():
        product = find_product(item.sku)
        product.stock -= item.quantity
        save_product(product)
        log.info("reserved %d x %s (%d left)", item.quantity, item.sku, product.stock)
        if product.stock <= threshold:
            running_low.append(product)
    return running_low


def release_stock(lines: Iterable["OrderLine"]) -> None:
    """Give reserved units back, e.g. after a failed payment or a cancellation."""
    for line in lines:
        product = find_product(line.sku)
        product.stock += line.quantity
        save_product(product)
        log.info("released %d x %s (%d left)", line.quantity, line.sku, product.stock)


def restock(sku: str, quantity: int) -> Product:
    if quantity <= 0:
        raise ValueError(f"restock quantity must be positive, got {quantity}")
    product = find_product(sku)
    product.stock += quantity
    return save_product(product)
