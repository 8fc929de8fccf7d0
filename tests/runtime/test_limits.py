"""Real Go and Rust guests that loop, hoard memory, panic or grow: each fails one call
with a typed error, and every other call goes on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig

FAULTY = "faulty.v1.Faulty"


def _load(path: Path, **config: object) -> bridge.GuestModule:
    return bridge.load(path, RuntimeConfig(cache_dir=None, **config))  # type: ignore[arg-type]


def test_infinite_loop_times_out_while_other_calls_go_on(faulty_wasm: Path) -> None:
    guest = _load(faulty_wasm, call_timeout_s=0.3, pool_size=2)
    answers: list[bytes] = []
    stop = threading.Event()

    def echo_meanwhile() -> None:
        while not stop.is_set():
            answers.append(guest.call(f"{FAULTY}/Echo", b"ping"))

    worker = threading.Thread(target=echo_meanwhile)
    worker.start()
    try:
        started = time.monotonic()
        with pytest.raises(bridge.DeadlineExceeded) as info:
            guest.call(f"{FAULTY}/Loop", b"")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        worker.join(timeout=30)
    assert info.value.timeout_s == 0.3
    assert "ran past its deadline of 0.3 s" in str(info.value)
    assert elapsed < 10, "the loop was not interrupted"  # liveness, not a benchmark
    assert answers and set(answers) == {b"ping"}
    # the looping instance was replaced; the module keeps answering
    assert guest.call(f"{FAULTY}/Echo", b"after") == b"after"
    guest.close()


def test_per_call_timeout_overrides_the_config(faulty_go_wasm: Path) -> None:
    guest = _load(faulty_go_wasm, call_timeout_s=None)
    with pytest.raises(bridge.DeadlineExceeded, match="deadline of 0.05 s"):
        guest.call(f"{FAULTY}/Loop", b"", timeout_s=0.05)
    guest.close()


def test_unbounded_allocation_hits_the_memory_limit(faulty_wasm: Path) -> None:
    guest = _load(faulty_wasm, memory_limit_bytes=64 << 20)
    with pytest.raises(bridge.MemoryLimitExceeded, match="of its 64 MiB limit"):
        guest.call(f"{FAULTY}/Alloc", b"")
    assert guest.call(f"{FAULTY}/Echo", b"still here") == b"still here"
    guest.close()


def test_memory_limit_is_a_resource_exhausted(faulty_go_wasm: Path) -> None:
    guest = _load(faulty_go_wasm, memory_limit_bytes=48 << 20)
    with pytest.raises(bridge.ResourceExhausted):
        guest.call(f"{FAULTY}/Alloc", b"")
    guest.close()


def test_panic_is_a_trap_and_the_instance_is_replaced(faulty_wasm: Path) -> None:
    guest = _load(faulty_wasm, pool_size=1, pool_min_idle=1)
    with pytest.raises(bridge.GuestTrap) as info:
        guest.call(f"{FAULTY}/Panic", b"x")
    assert info.value.trap_code == "unreachable"
    assert guest.call(f"{FAULTY}/Echo", b"next") == b"next"
    guest.close()


def test_memory_grown_mid_call_is_read_after_the_call(faulty_wasm: Path) -> None:
    guest = _load(faulty_wasm, pool_size=1)
    assert guest.call(f"{FAULTY}/Echo", b"x") == b"x"
    before = guest.stats()["max_memory_bytes"]
    assert guest.call(f"{FAULTY}/Grow", bytes([24])) == bytes([24])
    assert guest.stats()["max_memory_bytes"] >= before + (24 << 20)
    guest.close()


def test_fuel_exhaustion(faulty_rust_wasm: Path) -> None:
    guest = _load(faulty_rust_wasm, fuel=100_000, call_timeout_s=None)
    with pytest.raises(bridge.FuelExhausted, match=r"used up its fuel \(100000\)"):
        guest.call(f"{FAULTY}/Loop", b"")
    assert guest.call(f"{FAULTY}/Echo", b"fuelled") == b"fuelled"
    guest.close()
