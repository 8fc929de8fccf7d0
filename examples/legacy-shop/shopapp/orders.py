"""Orders, and what they cost."""

from __future__ import annotations

from dataclasses import dataclass, field

from shopapp.loyalty import loyalty_points
from shopapp.pricing import line_total, vat_cents

STANDARD_VAT_PERMILLE = 190
REDUCED_VAT_PERMILLE = 70
"""Food and books."""


@dataclass(frozen=True)
class Line:
    sku: str
    unit_price_cents: int
    quantity: int
    discount_percent: int = 0
    vat_permille: int = STANDARD_VAT_PERMILLE


@dataclass(frozen=True)
class Order:
    lines: list[Line] = field(default_factory=list)
    customer_tier: str = "basic"


@dataclass(frozen=True)
class OrderTotal:
    net_cents: int
    vat_cents: int
    gross_cents: int
    loyalty_points: int
    vat_by_rate: dict[int, int]
    """VAT in cents by rate in permille, as printed on the invoice."""


def order_total(order: Order) -> OrderTotal:
    """Prices an order: each line after discounts, then the VAT of each rate on the sum
    of its lines (as the invoice shows it), then the loyalty points of the gross total."""
    if not order.lines:
        raise ValueError("an order needs at least one line")
    net_by_rate: dict[int, int] = {}
    for line in order.lines:
        net = line_total(line.unit_price_cents, line.quantity, line.discount_percent)
        net_by_rate[line.vat_permille] = net_by_rate.get(line.vat_permille, 0) + net
    vat_by_rate = {rate: vat_cents(net, rate) for rate, net in sorted(net_by_rate.items())}
    net = sum(net_by_rate.values())
    vat = sum(vat_by_rate.values())
    return OrderTotal(
        net_cents=net,
        vat_cents=vat,
        gross_cents=net + vat,
        loyalty_points=loyalty_points(net + vat, order.customer_tier),
        vat_by_rate=vat_by_rate,
    )
