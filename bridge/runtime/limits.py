"""What bounds a guest: deadlines by epoch interruption, and the store's size limits.

Deadlines: one ticker thread advances every engine's epoch.

wasmtime checks the engine's epoch at function entries and loop back-edges; a store
whose deadline epoch has passed traps with `TrapCode.INTERRUPT`. The epoch counts the
EPOCH_TICK_S ticks of the monotonic clock since the ticker started: each time the ticker
runs (every WAKE_TICKS ticks) it adds every tick that elapsed since it last ran, so a
ticker that waited for the GIL (other Python threads hold it for a switch interval or
more at a time) or for a CPU is late once, by that wait, instead of slowing the epoch
down for good.

An epoch that lags the clock would make a deadline armed then fire early, by the lag:
`catch_up()` brings it to the clock from the caller's own thread, and whoever arms a
deadline calls it first when the epoch is `late` (GuestModule.call, `deadline_ticks`).
A guest is then stopped d to d + 2 + WAKE_TICKS ticks after a deadline of d seconds was
armed, plus however long the ticker last waited to run; the caller sees the error once
its thread has the GIL back.

The ticker survives fork(): the child starts its own (os.register_at_fork).
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable

import wasmtime
from wasmtime import _ffi

from ..config import RuntimeConfig

__all__ = [
    "EPOCH_TICK_NS",
    "EPOCH_TICK_S",
    "MAX_TABLES",
    "MAX_TABLE_ELEMENTS",
    "NO_DEADLINE_TICKS",
    "catch_up",
    "deadline_ticks",
    "limit_store",
    "start_ticker",
    "ticker",
]

log = logging.getLogger("bridge.runtime")

EPOCH_TICK_S = 0.002
EPOCH_TICK_NS = int(EPOCH_TICK_S * 1e9)
# The ticker wakes every WAKE_TICKS ticks and adds them all: half the wake-ups (and idle
# CPU) of waking every tick, for a deadline up to one more tick late.
WAKE_TICKS = 2
# "Never": about 580 million years of ticks, still inside wasmtime's u64.
NO_DEADLINE_TICKS = 1 << 62

_now_ns = time.monotonic_ns


def _gil_holding_increment() -> Callable[[int], None] | None:
    """wasmtime_engine_increment_epoch, called without releasing the GIL.

    It is one atomic add. wasmtime-py's binding releases the GIL around it, and taking
    the GIL back after each of a catch-up's increments would cost a switch interval
    each while other threads are busy: the catch-up would never catch up.
    """
    try:
        address = ctypes.cast(_ffi.dll.wasmtime_engine_increment_epoch, ctypes.c_void_p).value
    except (AttributeError, TypeError, ValueError):  # another wasmtime-py layout
        return None
    if not address:
        return None
    return ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(address)


_INCREMENT = _gil_holding_increment()


class _Engine:
    """One engine the ticker advances; weak, so that a dropped engine stops ticking."""

    __slots__ = ("ref", "_ptr", "_address")

    def __init__(self, engine: wasmtime.Engine) -> None:
        self.ref = weakref.ref(engine)
        self._ptr: object = None
        self._address = 0

    def advance(self, ticks: int) -> bool:
        """Add `ticks` to the epoch; False once the engine is gone or closed."""
        engine = self.ref()  # held while its address is used
        if engine is None:
            return False
        try:
            ptr = engine.ptr()
        except ValueError:  # closed
            return False
        if _INCREMENT is None:
            for _ in range(ticks):
                engine.increment_epoch()
            return True
        if ptr is not self._ptr:  # cast once: ctypes.cast costs more than a whole tick
            self._ptr, self._address = ptr, ctypes.cast(ptr, ctypes.c_void_p).value or 0
        for _ in range(ticks):
            _INCREMENT(self._address)
        return True


class _Ticker:
    """The epoch clock of the process: every engine advances by the same ticks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin_ns = _now_ns()
        self._applied = 0  # ticks since the origin that every engine has been given
        self._engines: list[_Engine] = []
        self._thread: threading.Thread | None = None
        # From this moment the epoch is 2 ticks behind the clock: callers catch up.
        self.late_ns = sys.maxsize

    def add(self, engine: wasmtime.Engine) -> None:
        with self._lock:
            self._engines.append(_Engine(engine))
            self.late_ns = self._origin_ns + (self._applied + 2) * EPOCH_TICK_NS
            if self._thread is None:
                self._start()

    def catch_up(self) -> bool:
        """Advance every engine by the ticks that elapsed since the last advance;
        whether any engine is left."""
        with self._lock:
            due = (_now_ns() - self._origin_ns) // EPOCH_TICK_NS
            behind = due - self._applied
            if behind > 0:
                gone = False
                for engine in self._engines:
                    if not engine.advance(behind):
                        gone = True
                if gone:
                    self._engines = [e for e in self._engines if e.advance(0)]
                # Epochs first, then the count: `_applied` never runs ahead of an epoch.
                self._applied = due
            self.late_ns = self._origin_ns + (self._applied + 2) * EPOCH_TICK_NS
            return bool(self._engines)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bridge-epoch-ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            # To a tick's boundary, so that a wake-up is never wasted on no tick at all.
            delay_ns = self._origin_ns + (self._applied + WAKE_TICKS) * EPOCH_TICK_NS - _now_ns()
            if delay_ns > 0:
                time.sleep(delay_ns / 1e9)
            if not self.catch_up():
                with self._lock:
                    if not self._engines:  # every engine is gone: stop until the next one
                        self._thread = None
                        self.late_ns = sys.maxsize
                        return

    def after_fork_in_child(self) -> None:
        # The parent's thread does not exist here, and may have held the lock. The
        # epochs came along with the engines' memory, so the count goes on from there.
        self._lock = threading.Lock()
        self._thread = None
        if self._engines:
            self._start()


ticker = _Ticker()
"""The process's ticker. On a hot path: `if monotonic_ns() >= ticker.late_ns: ticker.catch_up()`
before arming a deadline."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ticker.after_fork_in_child)


def start_ticker(engine: wasmtime.Engine) -> None:
    """Advance `engine`'s epoch every tick for as long as the engine lives."""
    ticker.add(engine)


def catch_up() -> None:
    """Bring every engine's epoch up to the clock now (cheap when it already is)."""
    ticker.catch_up()


def deadline_ticks(timeout_s: float | None) -> int:
    """The epoch delta that lets a call arming it now run `timeout_s` (rounded up to
    whole ticks). Catches the epoch up first when the ticker is late."""
    if timeout_s is None:
        return NO_DEADLINE_TICKS
    if _now_ns() >= ticker.late_ns:
        ticker.catch_up()
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
