from decimal import Decimal

import pytest

from inventory import storage
from inventory.cli import build_parser, main


def test_parser_requires_a_command():
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


def test_parser_reads_add_arguments():
    args = build_parser().parse_args(["add", "T1", "Tea", "3.50", "--category", "food"])
    assert (args.sku, args.name, args.price, args.category) == ("T1", "Tea", Decimal("3.50"), "food")


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "inventory.json")
    assert main(["--db", path, "add", "T1", "Tea", "3.50", "--category", "food", "--quantity", "8"]) == 0
    return path


def test_add_persists_item(db):
    item = storage.get_item(storage.load(db), "T1")
    assert (item.name, item.unit_price, item.category) == ("Tea", Decimal("3.50"), "food")


def test_show_prints_gross_price(db, capsys):
    capsys.readouterr()
    assert main(["--db", db, "show", "T1"]) == 0
    assert "price 3.50 (gross 3.68), 8 in stock" in capsys.readouterr().out


def test_sell_updates_stock(db, capsys):
    assert main(["--db", db, "sell", "T1", "3"]) == 0
    assert "sold 3 x Tea for 11.03" in capsys.readouterr().out
    assert storage.get_stock(storage.load(db), "T1").quantity == 5


def test_unknown_sku_is_an_error(db, capsys):
    assert main(["--db", db, "show", "NOPE"]) == 1
    assert "error: unknown SKU 'NOPE'" in capsys.readouterr().err
