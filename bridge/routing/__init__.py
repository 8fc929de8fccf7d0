"""Route legacy Python functions to their migrated implementation, one at a time.

    import bridge

    @bridge.route("shop.v1.Pricing/LineTotal")
    def line_total(unit_price_cents: int, quantity: int, discount_percent: int) -> int:
        ...  # the legacy code, unchanged

A generator function routes the same way to a server-streaming rpc, one response per
value it yields. Configuration says who answers each function (python, wasm, sidecar,
shadow, canary:N); `bridge.routes` flips it at run time and holds the statistics
`bridge report` shows.
"""

from __future__ import annotations

from .binding import Binding
from .experiment import Mismatch, Outcome
from .router import Route, Router
from .stats import Row

__all__ = ["Binding", "Mismatch", "Outcome", "Route", "Router", "Row", "routes", "route"]

#: The process's router: what `@bridge.route` registers with.
routes = Router()
route = routes.route
