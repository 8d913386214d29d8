"""shop: a small web-shop backend (catalogue, carts, checkout, payments)."""

__version__ = "0.4.0"
