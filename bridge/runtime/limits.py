"""Deadlines by epoch interruption: one ticker thread per engine, a deadline per call.

wasmtime checks the engine's epoch at function entries and loop back-edges; a store
whose deadline epoch has passed traps with `TrapCode.INTERRUPT`. The ticker advances
the epoch every EPOCH_TICK_S, so a deadline of d seconds fires after d to d + one tick.
"""

from __future__ import annotations

import math
import threading
import time
import weakref

import wasmtime

__all__ = [
    "EPOCH_TICK_NS",
    "EPOCH_TICK_S",
    "NO_DEADLINE_TICKS",
    "deadline_ticks",
    "start_ticker",
]

EPOCH_TICK_S = 0.002
EPOCH_TICK_NS = int(EPOCH_TICK_S * 1e9)
# "Never": about 580 million years of ticks, still inside wasmtime's u64.
NO_DEADLINE_TICKS = 1 << 62


def deadline_ticks(timeout_s: float | None) -> int:
    """The epoch delta that lets a call run `timeout_s` (rounded up to whole ticks)."""
    if timeout_s is None:
        return NO_DEADLINE_TICKS
    # +2: the first tick may come at any moment after the deadline is set, and a
    # deadline may be reused for a call that starts up to one tick later.
    return math.ceil(timeout_s / EPOCH_TICK_S) + 2


def start_ticker(engine: wasmtime.Engine) -> None:
    """Advance `engine`'s epoch every tick for as long as the engine lives."""
    ref = weakref.ref(engine)

    def tick() -> None:
        while True:
            time.sleep(EPOCH_TICK_S)
            alive = ref()
            if alive is None:
                return
            alive.increment_epoch()
            del alive

    threading.Thread(target=tick, name="bridge-epoch-ticker", daemon=True).start()
