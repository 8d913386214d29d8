"""Exception hierarchy for the shop.

Every error carries an ``http_status`` so the routes layer can turn it into
a JSON error response without a long if/elif chain (see ``web.error_response``).
"""

from __future__ import annotations


class ShopError(Exception):
    """Base class for all domain errors raised by the shop."""

    http_status = 400
    code = "shop_error"

    def to_dict(self) -> dict:
        return {"error": self.code, "message": str(self)}


class ProductNotFoundError(ShopError):
    http_status = 404
    code = "product_not_found"

    def __init__(self, sku: str) -> None:
        super().__init__(f"no product with sku {sku!r}")
        self.sku = sku


class OutOfStockError(ShopError):
    http_status = 409
    code = "out_of_stock"

    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(
            f"insufficient stock for {sku}: requested {requested}, only {available} left"
        )
        self.sku = sku
        self.requested = requested
        self.available = available


class InvalidQuantityError(ShopError):
    code = "invalid_quantity"

    def __init__(self, quantity: int) -> None:
        super().__init__(f"quantity must be between 1 and 99, got {quantity}")
        self.quantity = quantity


class EmptyCartError(ShopError):
    code = "empty_cart"

    def __init__(self, cart_id: str) -> None:
        super().__init__(f"cart {cart_id} is empty; nothing to check out")
        self.cart_id = cart_id


class CustomerNotFoundError(ShopError):
    http_status = 404
    code = "customer_not_found"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"unknown customer {customer_id}")
        self.customer_id = customer_id


class PaymentDeclinedError(ShopError):
    """The gateway answered and refused the charge. Never retried."""

    http_status = 402
    code = "payment_declined"

    def __init__(self, reason: str) -> None:
        super().__init__(f"payment declined by gateway: {reason}")
        self.reason = reason


class PaymentGatewayError(ShopError):
    """The gateway could not be reached or timed out. Safe to retry."""

    http_status = 502
    code = "payment_gateway_unavailable"

    def __init__(self, detail: str, attempts: int = 1) -> None:
        super().__init__(f"payment gateway unavailable after {attempts} attempt(s): {detail}")
        self.detail = detail
        self.attempts = attempts
