"""`bridge serve --processes N`: N real worker processes behind one address, reached by
real grpcio clients; reload, drain and restarts across all of them. Which worker served
a call is read from its log lines (`worker I (pid P)`), where the guest's own output
("holding until ...") lands."""

from __future__ import annotations

import collections
import functools
import os
import re
import shutil
import signal
import stat
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from bridge.errors import SidecarUnavailable
from bridge.sidecar import Connection, ManagedSidecar, connect
from bridge.sidecar.handshake import worker_socket
from tests.sidecar.conftest import (
    Served,
    deploy,
    health_status,
    serving,
    start_serve,
    wait_until,
)

ANSWER, HOLD = "/sidecar.v1.Probe/Answer", "/sidecar.v1.Probe/Hold"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_HOLDING = re.compile(r"worker (\d+) \(pid (\d+)\) bridge\.guest: [^:]*: holding until (\d+)")
_RELOADED = re.compile(r"worker (\d+) \(pid (\d+)\) bridge\.sidecar: reloaded ")
_WORKER_PIDS = re.compile(r"(\d+) workers serve at .*: ((?:pid \d+(?:, )?)+)")


def call(channel: grpc.Channel, method: str, request: bytes, timeout: float = 10.0) -> bytes:
    stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    return stub(request, timeout=timeout)


def now() -> bytes:
    """A Hold request that does not hold: it logs "holding until" and answers at once."""
    return str(time.time_ns()).encode()


def served_by(served: Served) -> collections.Counter[int]:
    """Calls of Hold per worker pid, from the workers' log lines."""
    return collections.Counter(int(pid) for _, pid, _ in _HOLDING.findall(served.stderr()))


def workers_of(served: Served) -> dict[int, set[int]]:
    """The worker pids that served each Hold request (by its deadline, in the log)."""
    found: dict[int, set[int]] = collections.defaultdict(set)
    for _, pid, deadline in _HOLDING.findall(served.stderr()):
        found[int(deadline)].add(int(pid))
    return found


def from_threads(
    connection: Connection, threads: int, calls: int, *, first_may_fail: bool = False
) -> None:
    """`calls` Hold calls from each of `threads` threads; thread k's requests are the
    deadline k + 1 (long past: they answer at once), so the log says who served it.
    With `first_may_fail`, each thread's first call may be SidecarUnavailable."""
    failures: list[BaseException] = []

    def client(k: int) -> None:
        try:
            for index in range(calls):
                try:
                    assert connection.call(HOLD[1:], str(k + 1).encode()) == b"one"
                except SidecarUnavailable:
                    if not (first_may_fail and index == 0):
                        raise
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []


def reloaded_pids(served: Served) -> collections.Counter[int]:
    return collections.Counter(int(pid) for _, pid in _RELOADED.findall(served.stderr()))


def worker_pids(served: Served) -> list[int]:
    """The workers' pids, as the supervisor logged them when they were all ready."""
    found = _WORKER_PIDS.search(served.stderr())
    assert found is not None, served.stderr()
    return [int(pid) for pid in re.findall(r"pid (\d+)", found.group(2))]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of a reaped-late child counts as gone
    with open(f"/proc/{pid}/stat") as stat_file:
        return stat_file.read().split(") ", 1)[1][0] != "Z"


