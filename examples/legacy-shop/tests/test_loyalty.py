import pytest

from shopapp.loyalty import loyalty_points


@pytest.mark.parametrize(
    ("total_cents", "tier", "points"),
    [
        (0, "basic", 0),
        (99, "basic", 0),
        (12345, "basic", 123),
        (12345, "silver", 153),
        (12345, "gold", 246),
        (12345, "platinum", 123),
    ],
)
def test_points(total_cents: int, tier: str, points: int) -> None:
    assert loyalty_points(total_cents, tier) == points


def test_negative_total_is_rejected() -> None:
    with pytest.raises(ValueError):
        loyalty_points(-1, "gold")
