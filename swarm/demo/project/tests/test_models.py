from decimal import Decimal

import pytest

from inventory.models import Item, Stock


def test_item_round_trips_through_dict():
    item = Item("A1", "Apples", Decimal("0.45"), "food")
    assert Item.from_dict(item.to_dict()) == item


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sku": "", "name": "Blank", "unit_price": Decimal("1")},
        {"sku": "X1", "name": "Negative", "unit_price": Decimal("-1")},
        {"sku": "X2", "name": "Odd", "unit_price": Decimal("1"), "category": "toys"},
    ],
)
def test_item_rejects_invalid_values(kwargs):
    with pytest.raises(ValueError):
        Item(**kwargs)


def test_stock_add_and_remove():
    stock = Stock("A1", quantity=3)
    stock.add(4)
    stock.remove(2)
    assert stock.quantity == 5


def test_stock_cannot_go_negative():
    stock = Stock("A1", quantity=1)
    with pytest.raises(ValueError, match="only 1 in stock"):
        stock.remove(2)