def test_calls_reach_every_worker_over_unix_sockets(probe_wasm: Path, tmp_path: Path) -> None:
    sock = tmp_path / "run" / "probe.sock"
    second = worker_socket(sock, 1)
    with serving(
        str(probe_wasm), "--socket", str(sock), "--processes", "2", "--no-watch", folder=tmp_path
    ) as served:
        assert served.handshake.network == "unix"
        assert served.handshake.address == f"{sock},{second}"
        for path in (sock, second):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            # health answers from every worker, each on its own socket
            with grpc.insecure_channel(f"unix:{path}") as channel:
                assert health_status(channel) == SERVING
                assert health_status(channel, "sidecar.v1.Probe") == SERVING
        pids = worker_pids(served)
        assert len(set(pids)) == 2 and os.getpid() not in pids

        # bridge's own client, given the first socket alone, finds the other one; each
        # calling thread keeps to one worker, and the threads are spread over both.
        with connect(str(sock), timeout_s=10) as connection:
            assert connection.target == f"unix:{sock},{second}"
            from_threads(connection, threads=4, calls=5)
        # (the guest's output is logged by a thread of its own: it may come a little later)
        wait_until(lambda: sum(served_by(served).values()) == 20, "20 calls logged")
        by_thread = workers_of(served)
        assert all(len(by_thread[k + 1]) == 1 for k in range(4)), by_thread
        assert set().union(*by_thread.values()) == set(pids), (by_thread, pids)
        # gRPC's round_robin over the ready line's target, with a channel of grpcio's own
        before = served_by(served)
        options = [("grpc.lb_policy_name", "round_robin")]
        with grpc.insecure_channel(served.target, options=options) as channel:
            for _ in range(10):
                assert call(channel, HOLD, now()) == b"one"
        wait_until(lambda: sum(served_by(served).values()) == 30, "30 calls logged")
        after = served_by(served)
        assert all(after[pid] > before[pid] for pid in pids), (before, after)
    assert not sock.exists() and not second.exists()  # each worker removed its own


def test_calls_reach_every_worker_over_tcp(probe_wasm: Path, tmp_path: Path) -> None:
    with serving(
        str(probe_wasm), "--listen", "127.0.0.1:0", "--processes", "2", "--no-watch",
        folder=tmp_path,
    ) as served:  # fmt: skip
        assert served.handshake.network == "tcp"
        port = int(served.handshake.address.rpartition(":")[2])
        assert port > 0
        pids = worker_pids(served)
        # The kernel spreads connections (not calls) over the workers: a connection per
        # channel (a subchannel pool of its own), 24 of them.
        options = [("grpc.use_local_subchannel_pool", 1)]
        channels = [grpc.insecure_channel(served.target, options=options) for _ in range(24)]
        try:
            for channel in channels:
                assert call(channel, HOLD, now()) == b"one"
                assert health_status(channel) == SERVING
        finally:
            for channel in channels:
                channel.close()
        wait_until(lambda: sum(served_by(served).values()) == 24, "24 calls logged")
        counts = served_by(served)
        assert set(counts) == set(pids), (counts, pids)
        # The port is the workers': another sidecar cannot take it, nor share it.
        refused = start_failure(str(probe_wasm), "--listen", f"127.0.0.1:{port}", tmp_path)
        assert "cannot listen on 127.0.0.1:" in refused


