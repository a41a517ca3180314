from decimal import Decimal

import pytest

from inventory import reports, storage
from inventory.models import Item


@pytest.fixture
def store():
    s = storage.Store()
    storage.add_item(s, Item("A1", "Apples", Decimal("0.50"), "food"), quantity=40)
    storage.add_item(s, Item("B1", "Cookbook", Decimal("12.00"), "books"), quantity=3)
    storage.add_item(s, Item("L1", "Lamp", Decimal("30.00")), quantity=2, reorder_level=2)
    return s


def test_stock_value_includes_tax(store):
    assert reports.stock_value(store, "A1") == Decimal("21.00")
    assert reports.stock_value(store, "L1") == Decimal("72.00")


def test_total_value(store):
    assert reports.total_value(store) == Decimal("129.00")


def test_low_stock_lists_items_at_reorder_level(store):
    assert reports.low_stock(store) == ["B1", "L1"]


def test_render_report(store):
    text = reports.render_report(store)
    lines = text.splitlines()
    assert lines[0].split() == ["SKU", "Name", "Qty", "Unit", "gross", "Value"]
    assert "Lamp" in lines[4] and "36.00" in lines[4] and "72.00" in lines[4]
    assert "Total stock value: 129.00" in text
    assert text.endswith("Reorder: B1, L1")
