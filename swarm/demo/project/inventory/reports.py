"""Plain-text reports over a Store."""

from __future__ import annotations

from decimal import Decimal

from . import pricing, storage
from .storage import Store


def stock_value(store: Store, sku: str) -> Decimal:
    """Value of the units on hand for sku, tax included."""
    item = storage.get_item(store, sku)
    quantity = storage.get_stock(store, sku).quantity
    return pricing.price_with_tax(item.unit_price * quantity, item.category)


def total_value(store: Store) -> Decimal:
    return sum(
        (stock_value(store, item.sku) for item in storage.list_items(store)),
        Decimal("0.00"),
    )


def low_stock(store: Store) -> list[str]:
    """SKUs at or below their reorder level, in SKU order."""
    return [sku for sku in sorted(store.stock) if store.stock[sku].needs_reorder]


def render_report(store: Store) -> str:
    header = f"{'SKU':<8} {'Name':<20} {'Qty':>5} {'Unit gross':>11} {'Value':>10}"
    lines = [header, "-" * len(header)]
    for item in storage.list_items(store):
        quantity = storage.get_stock(store, item.sku).quantity
        unit_gross = pricing.price_with_tax(item.unit_price, item.category)
        value = stock_value(store, item.sku)
        lines.append(f"{item.sku:<8} {item.name:<20} {quantity:>5} {unit_gross:>11} {value:>10}")
    lines.append("-" * len(header))
    lines.append(f"Total stock value: {total_value(store)}")
    reorder = low_stock(store)
    if reorder:
        lines.append("Reorder: " + ", ".join(reorder))
    return "\n".join(lines)
