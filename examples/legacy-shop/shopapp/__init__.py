"""The pricing and stock service of a small shop: legacy Python, migrating out.

The functions in `pricing` and `stock` are pure, typed with plain types and specified by
the rpcs of proto/shop/v1/legacy_shop.proto, so they can move to Go or Rust one at a
time; `loyalty` stays in Python; `orders` puts them together.
"""

from shopapp.loyalty import loyalty_points
from shopapp.orders import Line, Order, OrderTotal, order_total
from shopapp.pricing import line_total, vat_cents
from shopapp.stock import Reorder, StockItem, reorder_quantity, reorder_report

__all__ = [
    "Line",
    "Order",
    "OrderTotal",
    "Reorder",
    "StockItem",
    "line_total",
    "loyalty_points",
    "order_total",
    "reorder_quantity",
    "reorder_report",
    "vat_cents",
]
