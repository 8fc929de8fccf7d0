"""100,000 calls on one instance: the guest's memory stays flat after warm-up.

A protobuf-over-wasm plugin system is known to leak guest buffers under load (one
malloc per call that nobody frees); with the request buffer reused and responses
borrowed, ours must not grow at all.
"""

from __future__ import annotations

from pathlib import Path

import bridge
from bridge.config import RuntimeConfig

CALLS = 100_000
# Go's collector paces its heap up to a steady size over the first ~40k calls here
# (3 MiB to 8 MiB for Echo); after that nothing may grow.
WARM_UP = 50_000


def test_memory_is_flat_over_100k_calls(faulty_wasm: Path) -> None:
    with bridge.load(faulty_wasm, RuntimeConfig(cache_dir=None, pool_size=1)) as guest:
        request = bytes(range(256)) * 2
        for i in range(WARM_UP):  # the same mix of sizes as below
            guest.call("faulty.v1.Faulty/Echo", request[: 1 + i % 500])
        warm = guest.stats()
        for i in range(CALLS):
            payload = request[: 1 + i % 500]
            assert guest.call("faulty.v1.Faulty/Echo", payload) == payload
        after = guest.stats()
    assert after["instances"] == warm["instances"] == 1  # one instance did all the work
    assert after["max_memory_bytes"] == warm["max_memory_bytes"]


def test_pricing_memory_is_flat(pricing_wasm: Path) -> None:
    request = b"\x0a\x07apple 1\x10\x03\x18\xfa\x01"
    with bridge.load(pricing_wasm, RuntimeConfig(cache_dir=None, pool_size=1)) as guest:
        expected = guest.call("pricing.v1.Pricing/Quote", request)
        for _ in range(WARM_UP):
            guest.call("pricing.v1.Pricing/Quote", request)
        warm = guest.stats()["max_memory_bytes"]
        for _ in range(CALLS):
            assert guest.call("pricing.v1.Pricing/Quote", request) == expected
        assert guest.stats()["max_memory_bytes"] == warm
