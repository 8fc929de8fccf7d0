"""Stock keeping: when to reorder an article, and how much.

`reorder_quantity` is the rpc shop.v1.Stock/ReorderQuantity
(proto/shop/v1/legacy_shop.proto), ported to Rust in guests/rust-stock: the parameters
are the request's fields, the fields of `Reorder` the response's. `@bridge.route` sends
its calls to Python or Rust as configuration says (pyproject.toml, BRIDGE_MODE_*).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import bridge
from bridge import StatusCode

# The rpc's messages, which @bridge.route checks the function against.
from shopapp.gen.shop.v1 import legacy_shop_pb2  # noqa: F401

ORDER_CYCLE_DAYS = 14
"""An order covers this many days of demand beyond the reorder point."""
MAX_UNITS = 10_000_000
MAX_DAILY_DEMAND = 1_000_000
MAX_DAYS = 365
MAX_PACK_SIZE = 10_000


@dataclass(frozen=True)
class Reorder:
    """What to order of one article (ReorderQuantityResponse)."""

    quantity: int
    """Units to order now, a multiple of the pack size; 0 when the stock suffices."""
    reorder_point: int
    """The stock level at or below which the article is reordered."""


@dataclass(frozen=True)
class StockItem:
    """An article's stock and how it sells."""

    sku: str
    on_hand: int
    reserved: int
    daily_demand: int
    lead_time_days: int
    safety_days: int = 3
    pack_size: int = 1


def _check(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")


@bridge.route("shop.v1.Stock/ReorderQuantity", errors={StatusCode.INVALID_ARGUMENT: ValueError})
def reorder_quantity(
    on_hand: int,
    reserved: int,
    daily_demand: int,
    lead_time_days: int,
    safety_days: int,
    pack_size: int,
) -> Reorder:
    """How much of an article to order now.

    The reorder point is the demand until a new delivery arrives plus the safety stock:
    daily_demand * (lead_time_days + safety_days). When the available stock (on hand
    minus reserved, negative when oversold) is at or below it, order enough to reach the
    reorder point plus ORDER_CYCLE_DAYS of demand, rounded up to whole packs.

    rpc shop.v1.Stock/ReorderQuantity -> ReorderQuantityResponse
    """
    _check("on_hand", on_hand, 0, MAX_UNITS)
    _check("reserved", reserved, 0, MAX_UNITS)
    _check("daily_demand", daily_demand, 0, MAX_DAILY_DEMAND)
    _check("lead_time_days", lead_time_days, 0, MAX_DAYS)
    _check("safety_days", safety_days, 0, MAX_DAYS)
    _check("pack_size", pack_size, 1, MAX_PACK_SIZE)
    available = on_hand - reserved
    reorder_point = daily_demand * (lead_time_days + safety_days)
    if available > reorder_point:
        return Reorder(quantity=0, reorder_point=reorder_point)
    shortfall = reorder_point + daily_demand * ORDER_CYCLE_DAYS - available
    packs = -(-shortfall // pack_size)
    return Reorder(quantity=packs * pack_size, reorder_point=reorder_point)


def reorder_report(items: Iterable[StockItem]) -> dict[str, int]:
    """The articles to reorder now, by SKU, with the units to order."""
    report: dict[str, int] = {}
    for item in items:
        reorder = reorder_quantity(
            item.on_hand,
            item.reserved,
            item.daily_demand,
            item.lead_time_days,
            item.safety_days,
            item.pack_size,
        )
        if reorder.quantity:
            report[item.sku] = reorder.quantity
    return report
