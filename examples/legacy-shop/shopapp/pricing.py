"""Prices, discounts and VAT, in integer cents.

Both functions are rpcs of shop.v1.Pricing (proto/shop/v1/legacy_shop.proto), ported to
Go in guests/go-pricing: the parameters are the request's fields, the result the
response's one field. `@bridge.route` sends their calls to Python or Go as configuration
says (pyproject.toml, BRIDGE_MODE_*); the bodies are the legacy code, unchanged.
"""

from __future__ import annotations

import bridge
from bridge import StatusCode

# The rpcs' messages, which @bridge.route checks the functions against.
from shopapp.gen.shop.v1 import legacy_shop_pb2  # noqa: F401

MAX_UNIT_PRICE_CENTS = 10_000_000
MAX_QUANTITY = 100_000
MAX_DISCOUNT_PERCENT = 30
"""The most a line is discounted, the customer's and the bulk discount together."""
BULK_DISCOUNTS = ((50, 10), (10, 5))
"""(from this quantity, percent off), the largest quantity first."""
MAX_NET_CENTS = 1_000_000_000_000


def bulk_discount_percent(quantity: int) -> int:
    """The percent off for buying `quantity` units of one article at once."""
    for min_quantity, percent in BULK_DISCOUNTS:
        if quantity >= min_quantity:
            return percent
    return 0


@bridge.route("shop.v1.Pricing/LineTotal", errors={StatusCode.INVALID_ARGUMENT: ValueError})
def line_total(unit_price_cents: int, quantity: int, discount_percent: int) -> int:
    """The price of an order line in cents, after discounts.

    The customer's discount and the bulk discount add up, to at most
    MAX_DISCOUNT_PERCENT; the discount is rounded down to the cent.

    rpc shop.v1.Pricing/LineTotal -> LineTotalResponse.total_cents
    """
    if not 0 <= unit_price_cents <= MAX_UNIT_PRICE_CENTS:
        raise ValueError(
            f"unit_price_cents must be between 0 and {MAX_UNIT_PRICE_CENTS}, not {unit_price_cents}"
        )
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValueError(f"quantity must be between 1 and {MAX_QUANTITY}, not {quantity}")
    if not 0 <= discount_percent <= 100:
        raise ValueError(f"discount_percent must be between 0 and 100, not {discount_percent}")
    gross = unit_price_cents * quantity
    percent = min(discount_percent + bulk_discount_percent(quantity), MAX_DISCOUNT_PERCENT)
    return gross - gross * percent // 100


@bridge.route("shop.v1.Pricing/Vat", errors={StatusCode.INVALID_ARGUMENT: ValueError})
def vat_cents(net_cents: int, rate_permille: int) -> int:
    """The VAT on `net_cents` at `rate_permille` (190 is 19%), to the nearest cent.

    rpc shop.v1.Pricing/Vat -> VatResponse.vat_cents
    """
    if not 0 <= net_cents <= MAX_NET_CENTS:
        raise ValueError(f"net_cents must be between 0 and {MAX_NET_CENTS}, not {net_cents}")
    if not 0 <= rate_permille <= 1000:
        raise ValueError(f"rate_permille must be between 0 and 1000, not {rate_permille}")
    return round(net_cents * rate_permille / 1000)
