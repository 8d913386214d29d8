from __future__ import annotations

from shop.config import Settings, override_settings
from shop.models.cart import CartItem
from shop.services.pricing import (
    PriceBreakdown,
    calculate_shipping,
    calculate_subtotal,
    calculate_tax,
    format_cents,
    price_cart,
    tax_rate_for,
)


def _item(sku: str, price: int, qty: int, taxable: bool = True) -> CartItem:
    return CartItem(sku=sku, name=sku, unit_price_cents=price, quantity=qty, taxable=taxable)


def test_subtotal_sums_lines():
    assert calculate_subtotal([_item("A", 250, 2), _item("B", 1000, 1)]) == 1500


def test_tax_skips_non_taxable_lines():
    items = [_item("A", 1000, 1), _item("GIFT", 5000, 1, taxable=False)]
    assert calculate_tax(items, "CA") == 73  # 1000 * 7.25% = 72.5 -> 73


def test_unknown_region_uses_default_rate():
    assert tax_rate_for("ZZ") == Settings().default_tax_rate
    assert tax_rate_for("ny") == 0.08875


def test_shipping_free_over_threshold_domestic_only():
    assert calculate_shipping(1200, 7500) == 0
    assert calculate_shipping(1200, 7500, international=True) == 499 + 2 * 150 + 1500


def test_shipping_rounds_weight_up_to_kilogram():
    assert calculate_shipping(1001, 100) == 499 + 2 * 150
    assert calculate_shipping(0, 100) == 0


def test_shipping_threshold_is_configurable():
    override_settings(Settings(free_shipping_threshold_cents=100))
    assert calculate_shipping(500, 100) == 0


def test_price_cart_matches_cart_total(cart):
    breakdown = price_cart(cart, region="CA")
    assert breakdown == cart.total(region="CA")
    assert breakdown.subtotal_cents == 2 * 2499 + 1250
    assert breakdown.total_cents == breakdown.subtotal_cents + breakdown.tax_cents + breakdown.shipping_cents


def test_breakdown_to_dict_has_display_total():
    data = PriceBreakdown(subtotal_cents=1000, tax_cents=80, shipping_cents=0).to_dict()
    assert data["total_cents"] == 1080
    assert data["display_total"] == "$10.80"


def test_format_cents():
    assert format_cents(123456) == "$1,234.56"
    assert format_cents(-5) == "-$0.05"
    assert format_cents(100, currency="EUR") == "€1.00"