def start_failure(module: str, where: str, address: str, folder: Path) -> str:
    """The last line of a `bridge serve` that must not start."""
    import subprocess
    import sys

    ran = subprocess.run(
        [sys.executable, "-m", "bridge", "serve", module, where, address, "--no-watch"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
    )
    assert ran.returncode == 1, (ran.stdout, ran.stderr)
    return ran.stderr.strip().splitlines()[-1]


def test_a_reload_reaches_every_worker(
    probe_wasm: Path, probe_two_wasm: Path, tmp_path: Path
) -> None:
    module = tmp_path / "probe.wasm"
    shutil.copy(probe_wasm, module)
    sock = tmp_path / "p.sock"
    with serving(str(module), "--socket", str(sock), "--processes", "2", folder=tmp_path) as served:
        pids = worker_pids(served)
        round_robin = [("grpc.lb_policy_name", "round_robin")]
        with (
            connect(str(sock), timeout_s=10) as connection,
            grpc.insecure_channel(served.target, options=round_robin) as raw,
        ):
            # A changed file: every worker's watcher reloads it.
            deploy(probe_two_wasm, module)
            wait_until(
                lambda: all(reloaded_pids(served)[pid] >= 1 for pid in pids), "reload by both"
            )
            assert {connection.call(ANSWER[1:], b"") for _ in range(10)} == {b"two"}
            assert {call(raw, ANSWER, b"") for _ in range(10)} == {b"two"}
            # SIGHUP to the supervisor: sent on to every worker.
            past = reloaded_pids(served)
            shutil.copy(probe_wasm, tmp_path / "aside.wasm")
            os.replace(tmp_path / "aside.wasm", module)
            os.kill(served.process.pid, signal.SIGHUP)
            wait_until(
                lambda: all(reloaded_pids(served)[pid] > past[pid] for pid in pids),
                "a reload of every worker after SIGHUP",
            )
            wait_until(
                lambda: {call(raw, ANSWER, b"") for _ in range(6)} == {b"one"},
                "the first build from both workers",
            )
        assert "reload: SIGHUP sent to 2 workers" in served.stderr()


def _answers(channel: grpc.Channel) -> bool:
    return bool(call(channel, ANSWER, b"") == b"one")


def test_sigterm_drains_the_calls_in_flight_on_every_worker(
    probe_wasm: Path, tmp_path: Path
) -> None:
    sock = tmp_path / "d.sock"
    served = start_serve(
        str(probe_wasm), "--socket", str(sock), "--processes", "2", "--workers", "4",
        "--grace", "30", "--no-watch", folder=tmp_path,
        env={"BRIDGE_CALL_TIMEOUT_S": "60"},
    )  # fmt: skip
    # Long enough for 8 calls to be seen in flight on a loaded machine (the full suite).
    hold_until = time.time_ns() + 20 * 1_000_000_000
    results: list[bytes | BaseException] = []
    # A channel to each worker's socket, 4 calls on each: every worker has 4 in flight
    # (round_robin would put them all on the first subchannel that is ready).
    channels = [grpc.insecure_channel(f"unix:{path}") for path in (sock, worker_socket(sock, 1))]

    def client(channel: grpc.Channel) -> None:
        try:
            results.append(call(channel, HOLD, str(hold_until).encode(), timeout=60))
        except BaseException as exc:  # noqa: BLE001 - checked below
            results.append(exc)

    threads = [threading.Thread(target=client, args=(channels[i % 2],)) for i in range(8)]
    try:
        for channel in channels:
            wait_until(functools.partial(_answers, channel), "a ready channel")
        for thread in threads:
            thread.start()
        wait_until(lambda: sum(served_by(served).values()) == 8, "8 calls in flight")
        pids = worker_pids(served)
        assert set(served_by(served)) == set(pids), served_by(served)
        if time.time_ns() >= hold_until or results:
            pytest.fail(f"the calls were not all in flight in time: {results}")
        served.process.send_signal(signal.SIGTERM)
        wait_until(lambda: served.stderr().count("calls in flight get up to") == 2, "drains")
        # Draining: every worker still answers, NOT_SERVING, and takes no new call.
        for path in (sock, worker_socket(sock, 1)):
            with grpc.insecure_channel(f"unix:{path}") as one:
                assert health_status(one) == NOT_SERVING
                with pytest.raises(grpc.RpcError) as refused:
                    call(one, ANSWER, b"")
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert served.stop(signal.SIGTERM, timeout_s=60) == 0, served.stderr()
    finally:
        served.stop(signal.SIGKILL)
        for thread in threads:
            thread.join()
        for channel in channels:
            channel.close()
    assert results == [b"one"] * 8, results
    drained = re.findall(r"stopping: (\d+) calls in flight get up to 30 s", served.stderr())
    assert sorted(map(int, drained)) == [4, 4], served.stderr()
    assert not any(alive(pid) for pid in pids)


def test_a_killed_worker_is_replaced(probe_wasm: Path, tmp_path: Path) -> None:
    sock = tmp_path / "k.sock"
    with serving(
        str(probe_wasm), "--socket", str(sock), "--processes", "2", "--no-watch", folder=tmp_path
    ) as served:
        first, second = worker_pids(served)
        with connect(str(sock), timeout_s=10) as connection:
            from_threads(connection, threads=2, calls=2)  # a thread on each worker
            os.kill(second, signal.SIGKILL)
            wait_until(lambda: not alive(second), "worker 1 gone")
            # Meanwhile the thread of the dead worker is passed over to the other one
            # (a call that races the death, sent before gRPC saw it, fails UNAVAILABLE).
            from_threads(connection, threads=2, calls=3, first_may_fail=True)
        wait_until(lambda: "serves again" in served.stderr(), "the worker restarted")
        assert re.search(rf"worker 1 \(pid {second}\) exited \(status -9\)", served.stderr())
        again = re.findall(r"worker 1 \(pid (\d+)\) serves again", served.stderr())
        fresh = [int(pid) for pid in again]
        assert fresh and fresh[0] != second

        def both_serve() -> bool:
            # A new connection each time: until gRPC has reconnected to the new worker
            # (its backoff is at most 1 s), its threads go to the other one.
            with connect(str(sock), timeout_s=10, wait_for_ready=True) as connection:
                from_threads(connection, threads=2, calls=2)
            time.sleep(0.2)  # the guest's output is logged by a thread of its own
            return {first, fresh[0]} <= set(served_by(served))

        wait_until(both_serve, "calls to both workers")
        with grpc.insecure_channel(f"unix:{worker_socket(sock, 1)}") as channel:
            assert health_status(channel) == SERVING


def test_workers_stop_when_the_supervisor_is_killed(probe_wasm: Path, tmp_path: Path) -> None:
    served = start_serve(
        str(probe_wasm), "--listen", "127.0.0.1:0", "--processes", "2", "--no-watch",
        folder=tmp_path,
    )  # fmt: skip
    try:
        pids = worker_pids(served)
        served.stop(signal.SIGKILL)
        wait_until(lambda: not any(alive(pid) for pid in pids), "the workers gone")
    finally:
        served.stop(signal.SIGKILL)


def test_a_worker_that_cannot_start_fails_the_start_once(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wasm"
    line = start_failure(str(missing), "--processes", "2", tmp_path)
    assert "worker 0" in line and "before it was ready" in line, line
    assert not list(tmp_path.glob("**/*.sock"))


def test_a_managed_sidecar_of_two_processes(probe_wasm: Path) -> None:
    with ManagedSidecar([probe_wasm], workers=2, processes=2).start() as sidecar:
        assert sidecar.target.count(",") == 1
        with connect(sidecar.target, timeout_s=10) as connection:
            assert connection.call(ANSWER[1:], b"") == b"one"
    assert not sidecar.socket.exists()


def test_a_caller_moved_off_a_dead_worker_comes_back(probe_wasm: Path, tmp_path: Path) -> None:
    # Workers close client connections after --connection-age (30 s unless told): a
    # caller whose worker died, and who went on with the other one, reconnects to the
    # restarted worker then, and keeps to it again.
    sock = tmp_path / "b.sock"
    with serving(
        str(probe_wasm), "--socket", str(sock), "--processes", "2", "--no-watch",
        "--connection-age", "2", folder=tmp_path,
    ) as served, connect(str(sock), timeout_s=10) as connection:  # fmt: skip
        first, second = worker_pids(served)

        markers = iter(range(1, 10_000))

        def logged(marker: int) -> bool:
            return marker in workers_of(served)

        def worker_of_this_thread() -> int:
            """The worker that serves this thread's next call."""
            for _ in range(5):
                marker = next(markers)
                try:
                    connection.call(HOLD[1:], str(marker).encode())
                except SidecarUnavailable:
                    continue  # a call that raced a death
                wait_until(functools.partial(logged, marker), f"call {marker} logged")
                [pid] = workers_of(served)[marker]
                return pid
            raise AssertionError("5 calls in a row failed")

        mine = worker_of_this_thread()
        assert worker_of_this_thread() == mine  # it keeps to its worker
        os.kill(mine, signal.SIGKILL)
        wait_until(lambda: not alive(mine), "the worker gone")
        assert worker_of_this_thread() == ({first, second} - {mine}).pop()
        wait_until(lambda: "serves again" in served.stderr(), "the worker restarted")
        [fresh] = [int(p) for p in re.findall(r"\(pid (\d+)\) serves again", served.stderr())]
        wait_until(lambda: worker_of_this_thread() == fresh, "the caller back", timeout_s=20)
