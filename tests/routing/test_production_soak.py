"""The production soak: routed calls in shadow mode from 8 threads while guests trap, the
sidecar reloads its module, and file descriptors run out for a moment, in this process
and in the sidecar's. Afterwards no call was lost or answered with another's result, the
only candidate errors are the ones each call earned, memory is flat, and the pool and the
sidecar serve again, as health says.

Two routers share the legacy functions' shape: one whose candidate is the in-process Go
guest (Echo and Panic), one whose candidate is a real `bridge serve` of the same guest
(Echo and Panic), whose module file is swapped between the Go and the Rust build.
"""

from __future__ import annotations

import logging
import os
import random
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from bridge.config import Mode, RouteConfig, RuntimeConfig, ShadowConfig, SidecarConfig
from bridge.errors import (
    GuestTrap,
    PoolExhausted,
    ResourceExhausted,
    SidecarCallFailed,
    SidecarUnavailable,
)
from bridge.routing import Mismatch, Router
from tests.routing.conftest import FAULTY, MakeRouter
from tests.sidecar.conftest import (
    Served,
    deploy,
    health_status,
    reloads,
    start_serve,
    wait_reloaded,
    wait_until,
)

pytestmark = [pytest.mark.timeout(300), pytest.mark.toolchain("go"), pytest.mark.toolchain("rust")]

ECHO, PANIC = f"{FAULTY}/Echo", f"{FAULTY}/Panic"
THREADS = 8
WARM_UP_S = 5.0
CHAOS_S = 30.0
RELOAD_EVERY_S = 4.0
FD_SHORTAGE_S = 0.5
# Long enough for the sidecar's health loop (once a second) to see it.
SIDECAR_SHORTAGE_S = 2.5
# Callers give up on an instance soon, so that a shortage shows as candidate errors.
POOL_WAIT_S = 0.2
SERVING, NOT_SERVING = 1, 2  # grpc.health.v1.HealthCheckResponse
# What a candidate may answer besides its own result: an instance that could not be made
# while file descriptors ran out, here or in the sidecar.
SHORTAGE = (PoolExhausted, ResourceExhausted, SidecarCallFailed, SidecarUnavailable)
# RSS may grow this much from the end of the warm-up to the end (allocator slack, the
# instances the pools keep); a leak per call would pass it within seconds.
RSS_SLACK_BYTES = 96 << 20


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass(frozen=True)
class Seen:
    """What one mismatch said, without the objects it holds (a soak makes thousands)."""

    kind: str
    error: type[BaseException] | None
    message: str
    text: str
    time: float


