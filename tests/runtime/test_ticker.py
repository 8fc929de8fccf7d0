"""Deadlines hold beside CPU-busy Python threads.

The epoch ticker is a Python thread: after each sleep it waits for the GIL, which busy
threads hold a switch interval (5 ms) or more at a time. The old ticker advanced the epoch
by one tick per run, so each wait slowed the clock down for good (a 1 s deadline fired
after 3.7 s beside one busy thread, after 7 to 12 s beside three); the epoch now catches
up with the monotonic clock, so the guest is stopped at its deadline plus one wait at most.

What the caller sees adds its own wait for the GIL on the way back, which CPython does not
bound (with three busy threads: a median of 1.13 s, one call in 20 past 1.6 s, on a
shared 2-core machine). So the guest's own running time is measured as the CPU time of
the calling thread, which runs the guest, and the wall clock only with a generous bound.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime import limits

LOOP = "faulty.v1.Faulty/Loop"
DEADLINE_S = 1.0
# The guest ran no longer than this (CPU time of the thread that ran it).
GUEST_BOUND_S = DEADLINE_S + 0.25
# The caller had its answer within this; the old ticker: 3.7 s and more.
WALL_BOUND_S = 3.0


@pytest.fixture
def busy_threads(request: pytest.FixtureRequest) -> Iterator[int]:
    """`request.param` pure-Python threads that never release the GIL by themselves."""
    count: int = request.param
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    threads = [threading.Thread(target=spin, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield count
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def _elapsed(guest: bridge.GuestModule, timeout_s: float | None) -> float:
    return _timed(guest, timeout_s)[0]


def _timed(guest: bridge.GuestModule, timeout_s: float | None) -> tuple[float, float]:
    """Wall-clock and CPU time of a call that loops until its deadline."""
    started, cpu = time.monotonic(), time.thread_time()
    with pytest.raises(bridge.DeadlineExceeded):
        guest.call(LOOP, b"", timeout_s=timeout_s)
    return time.monotonic() - started, time.thread_time() - cpu


@pytest.mark.parametrize("busy_threads", [0, 1, 3], indirect=True)
@pytest.mark.parametrize("explicit", [False, True], ids=["config", "per-call"])
def test_a_deadline_fires_on_time_beside_busy_threads(
    faulty_go_wasm: Path, busy_threads: int, explicit: bool
) -> None:
    config = RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=DEADLINE_S)
    with bridge.load(faulty_go_wasm, config) as guest:
        times = [_timed(guest, DEADLINE_S if explicit else None) for _ in range(3)]
    walls, guest_cpu = [wall for wall, _ in times], [cpu for _, cpu in times]
    assert min(walls) >= DEADLINE_S, f"a deadline fired early: {times}"
    assert max(guest_cpu) < GUEST_BOUND_S, f"{busy_threads} busy threads: {times}"
    assert max(walls) < WALL_BOUND_S, f"{busy_threads} busy threads: {times}"


@pytest.mark.parametrize("explicit", [False, True], ids=["config", "per-call"])
def test_a_deadline_armed_while_the_ticker_lags_is_not_early(
    faulty_go_wasm: Path, explicit: bool
) -> None:
    """The epoch lags the clock while the ticker waits for the GIL; a deadline armed on
    that epoch would fire early once the ticker catches up. Callers catch up first."""
    config = RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=0.1)
    with bridge.load(faulty_go_wasm, config) as guest:
        assert guest.call("faulty.v1.Faulty/Echo", b"warm") == b"warm"
        previous = sys.getswitchinterval()
        sys.setswitchinterval(10.0)  # this thread keeps the GIL: the ticker cannot run
        try:
            started = time.monotonic_ns()
            while time.monotonic_ns() - started < 300_000_000:  # 150 ticks
                pass
            assert time.monotonic_ns() >= limits.ticker.late_ns, "the epoch should lag"
            elapsed = _elapsed(guest, 0.1 if explicit else None)
        finally:
            sys.setswitchinterval(previous)
    assert elapsed >= 0.1, f"fired after {elapsed:.3f} s"
