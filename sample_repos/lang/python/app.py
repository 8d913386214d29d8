"""Sample inventory module used by ctxpack query tests."""
import os
from shop.services import pricing
from typing import Protocol

MAX_ITEMS = 100
default_name = "main"


class Storage(Protocol):
    def save(self, key: str, value: int) -> None: ...


class InventoryItem:
    def __init__(self, name: str, qty: int) -> None:
        self.name = name
        self.qty = qty


class InventoryService:
    """Keeps track of items."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.items: dict[str, InventoryItem] = {}

    def add_item(self, name: str, qty: int = 1) -> InventoryItem:
        if len(self.items) >= MAX_ITEMS:
            raise ValueError("inventory full")
        item = InventoryItem(name, qty)
        self.items[name] = item
        self.storage.save(name, qty)
        return item

    @property
    def total(self) -> int:
        return sum(i.qty for i in self.items.values())


def compute_total(service: InventoryService) -> float:
    price = pricing.lookup(service.total)
    return normalize(price)


def normalize(value: float) -> float:
    return round(value, 2) if os.environ.get("ROUND") else value
