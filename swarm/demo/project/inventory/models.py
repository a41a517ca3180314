"""Core data types: items for sale and the stock held of each."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CATEGORIES = ("general", "food", "books")


@dataclass(frozen=True)
class Item:
    """A product that can be stocked and sold."""

    sku: str
    name: str
    unit_price: Decimal
    category: str = "general"

    def __post_init__(self) -> None:
        if not self.sku:
            raise ValueError("sku must not be empty")
        if self.unit_price < 0:
            raise ValueError(f"unit price must not be negative, got {self.unit_price}")
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")

    def to_dict(self) -> dict:
        return {
            "sku": self.sku,
            "name": self.name,
            "unit_price": str(self.unit_price),
            "category": self.category,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Item:
        return cls(
            sku=data["sku"],
            name=data["name"],
            unit_price=Decimal(data["unit_price"]),
            category=data.get("category", "general"),
        )


@dataclass
class Stock:
    """The number of units on hand for one SKU."""

    sku: str
    quantity: int = 0
    reorder_level: int = 5

    def add(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")
        self.quantity += amount

    def remove(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")
        if amount > self.quantity:
            raise ValueError(
                f"cannot remove {amount} units of {self.sku}: only {self.quantity} in stock"
            )
        self.quantity -= amount

    @property
    def needs_reorder(self) -> bool:
        return self.quantity <= self.reorder_level
