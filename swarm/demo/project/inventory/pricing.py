"""Price calculations: discounts, bulk pricing and sales tax."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .models import Item

CENT = Decimal("0.01")

TAX_RATES = {
    "general": Decimal("0.20"),
    "food": Decimal("0.05"),
    "books": Decimal("0"),
}

# (minimum quantity, percent off), largest tier first
BULK_TIERS = ((100, Decimal("10")), (50, Decimal("5")))


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def apply_discount(price: Decimal, percent: Decimal | int) -> Decimal:
    """Return price reduced by percent, rounded to cents."""
    if not 0 <= percent <= 100:
        raise ValueError(f"discount must be between 0 and 100, got {percent}")
    return round_money(price * (100 - Decimal(percent)) / 100)


def bulk_discount(quantity: int) -> Decimal:
    """Percent off for an order of quantity units."""
    for minimum, percent in BULK_TIERS:
        if quantity >= minimum:
            return percent
    return Decimal("0")


def price_with_tax(price: Decimal, category: str = "general") -> Decimal:
    """Return price plus the sales tax for category, rounded to cents."""
    try:
        rate = TAX_RATES[category]
    except KeyError:
        raise ValueError(f"no tax rate for category {category!r}") from None
    return round_money(price * (1 + rate))


def line_total(item: Item, quantity: int) -> Decimal:
    """Amount charged for quantity units of item: bulk discount first, then tax."""
    net = apply_discount(item.unit_price * quantity, bulk_discount(quantity))
    return price_with_tax(net, item.category)
