"""Health tells the truth and always answers: SERVING while every worker is inside a
guest, NOT_SERVING while a module cannot make instances, SERVING again once it can."""

from __future__ import annotations

import resource
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from tests.sidecar.conftest import (
    health_status,
    reflected_services,
    serving,
    start_serve,
    wait_until,
)

ANSWER, HOLD, TRAP = "/sidecar.v1.Probe/Answer", "/sidecar.v1.Probe/Hold", "/sidecar.v1.Probe/Trap"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def call(channel: grpc.Channel, method: str, request: bytes, timeout: float = 10.0) -> bytes:
    stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    return stub(request, timeout=timeout)


def test_health_and_reflection_answer_while_every_worker_is_in_a_guest(
    probe_wasm: Path, tmp_path: Path
) -> None:
    served = start_serve(str(probe_wasm), "--workers", "2", "--no-watch", folder=tmp_path)
    hold_until = str(time.time_ns() + 60 * 1_000_000_000).encode()  # until the sidecar dies
    results: list[bytes | BaseException] = []

    def client() -> None:
        with grpc.insecure_channel(served.target) as channel:
            try:
                results.append(call(channel, HOLD, hold_until, timeout=90))
            except BaseException as exc:  # noqa: BLE001 - the sidecar is killed under it
                results.append(exc)

    threads = [threading.Thread(target=client) for _ in range(3)]  # one more waits
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: served.stderr().count("holding until") == 2, "2 workers in a guest")
        with grpc.insecure_channel(served.target) as channel:
            # Each bounded by HEALTH_TIMEOUT_S: a probe would time out and fail the same.
            assert health_status(channel) == SERVING
            assert health_status(channel, "sidecar.v1.Probe") == SERVING
            assert "sidecar.v1.Probe" in reflected_services(channel)
        assert results == []  # and the guests still hold every worker
    finally:
        served.stop(signal.SIGKILL)
        for thread in threads:
            thread.join()


def test_health_is_not_serving_while_no_instance_can_be_made(
    probe_wasm: Path, tmp_path: Path
) -> None:
    with (
        serving(
            str(probe_wasm), "--workers", "2", "--no-watch",
            folder=tmp_path, env={"BRIDGE_POOL_WAIT_S": "1"},
        ) as served,
        grpc.insecure_channel(served.target) as channel,
    ):  # fmt: skip
        assert health_status(channel) == SERVING
        assert call(channel, ANSWER, b"") == b"one"
        pid = served.process.pid
        limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        # Descriptors 0-2 are open: the sidecar can open no new one (an instance needs
        # pipes for the guest's output), while the connection it has goes on working.
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, limits[1]))
        try:
            for _ in range(3):  # each trap costs an instance that cannot be replaced
                with pytest.raises(grpc.RpcError):
                    call(channel, TRAP, b"")
            wait_until(lambda: health_status(channel) == NOT_SERVING, "NOT_SERVING")
            assert health_status(channel, "sidecar.v1.Probe") == NOT_SERVING
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
        wait_until(lambda: health_status(channel) == SERVING, "SERVING again")
        assert health_status(channel, "sidecar.v1.Probe") == SERVING
        assert call(channel, ANSWER, b"") == b"one"
        assert "cannot make instances: NOT_SERVING" in served.stderr()
