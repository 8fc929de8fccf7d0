"""What bounds a guest: deadlines by epoch interruption, and the store's size limits.

A deadline of d seconds is a number of epoch ticks beyond the engine's epoch now;
bridge/runtime/ticker.py advances the epochs. A guest is stopped d to d + 2 ticks after
its deadline was armed, later only if the ticks themselves came late.
"""

from __future__ import annotations

import math
from time import monotonic_ns

import wasmtime

from ..config import RuntimeConfig
from .ticker import EPOCH_TICK_NS, EPOCH_TICK_S, ticker

__all__ = [
    "EPOCH_TICK_NS",
    "EPOCH_TICK_S",
    "MAX_TABLES",
    "MAX_TABLE_ELEMENTS",
    "NO_DEADLINE_TICKS",
    "deadline_ticks",
    "limit_store",
    "start_ticker",
    "ticker",
]

# "Never": about 580 million years of ticks, still inside wasmtime's u64.
NO_DEADLINE_TICKS = 1 << 62


def start_ticker(engine: wasmtime.Engine) -> None:
    """Advance `engine`'s epoch every tick for as long as the engine lives."""
    ticker.add(engine)


def deadline_ticks(timeout_s: float | None) -> int:
    """The epoch delta that lets a call arming it now run `timeout_s` (rounded up to
    whole ticks). Readies the ticker for it first."""
    if timeout_s is None:
        return NO_DEADLINE_TICKS
    ticker.cover(math.ceil(timeout_s * 1e9))
    if monotonic_ns() >= ticker.check_ns:
        ticker.refresh()
    # +2: the first tick may come at any moment after the deadline is set, and a
    # deadline may be reused for a call that starts up to one tick later.
    return math.ceil(timeout_s / EPOCH_TICK_S) + 2


# What an instance may hold besides its one memory (docs/abi.md section 7). A table
# element takes 8 bytes, so tables stay under 32 MiB; a 3 MB Go guest has one table of
# ~6,300 elements, a Rust guest one of a few dozen.
MAX_TABLES = 4
MAX_TABLE_ELEMENTS = 1 << 20


def limit_store(store: wasmtime.Store, config: RuntimeConfig) -> None:
    """Bound everything an instance in `store` may hold: one memory of at most the
    config's limit, MAX_TABLES tables of MAX_TABLE_ELEMENTS, one instance."""
    store.set_limits(
        memory_size=config.memory_limit_bytes,
        table_elements=MAX_TABLE_ELEMENTS,
        instances=1,
        tables=MAX_TABLES,
        memories=1,
    )
