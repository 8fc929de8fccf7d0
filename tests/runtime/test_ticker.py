"""Deadlines hold beside Python threads, whatever they do with the GIL.

The first ticker was a Python thread that advanced the epoch by one tick per run and
needed the GIL for each: a 1 s deadline fired after 3.7 s beside one busy thread, after
7 to 12 s beside three. The epoch now comes from a native thread (bridge/runtime/_ticker.c,
built by the install), so no Python thread, busy or holding the GIL outright, delays a
guest's stop. Without a C compiler at install a Python thread that follows the monotonic
clock stands in, late by one wait for the GIL at most.

What the caller sees adds its own wait for the GIL on the way back, which CPython does not
bound. So the guest's own running time is measured as the CPU time of the calling
thread, which runs the guest, and the wall clock only with a generous bound.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime import limits

LOOP = "faulty.v1.Faulty/Loop"
DEADLINE_S = 1.0
# The guest ran no longer than this (CPU time of the thread that ran it): the guarantee is
# d + 50 ms, with margin for a loaded machine.
GUEST_BOUND_S = DEADLINE_S + 0.1
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


def test_the_native_ticker_is_built_and_loaded() -> None:
    """The install builds _ticker.c wherever there is a C compiler, as here."""
    if not shutil.which(os.environ.get("CC", "cc")):
        pytest.skip("no C compiler: the install built no native ticker")
    assert limits.ticker.kind == "native"


def test_a_deadline_fires_while_another_thread_holds_the_gil(faulty_go_wasm: Path) -> None:
    """A thread that never lets go of the GIL stops no deadline: the guest runs without
    it, and so does the native thread that stops it. (The thread ticker cannot run
    meanwhile: the guest ran for as long as the GIL was held, 0.6 s against 0.1 s.)"""
    if limits.ticker.kind != "native":
        pytest.skip("the thread ticker needs the GIL to tick")
    config = RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=0.1)
    with bridge.load(faulty_go_wasm, config) as guest:
        assert guest.call("faulty.v1.Faulty/Echo", b"warm") == b"warm"
        guest_cpu: list[float] = []
        entered = threading.Event()

        def call() -> None:
            entered.set()
            guest_cpu.append(_timed(guest, None)[1])

        previous = sys.getswitchinterval()
        sys.setswitchinterval(10.0)  # this thread keeps the GIL until it sleeps
        try:
            caller = threading.Thread(target=call)
            caller.start()
            entered.wait()
            started = time.monotonic_ns()
            while time.monotonic_ns() - started < 600_000_000:
                pass
        finally:
            sys.setswitchinterval(previous)
        caller.join(timeout=30)
    assert len(guest_cpu) == 1, "the call did not end"
    assert guest_cpu[0] < 0.1 + 0.05, f"the guest ran {guest_cpu[0]:.3f} s"


IDLE_PACE = """
import sys, time
from pathlib import Path
import bridge
from bridge.config import RuntimeConfig

def wakeups():
    for task in Path("/proc/self/task").iterdir():
        if (task / "comm").read_text().strip() == "bridge-ticker":
            status = (task / "status").read_text().splitlines()
            line = next(l for l in status if l.startswith("voluntary_ctxt_switches"))
            return int(line.split()[1])
    raise SystemExit("no bridge-ticker thread")

def per_half_second():
    before = wakeups(); time.sleep(0.5); return wakeups() - before

def loop_cpu(guest):
    cpu = time.thread_time()
    try:
        guest.call("faulty.v1.Faulty/Loop", b"")
    except bridge.DeadlineExceeded:
        return time.thread_time() - cpu
    raise SystemExit("the loop returned")

with bridge.load(sys.argv[1], RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=0.1)) as g:
    first = loop_cpu(g)
    fast = per_half_second()
    time.sleep(1.2)  # past the timeout and the slack: nothing pending
    idle = per_half_second()
    second = loop_cpu(g)
print(first, fast, idle, second)
"""


def test_the_native_ticker_idles_and_wakes_up_for_the_next_deadline(faulty_go_wasm: Path) -> None:
    """It wakes every 4 ms only while a deadline may be pending, then every 100 ms (what
    an idle process pays); a deadline armed after that is as punctual as the first."""
    if limits.ticker.kind != "native":
        pytest.skip("the thread ticker keeps one pace")
    out = _python(IDLE_PACE, str(faulty_go_wasm))
    first, fast, idle, second = (float(word) for word in out.split())
    assert fast > 40, f"{fast} wake-ups in 0.5 s while a deadline may be pending"
    assert idle < 20, f"{idle} wake-ups in 0.5 s with nothing pending"
    assert first < 0.1 + 0.05 and second < 0.1 + 0.05, (first, second)


def _python(script: str, *args: str, **env: str) -> str:
    """What `script` printed, run by a Python of its own; it must exit with 0."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_dropped_engine_is_let_go() -> None:
    if limits.ticker.kind != "native":
        pytest.skip("the thread ticker holds engines weakly")
    engines = limits.ticker._engines  # type: ignore[attr-defined]
    before = len(engines)
    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    limits.start_ticker(engine)
    assert len(engines) == before + 1
    del engine
    gc.collect()
    assert len(engines) == before


EXIT_WHILE_TICKING = """
import sys, bridge
from bridge.config import RuntimeConfig
with bridge.load(sys.argv[1], RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=5)) as g:
    assert g.call("faulty.v1.Faulty/Echo", b"x") == b"x"
print(__import__("bridge.runtime.limits", fromlist=["x"]).ticker.kind)
"""


def test_the_process_exits_cleanly_while_the_ticker_ticks(faulty_go_wasm: Path) -> None:
    """The native thread keeps ticking while the interpreter frees its engines at exit:
    it holds references of its own, so it never touches a freed engine (a SIGSEGV at
    exit, before it did)."""
    for _ in range(3):
        _python(EXIT_WHILE_TICKING, str(faulty_go_wasm))


THREAD_TICKER = """
import sys, time
import bridge
from bridge.config import RuntimeConfig
from bridge.runtime import limits

assert limits.ticker.kind == "thread", limits.ticker.kind
explicit = sys.argv[2] == "per-call"
with bridge.load(sys.argv[1], RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=0.1)) as g:
    assert g.call("faulty.v1.Faulty/Echo", b"warm") == b"warm"
    sys.setswitchinterval(10.0)  # this thread keeps the GIL: the ticker cannot run
    started = time.monotonic_ns()
    while time.monotonic_ns() - started < 300_000_000:  # 150 ticks
        pass
    assert time.monotonic_ns() >= limits.ticker.check_ns, "the epoch should lag"
    began = time.monotonic()
    try:
        g.call("faulty.v1.Faulty/Loop", b"", timeout_s=0.1 if explicit else None)
    except bridge.DeadlineExceeded:
        print(time.monotonic() - began)
"""


@pytest.mark.parametrize("explicit", ["config", "per-call"])
def test_the_thread_ticker_never_fires_a_deadline_early(
    faulty_go_wasm: Path, explicit: str
) -> None:
    """Where there are no POSIX timers (BRIDGE_TICKER=thread here), a Python thread ticks.
    Its epoch lags the clock while it waits for the GIL, and a deadline armed on that
    epoch would fire early once it catches up: callers catch up first."""
    elapsed = float(_python(THREAD_TICKER, str(faulty_go_wasm), explicit, BRIDGE_TICKER="thread"))
    assert 0.1 <= elapsed < 3.0, f"fired after {elapsed:.3f} s"
