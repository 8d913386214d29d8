"""Domain models: plain dataclasses with a little behaviour."""

from shop.models.cart import Cart, CartItem
from shop.models.customer import Address, Customer
from shop.models.order import Order, OrderLine, OrderStatus
from shop.models.product import Product

__all__ = [
    "Address",
    "Cart",
    "CartItem",
    "Customer",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Product",
]
