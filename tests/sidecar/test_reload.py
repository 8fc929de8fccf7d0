"""A reload is all or nothing: one that does not fit is refused, the old modules serve
on, and the watcher and SIGHUP go on reloading; what is served is what is described."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.sidecar.conftest import (
    Served,
    deploy,
    health_status,
    reflected_services,
    reloads,
    serving,
    wait_reloaded,
    wait_until,
    with_dangling_schema,
)

ANSWER = "/sidecar.v1.Probe/Answer"
NORMALIZE = "/pricing.v1.Pricing/NormalizeSku"
REORDER = "/shop.v1.Stock/ReorderQuantity"
SERVING = health_pb2.HealthCheckResponse.SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


def call(channel: grpc.Channel, method: str, request: bytes) -> bytes:
    stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    return stub(request, timeout=10)


def refusals(served: Served) -> int:
    return served.stderr().count("did not reload, the old module still serves")


def test_a_reload_that_does_not_fit_is_refused_and_the_next_one_is_not(
    probe_wasm: Path,
    probe_two_wasm: Path,
    go_pricing_wasm: Path,
    shop_stock_wasm: Path,
    tmp_path: Path,
) -> None:
    second = tmp_path / "second.wasm"
    shutil.copy(go_pricing_wasm, second)
    dangling = with_dangling_schema(go_pricing_wasm, tmp_path / "dangling.wasm")
    with (
        serving(str(probe_wasm), str(second), "--workers", "2", folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        assert call(channel, NORMALIZE, b"\x0a\x06pear 2") == b"\x0a\x06PEAR-2"

        # Another build of the first module: both would implement sidecar.v1.Probe.
        deploy(probe_two_wasm, second)
        wait_until(lambda: refusals(served) >= 1, "refused reload")
        assert "sidecar.v1.Probe/Answer is implemented by" in served.stderr()
        past = refusals(served)
        os.kill(served.process.pid, signal.SIGHUP)  # the same, asked for by signal
        wait_until(lambda: refusals(served) > past, "refused reload on SIGHUP")
        assert call(channel, ANSWER, b"") == b"one"  # the first module's own build
        assert call(channel, NORMALIZE, b"\x0a\x01a") == b"\x0a\x01A"  # the old second
        assert health_status(channel, "pricing.v1.Pricing") == SERVING

        # A module whose schema does not build: refused before anything is swapped.
        past = refusals(served)
        deploy(dangling, second)
        wait_until(lambda: refusals(served) > past, "refused reload of a broken schema")
        assert ".dangling.v1.Missing" in served.stderr()
        assert call(channel, NORMALIZE, b"\x0a\x01b") == b"\x0a\x01B"

        # The watcher lived through both: a module that fits is picked up.
        past = reloads(served)
        deploy(shop_stock_wasm, second)
        wait_reloaded(served, past)
        # ReorderQuantity{on_hand: 5, daily_demand: 3, lead_time_days: 2, safety_days: 1,
        # pack_size: 6} -> {quantity: 48, reorder_point: 9}
        request = bytes([0x08, 5, 0x18, 3, 0x20, 2, 0x28, 1, 0x30, 6])
        assert call(channel, REORDER, request) == bytes([0x08, 48, 0x10, 9])
        with pytest.raises(grpc.RpcError) as gone:
            call(channel, NORMALIZE, b"\x0a\x01a")
        assert gone.value.code() == grpc.StatusCode.UNIMPLEMENTED

        # Reflection and health describe what is served now, not what was at start.
        services = reflected_services(channel)
        assert {"sidecar.v1.Probe", "shop.v1.Stock"} <= services, services
        assert "pricing.v1.Pricing" not in services
        file = ProtoReflectionDescriptorDatabase(channel).FindFileContainingSymbol("shop.v1.Stock")
        assert file.name == "shop/v1/legacy_shop.proto"
        assert health_status(channel, "shop.v1.Stock") == SERVING
        assert health_status(channel, "pricing.v1.Pricing") == SERVICE_UNKNOWN
        assert health_status(channel) == SERVING
