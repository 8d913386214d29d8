"""Customers and their shipping addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from shop.db import get_db
from shop.errors import CustomerNotFoundError

DOMESTIC_COUNTRY = "US"


@dataclass
class Address:
    line1: str
    city: str
    region: str
    postal_code: str
    country: str = DOMESTIC_COUNTRY

    @property
    def is_international(self) -> bool:
        return self.country != DOMESTIC_COUNTRY

    def one_line(self) -> str:
        return f"{self.line1}, {self.city}, {self.region} {self.postal_code}, {self.country}"


@dataclass
class Customer:
    id: str
    email: str
    name: str
    shipping_address: Address
    order_ids: List[str] = field(default_factory=list)
    marketing_opt_in: bool = False

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def is_returning(self) -> bool:
        return len(self.order_ids) > 0

    def record_order(self, order_id: str) -> None:
        self.order_ids.append(order_id)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "shipping_address": self.shipping_address.one_line(),
            "order_count": len(self.order_ids),
        }


def find_customer(customer_id: str) -> Customer:
    customer = get_db().get("customers", customer_id)
    if customer is None:
        raise CustomerNotFoundError(customer_id)
    return customer


def save_customer(customer: Customer) -> Customer:
    get_db().put("customers", customer.id, customer)
    return customer
