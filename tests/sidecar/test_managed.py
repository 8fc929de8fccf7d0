"""The managed sidecar, `bridge.connect`, sidecar mode on it, and round-robin scale-out."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bridge
from bridge.config import BridgeConfig, Mode, RouteConfig, SidecarConfig
from bridge.errors import SidecarError
from bridge.routing import Router
from bridge.sidecar import ManagedSidecar, connect
from bridge.sidecar.process import first_line
from tests.conftest import ROOT
from tests.sidecar.conftest import start_serve, wait_until

NORMALIZE = "pricing.v1.Pricing/NormalizeSku"


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def wait_gone(pid: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_typed_stubs_restarts_and_stopping(
    go_pricing_wasm: Path, pricing_pb2: ModuleType, pricing_grpc: ModuleType
) -> None:
    sidecar = ManagedSidecar([go_pricing_wasm]).start()
    try:
        pricing: Any = connect(
            sidecar.target,
            pricing_grpc.PricingStub,
            wait_for_ready=True,
            retry=["pricing.v1.Pricing"],  # idempotent: a call the kill cut is sent again
        )
        request = pricing_pb2.NormalizeSkuRequest(sku="pear 2")
        assert pricing.NormalizeSku(request).sku == "PEAR-2"
        assert connect(sidecar.target).channel is connect(sidecar.target).channel  # shared
        assert sidecar.process is not None
        first = sidecar.process.pid
        os.kill(first, signal.SIGKILL)  # it dies: it is restarted, calls go on
        for _ in range(50):
            assert pricing.NormalizeSku(request).sku == "PEAR-2"
        assert sidecar.restarts == 1 and sidecar.process.pid != first
        group = sidecar.process.pid
    finally:
        sidecar.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)  # the whole process group is gone
    assert not sidecar.socket.exists()


def test_no_orphan_when_the_parent_is_sigkilled(go_pricing_wasm: Path, tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, time
                from bridge.sidecar import ManagedSidecar
                sidecar = ManagedSidecar([{str(go_pricing_wasm)!r}]).start()
                print(sidecar.process.pid, flush=True)
                time.sleep(600)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    assert wait_gone(child), "the sidecar outlived its SIGKILLed parent"


def fake_sidecar(line: str, pids: Path) -> list[str]:
    """A command that starts a child of its own (`sleep`), notes both pids in `pids`,
    writes `line` as its handshake and never serves."""
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"with open({str(pids)!r}, 'a') as f: f.write(f'{{os.getpid()}} {{child.pid}}\\n')\n"
        "fd = int(sys.argv[sys.argv.index('--handshake-fd') + 1])\n"
        "print('anything on stdout is ignored', flush=True)\n"
        f"os.write(fd, {line!r}.encode() + b'\\n')\n"
        "time.sleep(300)\n"
    )
    return [sys.executable, "-c", script]


def noted_pids(pids: Path) -> list[int]:
    return [int(pid) for pid in pids.read_text().split()] if pids.exists() else []


def kill_all(pids: list[int]) -> None:
    """Clean up after a failed test: nothing it started may outlive it."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_the_handshake_is_checked_and_a_failed_start_leaves_nothing(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    try:
        for line, message in [
            ("bridge|2|1|unix|/x.sock|grpc", "speaks handshake version 2, this bridge 1"),
            ("bridge|1|7|unix|/x.sock|grpc", "runs bridge ABI v7, this bridge v1"),
            ("hello", "is not a bridge handshake: 'hello'"),
            # A good handshake, but nothing ever answers health on that socket.
            (f"bridge|1|1|unix|{tmp_path / 'none.sock'}|grpc", "never reported SERVING"),
        ]:
            pids.unlink(missing_ok=True)
            sidecar = ManagedSidecar(
                [], command=fake_sidecar(line, pids), restart=False, start_timeout_s=3
            )
            with pytest.raises(SidecarError, match=message):
                sidecar.start()
            # Gone before stop(): the child, and the process the child started.
            assert noted_pids(pids) and all(wait_gone(pid, 5) for pid in noted_pids(pids))
            sidecar.stop()
    finally:
        kill_all(noted_pids(pids))


