from decimal import Decimal

import pytest

from inventory import pricing
from inventory.models import Item


def test_apply_discount_rounds_to_cents():
    assert pricing.apply_discount(Decimal("9.99"), 15) == Decimal("8.49")


def test_apply_discount_rejects_out_of_range():
    with pytest.raises(ValueError):
        pricing.apply_discount(Decimal("10"), 120)


@pytest.mark.parametrize(
    ("quantity", "percent"), [(1, "0"), (49, "0"), (50, "5"), (99, "5"), (100, "10")]
)
def test_bulk_discount_tiers(quantity, percent):
    assert pricing.bulk_discount(quantity) == Decimal(percent)


@pytest.mark.parametrize(
    ("category", "expected"), [("general", "12.00"), ("food", "10.50"), ("books", "10.00")]
)
def test_price_with_tax_by_category(category, expected):
    assert pricing.price_with_tax(Decimal("10.00"), category) == Decimal(expected)


def test_price_with_tax_unknown_category():
    with pytest.raises(ValueError, match="no tax rate"):
        pricing.price_with_tax(Decimal("1"), "toys")


def test_line_total_applies_bulk_discount_before_tax():
    item = Item("N1", "Notebook", Decimal("2.00"))
    # 60 x 2.00 = 120.00, 5% off = 114.00, +20% tax = 136.80
    assert pricing.line_total(item, 60) == Decimal("136.80")
