import pytest

from shopapp.orders import Line, Order, OrderTotal, order_total


def test_single_line() -> None:
    total = order_total(Order([Line("TEA-100", 499, 2)]))
    # 998 net, 189.62 VAT
    assert total == OrderTotal(
        net_cents=998, vat_cents=190, gross_cents=1188, loyalty_points=11, vat_by_rate={190: 190}
    )


def test_vat_per_rate_on_the_sum_of_its_lines() -> None:
    order = Order(
        [
            Line("COFFEE-500", 899, 3),  # 2697
            Line("MUG-BLUE", 1299, 1, discount_percent=10),  # 1299 - 129 = 1170
            Line("BREAD-1", 349, 12, vat_permille=70),  # 4188 - 209 = 3979
        ],
        customer_tier="gold",
    )
    total = order_total(order)
    # 3867 at 19% is 734.73; 3979 at 7% is 278.53
    assert total.vat_by_rate == {70: 279, 190: 735}
    assert total.net_cents == 7846
    assert total.vat_cents == 1014
    assert total.gross_cents == 8860
    assert total.loyalty_points == 176


def test_empty_order_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one line"):
        order_total(Order([]))


def test_invalid_line_is_rejected() -> None:
    with pytest.raises(ValueError, match="quantity"):
        order_total(Order([Line("TEA-100", 499, 0)]))