def test_a_restart_that_fails_leaves_nothing(go_pricing_wasm: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = tmp_path / "sidecar.py"
    sidecar = ManagedSidecar([], command=[sys.executable, str(script)])
    # The first run is a real sidecar on the managed socket; every later one (a restart)
    # fails its start, as fake_sidecar does.
    first_run = textwrap.dedent(f"""
        import os, sys
        if not os.path.exists({str(pids)!r}):
            with open({str(pids)!r}, "w") as f:
                f.write(f"{{os.getpid()}} ")
            os.execv(sys.executable, [
                sys.executable, "-m", "bridge", "serve", {str(go_pricing_wasm)!r},
                "--socket", {str(sidecar.socket)!r}, "--no-watch", *sys.argv[1:],
            ])
    """)
    script.write_text(first_run + fake_sidecar("not a handshake", pids)[2])
    try:
        sidecar.start()
        assert sidecar.process is not None
        os.kill(sidecar.process.pid, signal.SIGKILL)
        wait_until(lambda: sidecar.restarts >= 1, "a failed restart", timeout_s=60)
        first, failed, its_child = noted_pids(pids)[:3]
        assert not alive(first)
        assert wait_gone(failed, 5) and wait_gone(its_child, 5)
    finally:
        sidecar.stop()
        kill_all(noted_pids(pids))


def test_first_line_reads_a_descriptor_past_select_s_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    high = 1024 + 100  # select() refuses any descriptor >= 1024 (FD_SETSIZE)
    if soft <= high:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    descriptors: list[int] = []
    try:
        for i, data in enumerate([b"bridge|1|1|unix|/x.sock|grpc\nmore", b"", None]):
            read, write = os.pipe()
            os.dup2(read, high + i)
            os.close(read)
            descriptors += [high + i, write]
            if data is not None:
                os.write(write, data)
                os.close(write)
                descriptors.remove(write)
        assert first_line(high, 5) == "bridge|1|1|unix|/x.sock|grpc"
        assert first_line(high + 1, 5) is None  # the writer closed it without a line
        with pytest.raises(TimeoutError):
            first_line(high + 2, 0.2)  # the writer holds it open and says nothing
    finally:
        for fd in descriptors:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_sidecar_that_cannot_start_says_why(tmp_path: Path) -> None:
    sidecar = ManagedSidecar([tmp_path / "missing.wasm"], restart=False)
    with pytest.raises(SidecarError) as failed:
        sidecar.start()
    message = str(failed.value)
    assert "the sidecar exited (status 1) before it was ready" in message
    assert "missing.wasm" in message
    sidecar.stop()


def test_sidecar_mode_on_a_managed_sidecar(go_pricing_wasm: Path, pricing_pb2: ModuleType) -> None:
    config = BridgeConfig(
        services={"pricing.v1.Pricing": go_pricing_wasm},
        sidecar=SidecarConfig(managed=True),
        routes={NORMALIZE: RouteConfig(mode=Mode("sidecar"))},
    )
    router = Router(config, name="managed")
    try:

        @router.route(NORMALIZE)
        def normalize_sku(sku: str) -> str:
            return "python"

        assert normalize_sku("pear 2") == "PEAR-2"
        [row] = router.stats()
        assert (row.mode, row.side, row.calls) == ("sidecar", "sidecar", 1)
    finally:
        router.close()


def test_round_robin_over_two_sidecars_one_killed_mid_run(
    faulty_go_wasm: Path, faulty_rust_wasm: Path, tmp_path: Path
) -> None:
    # Two sidecars of the same service; their panics tell them apart (Go repeats the
    # request, Rust counts its bytes).
    go = start_serve(str(faulty_go_wasm), "--listen", "127.0.0.1:0", folder=tmp_path)
    try:
        rust = start_serve(str(faulty_rust_wasm), "--listen", "127.0.0.1:0", folder=tmp_path)
    except BaseException:
        go.stop()
        raise
    target = f"ipv4:{go.handshake.address},{rust.handshake.address}"
    # its own channel, closed below; Echo is safe to run twice: retried
    sidecars = bridge.Connection(target, timeout_s=5, retry=["faulty.v1.Faulty/Echo"])
    try:

        def who() -> str:
            try:
                sidecars.call("faulty.v1.Faulty/Panic", b"xyz")
            except bridge.GuestTrap as trap:
                return "go" if "boom: xyz" in str(trap) else "rust"
            raise AssertionError("Panic answered")

        seen = {who() for _ in range(20)}
        assert seen == {"go", "rust"}, seen  # round_robin: both take calls

        failures: list[BaseException] = []
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                try:
                    assert sidecars.call("faulty.v1.Faulty/Echo", b"hi") == b"hi"
                except BaseException as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        go.process.kill()  # mid-run
        go.process.wait()
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        assert failures == []
        assert {who() for _ in range(10)} == {"rust"}
    finally:
        sidecars.close()
        go.stop()
        assert rust.stop() == 0


def test_restart_backoff_grows_while_dying_young_and_starts_over_after_a_long_life() -> None:
    from bridge.sidecar.process import RestartBackoff

    backoff = RestartBackoff()
    young = [backoff.after(1.0) for _ in range(7)]
    assert young == [0.2, 0.5, 1.0, 2.0, 5.0, 5.0, 5.0]
    assert backoff.after(RestartBackoff.YOUNG_S) == 0.2  # lived long: not 5 s
    assert backoff.after(0.5) == 0.5
