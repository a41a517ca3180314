"""Inventory tracking: items, stock levels, pricing and reports.

Modules:
    models   -- the Item and Stock dataclasses
    storage  -- the Store, with add_item, get_item, remove_item, load and save
    pricing  -- discounts, bulk pricing and sales tax (price_with_tax)
    reports  -- plain-text reports of stock value
    cli      -- the command-line entry point
"""

__version__ = "0.3.0"
