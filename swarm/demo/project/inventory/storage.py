"""In-memory store of items and stock levels, with JSON persistence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .models import Item, Stock


class NotFoundError(LookupError):
    """Raised when a SKU is not in the store."""

    def __init__(self, sku: str) -> None:
        super().__init__(f"unknown SKU {sku!r}")
        self.sku = sku


@dataclass
class Store:
    items: dict[str, Item] = field(default_factory=dict)
    stock: dict[str, Stock] = field(default_factory=dict)


def add_item(store: Store, item: Item, quantity: int = 0, reorder_level: int = 5) -> None:
    """Register a new item with an initial stock level."""
    if item.sku in store.items:
        raise ValueError(f"item {item.sku!r} already exists")
    store.items[item.sku] = item
    store.stock[item.sku] = Stock(item.sku, quantity, reorder_level)


def get_item(store: Store, sku: str) -> Item:
    """Return the item with the given SKU, or raise NotFoundError."""
    try:
        return store.items[sku]
    except KeyError:
        raise NotFoundError(sku) from None


def get_stock(store: Store, sku: str) -> Stock:
    """Return the stock record for sku, or raise NotFoundError."""
    try:
        return store.stock[sku]
    except KeyError:
        raise NotFoundError(sku) from None


def remove_item(store: Store, sku: str) -> Item:
    """Delete an item and its stock record; return the removed item."""
    item = get_item(store, sku)
    del store.items[sku]
    store.stock.pop(sku, None)
    return item


def list_items(store: Store) -> list[Item]:
    """All items, ordered by SKU."""
    return [store.items[sku] for sku in sorted(store.items)]


def save(store: Store, path: str | Path) -> None:
    entries = []
    for item in list_items(store):
        stock = store.stock[item.sku]
        entries.append(
            {**item.to_dict(), "quantity": stock.quantity, "reorder_level": stock.reorder_level}
        )
    Path(path).write_text(json.dumps({"items": entries}, indent=2) + "\n", encoding="utf-8")


def load(path: str | Path) -> Store:
    """Read a store from path; a missing file gives an empty store."""
    path = Path(path)
    store = Store()
    if not path.exists():
        return store
    data = json.loads(path.read_text(encoding="utf-8"))
    for entry in data.get("items", []):
        add_item(
            store,
            Item.from_dict(entry),
            quantity=entry.get("quantity", 0),
            reorder_level=entry.get("reorder_level", 5),
        )
    return store
