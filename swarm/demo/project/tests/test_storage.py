from decimal import Decimal

import pytest

from inventory import storage
from inventory.models import Item

PEN = Item("P1", "Pen", Decimal("1.20"))


@pytest.fixture
def store():
    s = storage.Store()
    storage.add_item(s, PEN, quantity=10)
    return s


def test_get_item_returns_added_item(store):
    assert storage.get_item(store, "P1") == PEN
    assert storage.get_stock(store, "P1").quantity == 10


def test_get_item_unknown_sku_raises(store):
    with pytest.raises(storage.NotFoundError, match="unknown SKU 'NOPE'"):
        storage.get_item(store, "NOPE")


def test_add_duplicate_sku_is_rejected(store):
    with pytest.raises(ValueError, match="already exists"):
        storage.add_item(store, Item("P1", "Other pen", Decimal("2")))


def test_remove_item(store):
    assert storage.remove_item(store, "P1") == PEN
    assert storage.list_items(store) == []
    with pytest.raises(storage.NotFoundError):
        storage.get_item(store, "P1")


def test_save_and_load_round_trip(store, tmp_path):
    storage.add_item(store, Item("B7", "Atlas", Decimal("25.00"), "books"), reorder_level=1)
    path = tmp_path / "inventory.json"
    storage.save(store, path)

    loaded = storage.load(path)
    assert [item.sku for item in storage.list_items(loaded)] == ["B7", "P1"]
    assert storage.get_item(loaded, "B7").category == "books"
    assert storage.get_stock(loaded, "B7").reorder_level == 1
    assert storage.get_stock(loaded, "P1").quantity == 10


def test_load_missing_file_gives_empty_store(tmp_path):
    assert storage.list_items(storage.load(tmp_path / "missing.json")) == []
