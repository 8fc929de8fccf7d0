import pytest

from shopapp.stock import Reorder, StockItem, reorder_quantity, reorder_report


def test_enough_stock_orders_nothing() -> None:
    # reorder point 10 * (5 + 3) = 80, available 100 - 15 = 85
    assert reorder_quantity(100, 15, 10, 5, 3, 1) == Reorder(quantity=0, reorder_point=80)


def test_at_the_reorder_point_orders_up_to_the_cycle() -> None:
    # available 80: reach 80 + 14 * 10 = 220, so 140
    assert reorder_quantity(80, 0, 10, 5, 3, 1) == Reorder(quantity=140, reorder_point=80)


def test_rounds_up_to_whole_packs() -> None:
    assert reorder_quantity(80, 0, 10, 5, 3, 12) == Reorder(quantity=144, reorder_point=80)
    assert reorder_quantity(80, 0, 10, 5, 3, 140) == Reorder(quantity=140, reorder_point=80)


def test_oversold_article_orders_the_backlog_too() -> None:
    # available 5 - 25 = -20: reach 4 * (7 + 2) + 4 * 14 = 92, so 112
    assert reorder_quantity(5, 25, 4, 7, 2, 1) == Reorder(quantity=112, reorder_point=36)


def test_no_demand_no_stock() -> None:
    assert reorder_quantity(0, 0, 0, 10, 3, 6) == Reorder(quantity=0, reorder_point=0)


@pytest.mark.parametrize(
    "args",
    [
        (-1, 0, 1, 1, 1, 1),
        (1, -1, 1, 1, 1, 1),
        (1, 0, -1, 1, 1, 1),
        (1, 0, 1, 366, 1, 1),
        (1, 0, 1, 1, -1, 1),
        (1, 0, 1, 1, 1, 0),
        (10_000_001, 0, 1, 1, 1, 1),
    ],
)
def test_rejects(args: tuple[int, int, int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        reorder_quantity(*args)


def test_report_lists_only_articles_to_reorder() -> None:
    items = [
        StockItem("APPLE-1", on_hand=500, reserved=20, daily_demand=30, lead_time_days=2),
        StockItem(
            "FLOUR-5", on_hand=12, reserved=4, daily_demand=3, lead_time_days=4, pack_size=10
        ),
    ]
    # FLOUR-5: reorder point 21, available 8: 21 + 42 - 8 = 55 units, 6 packs of 10
    assert reorder_report(items) == {"FLOUR-5": 60}
