"""Catalogue products."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List

from shop.db import get_db
from shop.errors import ProductNotFoundError


@dataclass
class Product:
    """A sellable item. Prices are integer cents, weights are grams."""

    sku: str
    name: str
    price_cents: int
    weight_grams: int = 0
    stock: int = 0
    category: str = "general"
    taxable: bool = True
    tags: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.price_cents < 0:
            raise ValueError(f"price_cents must be >= 0 for {self.sku}")
        if self.weight_grams < 0:
            raise ValueError(f"weight_grams must be >= 0 for {self.sku}")

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["in_stock"] = self.in_stock
        return data


def find_product(sku: str) -> Product:
    """Look a product up by SKU or raise :class:`ProductNotFoundError`."""
    product = get_db().get("products", sku)
    if product is None:
        raise ProductNotFoundError(sku)
    return product


def save_product(product: Product) -> Product:
    get_db().put("products", product.sku, product)
    return product


def list_products(category: str | None = None) -> List[Product]:
    """All products, optionally restricted to one category, sorted by name."""
    products = get_db().all("products")
    if category is not None:
        products = [p for p in products if p.category == category]
    return sorted(products, key=lambda p: p.name.lower())
