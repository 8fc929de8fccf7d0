"""Many threads on one module: every answer right, a bounded pool, instances made ahead."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest

import bridge
from bridge.config import RuntimeConfig

QUOTE = "pricing.v1.Pricing/Quote"


def test_8_threads_x_1000_calls_all_correct(pricing_wasm: Path, pricing_pb2: ModuleType) -> None:
    guest = bridge.load(pricing_wasm, RuntimeConfig(cache_dir=None, pool_size=4))

    def worker(thread: int) -> int:
        for i in range(1000):
            quantity = 1 + (thread * 1000 + i) % 50
            request = pricing_pb2.QuoteRequest(
                sku=f"sku {thread}", quantity=quantity, unit_price_cents=100 + thread
            )
            reply = pricing_pb2.QuoteResponse.FromString(
                guest.call(QUOTE, request.SerializeToString())
            )
            subtotal = (100 + thread) * quantity
            discount = subtotal // 10 if quantity >= 10 else 0
            assert reply.sku == f"SKU-{thread}"
            assert (reply.subtotal_cents, reply.total_cents) == (subtotal, subtotal - discount)
        return thread

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(worker, range(8))) == list(range(8))
    stats = guest.stats()
    assert 1 <= stats["instances"] <= 4
    guest.close()


def test_instances_are_made_ahead_of_need(pricing_wasm: Path) -> None:
    guest = bridge.load(pricing_wasm, RuntimeConfig(cache_dir=None, pool_size=3, pool_min_idle=2))
    deadline = time.monotonic() + 30
    while guest.stats()["idle"] < 2:  # the filler thread makes the second one
        assert time.monotonic() < deadline, guest.stats()
        time.sleep(0.01)
    assert guest.stats()["instances"] == 2
    guest.close()


def test_a_busy_pool_makes_callers_wait_then_gives_up(faulty_go_wasm: Path) -> None:
    guest = bridge.load(
        faulty_go_wasm,
        RuntimeConfig(cache_dir=None, pool_size=1, pool_wait_s=0.2, call_timeout_s=3),
    )
    looping = threading.Thread(target=_swallow, args=(guest, "faulty.v1.Faulty/Loop"))
    looping.start()
    deadline = time.monotonic() + 30
    while guest.stats()["idle"]:  # until the loop holds the only instance
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(bridge.PoolExhausted, match="stayed busy for 0.2 s"):
        guest.call("faulty.v1.Faulty/Echo", b"x")
    looping.join(timeout=30)
    # once the loop timed out, its instance is replaced and calls flow again
    assert guest.call("faulty.v1.Faulty/Echo", b"x", timeout_s=5) == b"x"
    guest.close()


def test_closed_module_refuses_calls(pricing_wasm: Path) -> None:
    guest = bridge.load(pricing_wasm, RuntimeConfig(cache_dir=None))
    guest.close()
    guest.close()
    with pytest.raises(ValueError, match="closed"):
        guest.call(QUOTE, b"")


def _swallow(guest: bridge.GuestModule, method: str) -> None:
    with contextlib.suppress(bridge.DeadlineExceeded):
        guest.call(method, b"")
