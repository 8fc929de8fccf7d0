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
from tests.sidecar.conftest import serving, start_serve

ECHO, PANIC, LOOP = "/faulty.v1.Faulty/Echo", "/faulty.v1.Faulty/Panic", "/faulty.v1.Faulty/Loop"
LINE_TOTAL = "/shop.v1.Pricing/LineTotal"


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


def test_hot_reload_fails_no_call(go_pricing_wasm: Path, tmp_path: Path) -> None:
    module = tmp_path / "pricing.wasm"
    shutil.copy(go_pricing_wasm, module)
    with (
        serving(str(module), "--workers", "8", folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        failures: list[BaseException] = []
        done = [0]

        def client(n: int) -> None:
            for i in range(1000):
                sku = f"sku {n} {i}"
                try:
                    answer = call(
                        channel,
                        "/pricing.v1.Pricing/NormalizeSku",
                        b"\x0a" + bytes([len(sku)]) + sku.encode(),
                    )
                    assert answer[2:] == sku.upper().replace(" ", "-").encode()
                except BaseException as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)
            done[0] += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        reloads = 0
        while any(t.is_alive() for t in threads):
            if reloads % 2:
                os.kill(served.process.pid, signal.SIGHUP)
            else:  # a new file, as a deploy writes it: write aside, then rename
                aside = tmp_path / "pricing.wasm.new"
                shutil.copy(go_pricing_wasm, aside)
                os.replace(aside, module)
            reloads += 1
            time.sleep(0.3)
        for thread in threads:
            thread.join()
        assert failures == [] and done[0] == 8
        log = served.stderr()
        assert reloads >= 2 and log.count("reloaded") >= 2, log

        module.write_bytes(b"\0asm broken")  # a bad deploy: the old module keeps serving
        deadline = time.monotonic() + 10
        while "did not reload" not in served.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "did not reload, the old module still serves" in served.stderr()
        assert call(channel, "/pricing.v1.Pricing/NormalizeSku", b"\x0a\x01a") == b"\x0a\x01A"


def test_sigterm_lets_calls_in_flight_finish(faulty_go_wasm: Path, tmp_path: Path) -> None:
    served = start_serve(str(faulty_go_wasm), "--workers", "8", "--grace", "20", folder=tmp_path)
    results: list[bytes | BaseException] = []
    started = threading.Barrier(9)

    def client() -> None:
        with grpc.insecure_channel(served.target) as channel:
            started.wait()
            try:
                # Grow: allocate 64 MiB, answer their count: a call that takes a while
                results.append(call(channel, "/faulty.v1.Faulty/Grow", bytes([64]), timeout=60))
            except BaseException as exc:  # noqa: BLE001 - checked below
                results.append(exc)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.05)  # the calls are in flight
    assert served.stop(signal.SIGTERM, timeout_s=60) == 0, served.stderr()
    for thread in threads:
        thread.join()
    assert results == [bytes([64])] * 8, results


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
