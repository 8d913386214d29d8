"""Orders: the immutable-ish record a successful checkout produces."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import List, Optional

from shop.db import get_db


class OrderStatus(str, enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


_ALLOWED_TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.SHIPPED, OrderStatus.REFUNDED},
    OrderStatus.SHIPPED: {OrderStatus.REFUNDED},
    OrderStatus.CANCELLED: set(),
    OrderStatus.REFUNDED: set(),
}


@dataclass(frozen=True)
class OrderLine:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int

    @property
    def line_total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass
class Order:
    id: str
    customer_id: str
    lines: List[OrderLine]
    subtotal_cents: int
    tax_cents: int
    shipping_cents: int
    total_cents: int
    status: OrderStatus = OrderStatus.PENDING
    payment_ref: Optional[str] = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def _transition(self, new_status: OrderStatus) -> None:
        if new_status not in _ALLOWED_TRANSITIONS[self.status]:
            raise ValueError(f"order {self.id}: cannot go from {self.status.value} to {new_status.value}")
        self.status = new_status

    def mark_paid(self, payment_ref: str) -> None:
        self._transition(OrderStatus.PAID)
        self.payment_ref = payment_ref

    def cancel(self) -> None:
        self._transition(OrderStatus.CANCELLED)

    def mark_refunded(self) -> None:
        self._transition(OrderStatus.REFUNDED)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "status": self.status.value,
            "lines": [
                {"sku": l.sku, "name": l.name, "quantity": l.quantity, "unit_price_cents": l.unit_price_cents}
                for l in self.lines
            ],
            "subtotal_cents": self.subtotal_cents,
            "tax_cents": self.tax_cents,
            "shipping_cents": self.shipping_cents,
            "total_cents": self.total_cents,
            "payment_ref": self.payment_ref,
            "created_at": self.created_at.isoformat(),
        }


def save_order(order: Order) -> Order:
    get_db().put("orders", order.id, order)
    return order


def find_order(order_id: str) -> Optional[Order]:
    return get_db().get("orders", order_id)
