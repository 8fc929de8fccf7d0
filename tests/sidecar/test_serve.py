"""`bridge serve`: real gRPC clients against a real sidecar process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from bridge.errors import GuestError, GuestTrap, StatusCode
from bridge.sidecar.client import SidecarBackend
from tests.sidecar.conftest import (
    deploy,
    reloads,
    serving,
    start_serve,
    wait_reloaded,
    wait_until,
)

ECHO, PANIC, LOOP = "/faulty.v1.Faulty/Echo", "/faulty.v1.Faulty/Panic", "/faulty.v1.Faulty/Loop"
LINE_TOTAL = "/shop.v1.Pricing/LineTotal"
ANSWER, HOLD = "/sidecar.v1.Probe/Answer", "/sidecar.v1.Probe/Hold"
# How long the drain test's calls hold: ample for 8 to get inside the guest.
HOLD_S = 8


def call(channel: grpc.Channel, method: str, request: bytes, timeout: float = 10.0) -> bytes:
    stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    return stub(request, timeout=timeout)


def test_serves_with_health_and_reflection(shop_pricing_wasm: Path, tmp_path: Path) -> None:
    sock = tmp_path / "run" / "pricing.sock"
    with serving(str(shop_pricing_wasm), "--socket", str(sock), folder=tmp_path) as served:
        assert served.handshake.network == "unix" and served.handshake.address == str(sock)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        with grpc.insecure_channel(served.target) as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)
            for service in ("", "shop.v1.Pricing"):
                answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            database = ProtoReflectionDescriptorDatabase(channel)
            assert "shop.v1.Pricing" in set(database.get_services())
            file = database.FindFileContainingSymbol("shop.v1.Pricing")
            assert file.name == "shop/v1/legacy_shop.proto"
            # 250 cents x 12 with the 5% bulk discount: LineTotalResponse{total_cents: 2850}
            request = bytes([0x08, 0xFA, 0x01, 0x10, 0x0C])
            assert call(channel, LINE_TOTAL, request) == bytes([0x08, 0xA2, 0x16])
    assert not sock.exists()  # removed on exit


def test_guest_errors_traps_and_malformed_requests(faulty_go_wasm: Path, tmp_path: Path) -> None:
    with (
        serving(str(faulty_go_wasm), "--workers", "4", folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        failures: list[BaseException] = []

        def client(n: int) -> None:
            for i in range(100):
                try:
                    if i % 10 == n % 10:
                        with pytest.raises(grpc.RpcError) as trapped:
                            call(channel, PANIC, b"boom")
                        assert trapped.value.code() == grpc.StatusCode.INTERNAL
                        metadata = {m.key: str(m.value) for m in trapped.value.trailing_metadata()}
                        assert metadata["bridge-error"] == "GuestTrap"
                    else:
                        assert call(channel, ECHO, f"{n}:{i}".encode()) == f"{n}:{i}".encode()
                except BaseException as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        with pytest.raises(grpc.RpcError) as unknown:
            call(channel, "/faulty.v1.Faulty/Nope", b"")
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_malformed_request_body(go_pricing_wasm: Path, tmp_path: Path) -> None:
    with (
        serving(str(go_pricing_wasm), folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        with pytest.raises(grpc.RpcError) as malformed:
            call(channel, "/pricing.v1.Pricing/Quote", b"\xff\xff\xff")
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        normalized = call(channel, "/pricing.v1.Pricing/NormalizeSku", b"\x0a\x06pear 2")
        assert normalized == b"\x0a\x06PEAR-2"  # and it keeps serving


def test_the_clients_deadline_reaches_the_guest(faulty_go_wasm: Path, tmp_path: Path) -> None:
    with (
        serving(str(faulty_go_wasm), folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as late:
            call(channel, LOOP, b"", timeout=0.3)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 5
        assert call(channel, ECHO, b"still here") == b"still here"


def test_the_bridge_client_maps_statuses_back(
    faulty_go_wasm: Path, go_pricing_wasm: Path, tmp_path: Path
) -> None:
    with serving(str(faulty_go_wasm), str(go_pricing_wasm), folder=tmp_path) as served:
        backend = SidecarBackend(served.target)
        try:
            with pytest.raises(GuestTrap):
                backend.call("faulty.v1.Faulty/Panic", b"x")
            with pytest.raises(GuestError) as error:
                backend.call("pricing.v1.Pricing/Lookup", b"\x0a\x04kiwi")
            assert error.value.code == StatusCode.NOT_FOUND
        finally:
            backend.close()


def test_hot_reload_fails_no_call(probe_wasm: Path, probe_two_wasm: Path, tmp_path: Path) -> None:
    # Two builds that answer differently, so a reload is seen to take, not only to pass.
    module = tmp_path / "probe.wasm"
    shutil.copy(probe_wasm, module)
    with (
        serving(str(module), "--workers", "8", folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        failures: list[BaseException] = []
        answers: set[bytes] = set()
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                try:
                    answer = call(channel, ANSWER, b"")
                    assert answer in (b"one", b"two"), answer
                    answers.add(answer)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            for cycle in range(4):  # two, SIGHUP, one, SIGHUP, ...: under load throughout
                past = reloads(served)
                deploy((probe_two_wasm, probe_wasm)[cycle % 2], module)
                wait_reloaded(served, past)
                past = reloads(served)
                os.kill(served.process.pid, signal.SIGHUP)
                wait_reloaded(served, past)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert failures == []
        assert answers == {b"one", b"two"}, answers
        for build, answer in ((probe_two_wasm, b"two"), (probe_wasm, b"one")):
            past = reloads(served)
            deploy(build, module)
            wait_reloaded(served, past)
            assert call(channel, ANSWER, b"") == answer

        module.write_bytes(b"\0asm broken")  # a bad deploy: the old module keeps serving
        wait_until(lambda: "did not reload" in served.stderr(), "refused reload")
        assert "did not reload, the old module still serves" in served.stderr()
        assert call(channel, ANSWER, b"") == b"one"


def test_sigterm_lets_calls_in_flight_finish(probe_wasm: Path, tmp_path: Path) -> None:
    served = start_serve(str(probe_wasm), "--workers", "8", "--grace", "30", folder=tmp_path)
    # Every call holds until this moment, then answers; time enough for all 8 to get in.
    hold_until = time.time_ns() + HOLD_S * 1_000_000_000
    results: list[bytes | BaseException] = []

    def client() -> None:
        with grpc.insecure_channel(served.target) as channel:
            try:
                results.append(call(channel, HOLD, str(hold_until).encode(), timeout=60))
            except BaseException as exc:  # noqa: BLE001 - checked below
                results.append(exc)

    threads = [threading.Thread(target=client) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        # In flight for sure: each call says so from inside the guest, and holds on.
        wait_until(lambda: served.stderr().count("holding until") == 8, "8 calls in flight")
        if time.time_ns() >= hold_until or results:
            pytest.fail(f"the calls were not all in flight within {HOLD_S} s: {results}")
        assert served.stop(signal.SIGTERM, timeout_s=60) == 0, served.stderr()
    finally:
        served.stop(signal.SIGKILL)
        for thread in threads:
            thread.join()
    assert results == [b"one"] * 8, results
    assert "stopping: 8 calls in flight get up to 30 s to finish" in served.stderr()


def test_a_stale_socket_is_replaced_and_a_live_one_is_not_stolen(
    go_pricing_wasm: Path, tmp_path: Path
) -> None:
    sock = tmp_path / "s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # a socket file nobody listens on: what a killed sidecar leaves
    with serving(str(go_pricing_wasm), "--socket", str(sock), folder=tmp_path):
        second = start_serve_failure(str(go_pricing_wasm), "--socket", str(sock), folder=tmp_path)
        assert "a sidecar is already serving on" in second
    regular = tmp_path / "file"
    regular.write_text("")
    assert "is not a socket" in start_serve_failure(
        str(go_pricing_wasm), "--socket", str(regular), folder=tmp_path
    )


def start_serve_failure(*args: str, folder: Path) -> str:
    """The one error line of a `bridge serve` that must not start."""
    import subprocess
    import sys

    ran = subprocess.run(
        [sys.executable, "-m", "bridge", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
    )
    assert ran.returncode == 1, (ran.stdout, ran.stderr)
    assert ran.stdout == "" and "Traceback" not in ran.stderr
    return ran.stderr.strip().splitlines()[-1]


def test_tcp_is_loopback_unless_tls_or_insecure(go_pricing_wasm: Path, tmp_path: Path) -> None:
    with serving(str(go_pricing_wasm), "--listen", "127.0.0.1:0", folder=tmp_path) as served:
        assert served.handshake.network == "tcp"
        with grpc.insecure_channel(served.target) as channel:
            assert call(channel, "/pricing.v1.Pricing/NormalizeSku", b"\x0a\x01a") == b"\x0a\x01A"
    error = start_serve_failure(str(go_pricing_wasm), "--listen", "0.0.0.0:0", folder=tmp_path)
    assert "is not a loopback address: serve it with TLS" in error
    with serving(
        str(go_pricing_wasm), "--listen", "0.0.0.0:0", "--insecure", folder=tmp_path
    ) as served:
        assert "serving plain TCP on 0.0.0.0:0, a non-loopback address" in served.stderr()


def test_mutual_tls_refuses_a_client_without_the_right_certificate(
    go_pricing_wasm: Path, tmp_path: Path
) -> None:
    server_ca, client_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("localhost")
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    client_ca.cert_pem.write_to_path(str(tmp_path / "clients-ca.pem"))
    tls = ["--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key")]
    with serving(
        str(go_pricing_wasm),
        "--listen", "0.0.0.0:0", *tls, "--tls-client-ca", str(tmp_path / "clients-ca.pem"),
        folder=tmp_path,
    ) as served:  # fmt: skip
        port = served.handshake.address.rpartition(":")[2]
        trusted = server_ca.cert_pem.bytes()

        def attempt(certificate: trustme.LeafCert | None) -> bytes:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=trusted,
                private_key=certificate.private_key_pem.bytes() if certificate else None,
                certificate_chain=certificate.cert_chain_pems[0].bytes() if certificate else None,
            )
            with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
                return call(channel, "/pricing.v1.Pricing/NormalizeSku", b"\x0a\x01a", timeout=5)

        assert attempt(client_ca.issue_cert("app")) == b"\x0a\x01A"
        for refused in (None, stranger_ca.issue_cert("app")):
            with pytest.raises(grpc.RpcError) as denied:
                attempt(refused)
            assert denied.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "plain TCP" not in served.stderr()


def test_two_modules_of_one_schema(
    shop_pricing_wasm: Path, shop_stock_wasm: Path, tmp_path: Path
) -> None:
    # The Go guest's glue also exports shop.v1.Stock (answering UNIMPLEMENTED, no server
    # registered); the Rust guest implements it: the sidecar serves the Rust one.
    with (
        serving(str(shop_pricing_wasm), str(shop_stock_wasm), folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        assert call(channel, LINE_TOTAL, bytes([0x08, 0xFA, 0x01, 0x10, 0x0C])) == bytes(
            [0x08, 0xA2, 0x16]
        )
        # ReorderQuantity{on_hand: 5, daily_demand: 3, lead_time_days: 2, safety_days: 1,
        # pack_size: 6} -> {quantity: 48, reorder_point: 9}
        request = bytes([0x08, 5, 0x18, 3, 0x20, 2, 0x28, 1, 0x30, 6])
        assert call(channel, "/shop.v1.Stock/ReorderQuantity", request) == bytes(
            [0x08, 48, 0x10, 9]
        )


def test_a_configmap_style_swap_reloads(go_pricing_wasm: Path, tmp_path: Path) -> None:
    # Kubernetes mounts a ConfigMap as name -> ..data/name, and swaps ..data to a new
    # directory when the ConfigMap changes.
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        shutil.copy(go_pricing_wasm, tmp_path / version / "pricing.wasm")
    (tmp_path / "..data").symlink_to("v1")
    (tmp_path / "pricing.wasm").symlink_to("..data/pricing.wasm")
    with serving(str(tmp_path / "pricing.wasm"), folder=tmp_path) as served:
        os.utime(tmp_path / "v2" / "pricing.wasm", (1, 1))  # another stamp than v1's
        (tmp_path / "..data_tmp").symlink_to("v2")
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
        shutil.rmtree(tmp_path / "v1")
        deadline = time.monotonic() + 15
        while "reloaded" not in served.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "reloaded" in served.stderr(), served.stderr()
        with grpc.insecure_channel(served.target) as channel:
            assert call(channel, "/pricing.v1.Pricing/NormalizeSku", b"\x0a\x01a") == b"\x0a\x01A"


def test_a_slow_first_load_is_logged(
    go_pricing_wasm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """A load that takes longer than SLOW_LOAD_S says it is compiling, before the ready
    line; a quick one (a compile cache hit) says nothing."""
    from bridge.config import RuntimeConfig
    from bridge.sidecar import server

    runtime = RuntimeConfig(cache_dir=tmp_path / "cache")  # empty: the first load compiles
    sidecar = server.Sidecar(server.ServeOptions((go_pricing_wasm,), runtime=runtime))
    caplog.set_level("INFO", logger="bridge.sidecar")
    monkeypatch.setattr(server, "SLOW_LOAD_S", 0.0)
    sidecar._load(go_pricing_wasm, None).retire()
    assert f"loading {go_pricing_wasm}: compiling it" in caplog.text
    caplog.clear()
    monkeypatch.setattr(server, "SLOW_LOAD_S", 60.0)
    sidecar._load(go_pricing_wasm, None).retire()  # a cache hit, well under a minute
    assert "compiling" not in caplog.text
