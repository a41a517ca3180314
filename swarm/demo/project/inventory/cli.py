"""Command-line interface: python -m inventory.cli [--db FILE] COMMAND ..."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation

from . import pricing, reports, storage
from .models import CATEGORIES, Item

DEFAULT_DB = "inventory.json"


def _price(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"invalid price: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventory", description="Track items, stock levels and their value."
    )
    parser.add_argument("--db", default=DEFAULT_DB, help="inventory file (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add", help="add a new item")
    add.add_argument("sku")
    add.add_argument("name")
    add.add_argument("price", type=_price)
    add.add_argument("--category", choices=CATEGORIES, default="general")
    add.add_argument("--quantity", type=int, default=0)

    for name, help_text in (("receive", "add units to stock"), ("sell", "sell units from stock")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("sku")
        cmd.add_argument("quantity", type=int)

    show = sub.add_parser("show", help="show one item")
    show.add_argument("sku")

    sub.add_parser("report", help="print a stock value report")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    store = storage.load(args.db)
    try:
        if args.command == "add":
            item = Item(args.sku, args.name, args.price, args.category)
            storage.add_item(store, item, quantity=args.quantity)
            print(f"added {item.sku} ({item.name})")
        elif args.command == "receive":
            stock = storage.get_stock(store, args.sku)
            stock.add(args.quantity)
            print(f"{args.sku}: {stock.quantity} in stock")
        elif args.command == "sell":
            item = storage.get_item(store, args.sku)
            storage.get_stock(store, args.sku).remove(args.quantity)
            print(f"sold {args.quantity} x {item.name} for {pricing.line_total(item, args.quantity)}")
        elif args.command == "show":
            item = storage.get_item(store, args.sku)
            stock = storage.get_stock(store, args.sku)
            gross = pricing.price_with_tax(item.unit_price, item.category)
            print(f"{item.sku}  {item.name}  [{item.category}]")
            print(f"price {item.unit_price} (gross {gross}), {stock.quantity} in stock")
        elif args.command == "report":
            print(reports.render_report(store))
    except (storage.NotFoundError, ValueError) as exc:
        message = exc.args[0] if exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    if args.command in ("add", "receive", "sell"):
        storage.save(store, args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
