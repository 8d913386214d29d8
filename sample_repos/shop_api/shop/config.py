"""Runtime configuration for the shop backend.

Settings are read once from environment variables (prefixed ``SHOP_``) and
cached; tests call :func:`override_settings` to swap in a custom instance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Dict, Optional

DEFAULT_TAX_RATES: Dict[str, float] = {
    "CA": 0.0725,
    "NY": 0.08875,
    "TX": 0.0625,
    "OR": 0.0,
    "EU": 0.21,
}


@dataclass(frozen=True)
class Settings:
    """All tunables used by services and routes."""

    currency: str = "USD"
    tax_rates: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TAX_RATES))
    default_tax_rate: float = 0.05
    shipping_base_cents: int = 499
    shipping_per_kg_cents: int = 150
    free_shipping_threshold_cents: int = 7500
    international_surcharge_cents: int = 1500
    payment_max_retries: int = 4
    payment_timeout_seconds: float = 10.0
    low_stock_threshold: int = 5
    smtp_host: str = "localhost"
    smtp_port: int = 25
    mail_from: str = "orders@shop.example"
    admin_email: str = "ops@shop.example"


_settings: Optional[Settings] = None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def load_settings() -> Settings:
    """Build :class:`Settings` from ``SHOP_*`` environment variables."""
    base = Settings()
    return replace(
        base,
        currency=os.environ.get("SHOP_CURRENCY", base.currency),
        shipping_base_cents=_env_int("SHOP_SHIPPING_BASE_CENTS", base.shipping_base_cents),
        free_shipping_threshold_cents=_env_int(
            "SHOP_FREE_SHIPPING_THRESHOLD_CENTS", base.free_shipping_threshold_cents
        ),
        payment_max_retries=_env_int("SHOP_PAYMENT_MAX_RETRIES", base.payment_max_retries),
        low_stock_threshold=_env_int("SHOP_LOW_STOCK_THRESHOLD", base.low_stock_threshold),
        smtp_host=os.environ.get("SHOP_SMTP_HOST", base.smtp_host),
        smtp_port=_env_int("SHOP_SMTP_PORT", base.smtp_port),
        admin_email=os.environ.get("SHOP_ADMIN_EMAIL", base.admin_email),
    )


def get_settings() -> Settings:
    """Return the process-wide settings, loading them on first use."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def override_settings(settings: Optional[Settings]) -> None:
    """Replace (or with ``None`` reset) the cached settings. Used by tests."""
    global _settings
    _settings = settings
