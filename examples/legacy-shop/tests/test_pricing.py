import pytest

from shopapp.pricing import bulk_discount_percent, line_total, vat_cents


def test_line_total_without_discount() -> None:
    assert line_total(250, 3, 0) == 750


def test_line_total_customer_discount_rounds_down() -> None:
    # 1999 * 3 = 5997, 15% of it is 899.55: the discount is 899 cents
    assert line_total(1999, 3, 15) == 5098


@pytest.mark.parametrize(
    ("quantity", "percent"), [(1, 0), (9, 0), (10, 5), (49, 5), (50, 10), (500, 10)]
)
def test_bulk_discount_tiers(quantity: int, percent: int) -> None:
    assert bulk_discount_percent(quantity) == percent


def test_line_total_bulk_discount() -> None:
    assert line_total(250, 12, 0) == 2850  # 3000 less 5%
    assert line_total(99, 60, 0) == 5346  # 5940 less 10%


def test_line_total_discounts_are_capped() -> None:
    assert line_total(1000, 50, 25) == 35000  # 25% + 10% bulk, capped at 30%
    assert line_total(1000, 1, 100) == 700


def test_line_total_free_article() -> None:
    assert line_total(0, 5, 0) == 0


@pytest.mark.parametrize(
    ("unit_price_cents", "quantity", "discount_percent"),
    [
        (-1, 1, 0),
        (10_000_001, 1, 0),
        (100, 0, 0),
        (100, -3, 0),
        (100, 100_001, 0),
        (100, 1, -5),
        (100, 1, 101),
    ],
)
def test_line_total_rejects(unit_price_cents: int, quantity: int, discount_percent: int) -> None:
    with pytest.raises(ValueError):
        line_total(unit_price_cents, quantity, discount_percent)


def test_vat_standard_and_reduced_rates() -> None:
    assert vat_cents(10000, 190) == 1900
    assert vat_cents(1999, 190) == 380  # 379.81
    assert vat_cents(1234, 70) == 86  # 86.38
    assert vat_cents(899, 200) == 180  # 179.8


def test_vat_zero() -> None:
    assert vat_cents(0, 190) == 0
    assert vat_cents(5000, 0) == 0


@pytest.mark.parametrize(("net_cents", "rate_permille"), [(-1, 190), (100, -1), (100, 1001)])
def test_vat_rejects(net_cents: int, rate_permille: int) -> None:
    with pytest.raises(ValueError):
        vat_cents(net_cents, rate_permille)
