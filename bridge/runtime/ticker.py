"""The epoch clock that deadlines count in: every engine's epoch advances each tick.

wasmtime checks the engine's epoch at function entries and loop back-edges; a store
whose deadline epoch has passed traps with `TrapCode.INTERRUPT`. Something must advance
the epoch, and that something must not need the GIL: busy Python threads hold it for a
switch interval (5 ms) or more at a time, and a clock that waits for them stops guests
late by those waits (20-100 ms beside three busy threads).

Where bridge was installed with a C compiler, a native thread (_ticker.c, loaded with
ctypes) advances every engine's epoch: no Python runs and no GIL is taken. It wakes every
WAKE_TICKS ticks of EPOCH_TICK_S while a deadline may be pending (until the longest
timeout armed, plus FAST_SLACK_NS, after the last refresh) and every IDLE_TICK_NS after
that, so an idle process costs next to nothing. Ticks a wake-up came late for are not
made up, so an epoch can fall behind the clock (when the thread waited for a CPU) but
never runs ahead of it: deadlines fire late, never early. The thread advances engine
references of its own (`wasmtime_engine_clone`), deleted once it has let go of them.

Elsewhere (or with BRIDGE_TICKER=thread), a Python thread wakes every WAKE_TICKS ticks and
adds every tick that elapsed since it last ran, so a wait for the GIL makes it late once,
not for good. Its epoch lags the clock between runs; a deadline armed on a lagging epoch
would fire early, so whoever arms one first brings the epoch up to the clock.

Either way, callers on a hot path do `if monotonic_ns() >= ticker.check_ns:
ticker.refresh()` before arming a deadline. Both survive fork(): threads do not come
along into a child, which starts its own (pthread_atfork, os.register_at_fork).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Protocol

import wasmtime
from wasmtime import _ffi

from ..errors import LoadError, ResourceExhausted

__all__ = ["EPOCH_TICK_NS", "EPOCH_TICK_S", "Ticker", "ticker"]

log = logging.getLogger("bridge.runtime")

EPOCH_TICK_S = 0.002
EPOCH_TICK_NS = int(EPOCH_TICK_S * 1e9)
# With no deadline pending the native thread ticks this slowly: 10 wake-ups a second
# instead of 500, and a deadline armed long ago (impossible unless the thread lost ticks
# for a whole FAST_SLACK_NS) still fires, late, rather than never.
IDLE_TICK_NS = 100_000_000
# The native thread ticks fast this long beyond the longest timeout after the last refresh; a
# refresh takes a lock, so a busy process takes it about once per FAST_SLACK_NS.
FAST_SLACK_NS = 1_000_000_000
# Tickers wake every WAKE_TICKS ticks and add them all: half the wake-ups (and CPU) of
# waking every tick, for a deadline up to one more tick late.
WAKE_TICKS = 2

_now_ns = time.monotonic_ns


def _increment_address() -> int | None:
    """Where wasmtime_engine_increment_epoch is, for both tickers to call it directly."""
    try:
        address = ctypes.cast(_ffi.dll.wasmtime_engine_increment_epoch, ctypes.c_void_p).value
    except (AttributeError, TypeError, ValueError):  # another wasmtime-py layout
        return None
    return address or None


_INCREMENT_ADDRESS = _increment_address()


class Ticker(Protocol):
    kind: str
    # On a hot path: refresh() once monotonic_ns() reaches it, before arming a deadline.
    check_ns: int

    def add(self, engine: wasmtime.Engine) -> None:
        """Advance `engine`'s epoch every tick for as long as the engine lives."""

    def cover(self, timeout_ns: int) -> None:
        """Deadlines this long may be armed from now on."""

    def refresh(self) -> None:
        """Make the epochs fit for arming a deadline now."""

    def after_fork_in_child(self) -> None: ...


# ---------------------------------------------------------------------------
# The native thread.

_LIBRARY = Path(__file__).with_name("_ticker.so")