class _PoolLog(logging.Handler):
    """The runtime's warnings about instances it could not make, while in `with`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "cannot make an instance" in record.getMessage():
            self.lines.append(record.getMessage())

    def __enter__(self) -> _PoolLog:
        logging.getLogger("bridge.runtime").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("bridge.runtime").removeHandler(self)


class Collected:
    """Every mismatch a route judged (the router keeps only the newest records)."""

    def __init__(self) -> None:
        self.items: list[Seen] = []
        self._lock = threading.Lock()

    def __call__(self, mismatch: Mismatch) -> bool:
        error = mismatch.candidate.error
        request: Any = mismatch.request
        seen = Seen(
            mismatch.kind,
            None if error is None else type(error),
            str(error)[:200],
            "" if request is None else request.text,
            time.monotonic(),
        )
        with self._lock:
            self.items.append(seen)
        return False  # a rule that ignores nothing: the mismatch is recorded as usual

    def since(self, start: int) -> list[Seen]:
        with self._lock:
            return self.items[start:]


def _shadow() -> RouteConfig:
    return RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig(inline=True, timeout_s=10.0))


def _legacy(router: Router, method: str, collected: Collected) -> Callable[[str], str]:
    @router.route(method, ignore=[collected])
    def legacy(text: str) -> str:
        return text

    return legacy


def _fd_shortage_here() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (_open_fds(os.getpid()), hard))
    try:
        time.sleep(FD_SHORTAGE_S)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _fd_shortage_in(pid: int, channel: grpc.Channel) -> set[int]:
    """Starve the sidecar of file descriptors for a while; the health statuses it said."""
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (_open_fds(pid), hard))
    statuses = set()
    try:
        until = time.monotonic() + SIDECAR_SHORTAGE_S
        while time.monotonic() < until:
            statuses.add(health_status(channel))
            time.sleep(0.1)
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    return statuses


def test_routed_calls_survive_traps_reloads_and_fd_shortage(
    make_router: MakeRouter,
    faulty_go_wasm: Path,
    faulty_rust_wasm: Path,
    faulty_pb2: Any,
    tmp_path: Path,
) -> None:
    served_module = tmp_path / "faulty.wasm"
    deploy(faulty_go_wasm, served_module)
    served = start_serve(
        str(served_module), "--socket", str(tmp_path / "faulty.sock"), "--workers", "4",
        folder=tmp_path, env={"BRIDGE_POOL_WAIT_S": str(POOL_WAIT_S)},
    )  # fmt: skip
    try:
        _soak(make_router, served, served_module, (faulty_go_wasm, faulty_rust_wasm))
    finally:
        status = served.stop()
    assert status == 0, served.stderr()


def _soak(
    make_router: MakeRouter, served: Served, served_module: Path, builds: tuple[Path, Path]
) -> None:
    runtime = RuntimeConfig(cache_dir=None, pool_size=4, pool_min_idle=1, pool_wait_s=POOL_WAIT_S)
    routes = {ECHO: _shadow(), PANIC: _shadow()}
    in_process = make_router(routes, runtime=runtime)
    sidecar_routes = {m: RouteConfig(mode=Mode("shadow"), candidate="sidecar",
                                     shadow=ShadowConfig(inline=True, timeout_s=10.0))
                      for m in (ECHO, PANIC)}  # fmt: skip
    via_sidecar = make_router(
        sidecar_routes, sidecar=SidecarConfig(target=served.target, timeout_s=10.0)
    )
    collected = {
        (name, method): Collected() for name in ("wasm", "sidecar") for method in (ECHO, PANIC)
    }
    functions = [
        ("wasm", ECHO, _legacy(in_process, ECHO, collected["wasm", ECHO])),
        ("wasm", PANIC, _legacy(in_process, PANIC, collected["wasm", PANIC])),
        ("sidecar", ECHO, _legacy(via_sidecar, ECHO, collected["sidecar", ECHO])),
        ("sidecar", PANIC, _legacy(via_sidecar, PANIC, collected["sidecar", PANIC])),
    ]
    # Echo is called three times as often as Panic: most calls must find a good instance.
    weights = [3, 1, 3, 1]
    stop = threading.Event()
    calls = [0] * THREADS
    lost: list[str] = []

    def caller(index: int) -> None:
        rng = random.Random(index)
        while not stop.is_set():
            _, _, function = rng.choices(functions, weights)[0]
            text = f"thread {index} call {calls[index]}"
            try:
                answer = function(text)
            except Exception as exc:  # noqa: BLE001 - any exception is a lost call
                lost.append(f"{text}: {type(exc).__name__}: {exc}")
                return
            if answer != text:
                lost.append(f"{text}: answered {answer!r}")
                return
            calls[index] += 1

    threads = [threading.Thread(target=caller, args=(i,), name=f"soak-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(WARM_UP_S)
        rss_start = (_rss(os.getpid()), _rss(served.process.pid))
        with _PoolLog() as pool_log:
            statuses = _chaos(served, served_module, builds)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not lost, lost[:5]
    assert sum(calls) > 1000, calls
    assert in_process.drain(30) and via_sidecar.drain(30)

    # Each mismatch is the candidate's own: Panic traps, anything else only while file
    # descriptors ran out (and the pools' backoff after); never another call's answer or
    # error (a `value` mismatch, a trap on Echo).
    for (name, method), found in collected.items():
        for seen in found.items:
            where = f"{name} {method} {seen.text!r}: {seen.kind} {seen.error} {seen.message}"
            assert seen.kind == "candidate-error" and seen.text.startswith("thread "), where
            assert seen.error is not None
            if method == PANIC and issubclass(seen.error, GuestTrap):
                assert "Faulty/Panic trapped" in seen.message, where
            else:
                # busy or starved pools (a 0.2 s wait on 2 loaded cores): never a trap
                assert issubclass(seen.error, SHORTAGE), where

    # The shortages were felt: this process's pool failed to make instances (and said
    # so), and the sidecar's health said NOT_SERVING while it could make none.
    # (wasmtime names no errno when the output files of WASI cannot be opened.)
    starved = ("Too many open files", "failed to set stdout file", "failed to set stderr file")
    assert any(s in line for line in pool_log.lines for s in starved), pool_log.lines[:3]
    assert NOT_SERVING in statuses, statuses
    # Both serve again: health says so, and every Echo candidate answers its own text.
    with grpc.insecure_channel(served.target) as channel:
        wait_until(lambda: health_status(channel) == SERVING, "SERVING after the soak")
    marks = {key: len(c.items) for key, c in collected.items()}
    for _, method, function in functions:
        if method == ECHO:
            for i in range(100):
                assert function(f"after {i}") == f"after {i}"
    assert in_process.drain(30) and via_sidecar.drain(30)
    for name in ("wasm", "sidecar"):
        late = collected[name, ECHO].since(marks[name, ECHO])
        assert not late, [str(m) for m in late[:3]]

    rss_end = (_rss(os.getpid()), _rss(served.process.pid))
    for what, start, end in zip(("this process", "the sidecar"), rss_start, rss_end, strict=True):
        assert end - start < RSS_SLACK_BYTES, f"{what}: RSS {start >> 20} -> {end >> 20} MiB"


def _chaos(served: Served, served_module: Path, builds: tuple[Path, Path]) -> set[int]:
    """Reload the sidecar's module every few seconds, alternating builds, and starve both
    processes of file descriptors for a moment, twice; the health statuses the sidecar
    said during its shortages."""
    with grpc.insecure_channel(served.target) as channel:
        return _chaos_on(served, served_module, builds, channel)


def _chaos_on(
    served: Served, served_module: Path, builds: tuple[Path, Path], channel: grpc.Channel
) -> set[int]:
    health_status(channel)  # connected before any shortage
    started = time.monotonic()
    statuses: set[int] = set()
    shortages = [CHAOS_S * 0.25, CHAOS_S * 0.6]
    next_reload = RELOAD_EVERY_S
    swapped = 0
    while (elapsed := time.monotonic() - started) < CHAOS_S:
        if shortages and elapsed >= shortages[0]:
            shortages.pop(0)
            _fd_shortage_here()
            statuses |= _fd_shortage_in(served.process.pid, channel)
        if elapsed >= next_reload:
            past = reloads(served)
            swapped += 1
            deploy(builds[swapped % 2], served_module)
            wait_reloaded(served, past)
            next_reload = elapsed + RELOAD_EVERY_S
        time.sleep(0.05)
    assert swapped >= 3
    return statuses
