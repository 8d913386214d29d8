"""Price computation: subtotal, sales tax and shipping.

All functions work in integer cents. Rounding is half-up on the final cent,
which matches what the payment gateway expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Iterable

from shop.config import get_settings

if TYPE_CHECKING:
    from shop.models.cart import Cart, CartItem


@dataclass(frozen=True)
class PriceBreakdown:
    """The numbers shown on the cart page and stored on an order."""

    subtotal_cents: int
    tax_cents: int
    shipping_cents: int

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents + self.shipping_cents

    def to_dict(self) -> dict:
        return {
            "subtotal_cents": self.subtotal_cents,
            "tax_cents": self.tax_cents,
            "shipping_cents": self.shipping_cents,
            "total_cents": self.total_cents,
            "display_total": format_cents(self.total_cents),
        }


def _round_cents(value: Decimal) -> int:
    return int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def calculate_subtotal(items: Iterable["CartItem"]) -> int:
    """Sum of unit price times quantity over all lines."""
    return sum(item.unit_price_cents * item.quantity for item in items)


def tax_rate_for(region: str) -> float:
    settings = get_settings()
    return settings.tax_rates.get(region.upper(), settings.default_tax_rate)


def calculate_tax(items: Iterable["CartItem"], region: str) -> int:
    """Sales tax on the taxable lines only, rounded half-up to the cent."""
    taxable_cents = sum(item.line_total_cents for item in items if item.taxable)
    rate = Decimal(str(tax_rate_for(region)))
    return _round_cents(Decimal(taxable_cents) * rate)


def calculate_shipping(weight_grams: int, subtotal_cents: int, international: bool = False) -> int:
    """Flat base fee plus a per-started-kilogram rate.

    Domestic orders at or above the free-shipping threshold ship free;
    international orders never do and pay a fixed surcharge.
    """
    settings = get_settings()
    if weight_grams <= 0:
        return 0
    if not international and subtotal_cents >= settings.free_shipping_threshold_cents:
        return 0
    kilograms = -(-weight_grams // 1000)  # ceil division
    cost = settings.shipping_base_cents + kilograms * settings.shipping_per_kg_cents
    if international:
        cost += settings.international_surcharge_cents
    return cost


def price_cart(cart: "Cart", region: str, international: bool = False) -> PriceBreakdown:
    """Compute the full :class:`PriceBreakdown` for a cart."""
    lines = cart.lines()
    subtotal = calculate_subtotal(lines)
    tax = calculate_tax(lines, region)
    shipping = calculate_shipping(cart.total_weight_grams, subtotal, international)
    return PriceBreakdown(subtotal_cents=subtotal, tax_cents=tax, shipping_cents=shipping)


def format_cents(amount_cents: int, currency: str | None = None) -> str:
    """Render cents for humans: ``format_cents(123456) == "$1,234.56"``."""
    currency = currency or get_settings().currency
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency + " ")
    sign = "-" if amount_cents < 0 else ""
    dollars, cents = divmod(abs(amount_cents), 100)
    return f"{sign}{symbol}{dollars:,}.{cents:02d}"