class _NativeTicker:
    """Ticks from the native thread of _ticker.c, fast while a deadline may be pending."""

    kind = "native"

    def __init__(self, lib: ctypes.CDLL, clone: Any, delete: Any) -> None:
        self._lib = lib
        self._clone = clone
        self._delete = delete
        self._lock = threading.Lock()
        self._engines: dict[int, weakref.ref[wasmtime.Engine]] = {}  # its reference -> it
        self._longest_ns = 0
        self._until_ns = 0
        self.check_ns = 0

    @classmethod
    def load(cls) -> _NativeTicker | None:
        """The native ticker, or None where it was not built or does not load."""
        if not _LIBRARY.exists() or _INCREMENT_ADDRESS is None:
            return None
        try:
            lib = ctypes.CDLL(str(_LIBRARY))
            clone, delete = _ffi.dll.wasmtime_engine_clone, _ffi.dll.wasm_engine_delete
        except (AttributeError, OSError) as exc:
            log.warning("the native epoch ticker does not load (%s): a thread ticks", exc)
            return None
        clone.restype, clone.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        delete.restype, delete.argtypes = None, [ctypes.c_void_p]
        lib.bridge_ticker_init.argtypes = [ctypes.c_void_p] + [ctypes.c_int64] * 3
        for name in ("bridge_ticker_add", "bridge_ticker_remove"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.bridge_ticker_remove.restype = None
        lib.bridge_ticker_run_until.argtypes = [ctypes.c_int64]
        if lib.bridge_ticker_init(_INCREMENT_ADDRESS, EPOCH_TICK_NS, WAKE_TICKS, IDLE_TICK_NS):
            return None
        return cls(lib, clone, delete)

    def add(self, engine: wasmtime.Engine) -> None:
        with self._lock:
            # Its own reference: the thread may be inside an increment while Python frees
            # the engine, or while the interpreter exits.
            core: int = self._clone(ctypes.cast(engine.ptr(), ctypes.c_void_p).value or 0)
            if self._lib.bridge_ticker_add(core):
                self._delete(core)
                raise LoadError(
                    "too many engines for the native epoch ticker (64); BRIDGE_TICKER=thread "
                    "uses a Python thread instead"
                )
            self._engines[core] = weakref.ref(engine, lambda _: self._drop(core))

    def _drop(self, core: int) -> None:
        self._lib.bridge_ticker_remove(core)  # from here on the thread never touches it
        self._delete(core)
        self._engines.pop(core, None)

    def cover(self, timeout_ns: int) -> None:
        if timeout_ns > self._longest_ns:
            with self._lock:
                if timeout_ns > self._longest_ns:
                    self._longest_ns = timeout_ns
                    self.check_ns = min(self.check_ns, self._until_ns - timeout_ns)

    def refresh(self) -> None:
        with self._lock:
            now = _now_ns()
            self._until_ns = now + self._longest_ns + FAST_SLACK_NS
            # A deadline armed before check_ns ends before _until_ns.
            self.check_ns = now + FAST_SLACK_NS
            error = self._lib.bridge_ticker_run_until(self._until_ns)
        if error:
            raise ResourceExhausted(
                f"cannot start the thread that enforces deadlines: {os.strerror(error)}"
            )

    def after_fork_in_child(self) -> None:
        # _ticker.c resets itself at fork (pthread_atfork); its thread starts again at the
        # first refresh. A thread that is not here may have held our lock.
        self._lock = threading.Lock()
        self.check_ns = 0
        self._until_ns = 0


# ---------------------------------------------------------------------------
# A Python thread, where there is no native ticker.

# wasmtime_engine_increment_epoch, called without releasing the GIL. It is one atomic
# add. wasmtime-py's binding releases the GIL around it, and taking the GIL back after
# each of a catch-up's increments would cost a switch interval each while other threads
# are busy: the catch-up would never catch up.
_INCREMENT = (
    None
    if _INCREMENT_ADDRESS is None
    else ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(_INCREMENT_ADDRESS)
)


class _Engine:
    """One engine the thread advances; weak, so that a dropped engine stops ticking."""

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


class _ThreadTicker:
    """Ticks from a Python thread that follows the monotonic clock."""

    kind = "thread"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin_ns = _now_ns()
        self._applied = 0  # ticks since the origin that every engine has been given
        self._engines: list[_Engine] = []
        self._thread: threading.Thread | None = None
        # From this moment the epoch is 2 ticks behind the clock: callers catch up.
        self.check_ns = sys.maxsize

    def add(self, engine: wasmtime.Engine) -> None:
        with self._lock:
            self._engines.append(_Engine(engine))
            self.check_ns = self._origin_ns + (self._applied + 2) * EPOCH_TICK_NS
            if self._thread is None:
                self._start()

    def cover(self, timeout_ns: int) -> None:
        pass  # the thread ticks at one pace

    def refresh(self) -> None:
        self._catch_up()

    def _catch_up(self) -> bool:
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
            self.check_ns = self._origin_ns + (self._applied + 2) * EPOCH_TICK_NS
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
            if not self._catch_up():
                with self._lock:
                    if not self._engines:  # every engine is gone: stop until the next one
                        self._thread = None
                        self.check_ns = sys.maxsize
                        return

    def after_fork_in_child(self) -> None:
        # The parent's thread does not exist here, and may have held the lock. The
        # epochs came along with the engines' memory, so the count goes on from there.
        self._lock = threading.Lock()
        self._thread = None
        if self._engines:
            self._start()


def _choose() -> Ticker:
    wanted = os.environ.get("BRIDGE_TICKER", "").strip().lower()
    if wanted not in ("", "native", "thread"):
        log.warning("BRIDGE_TICKER=%s is neither native nor thread: using the default", wanted)
    if wanted != "thread":
        native = _NativeTicker.load()
        if native is not None:
            return native
        if wanted == "native":
            log.warning("BRIDGE_TICKER=native: bridge was installed without it; a thread ticks")
    return _ThreadTicker()


ticker: Ticker = _choose()
"""The process's ticker."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: ticker.after_fork_in_child())
