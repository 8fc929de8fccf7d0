"""`bridge bench`'s figures of calls made in parallel: threads of one process, and forked workers.

- **Threads** (`threads_short_N`, `threads_long_N`): N threads call one module, the Go guest
  `bridge init` + `bridge gen` made (bridge/bench_guests.py), each in a loop for a while;
  calls per second, against one thread's. The call is NormalizeSku, whose loop runs over
  the request's SKU: its length is set so that one call takes ~SHORT_CALL_US (a call of a
  few microseconds, where handing the GIL over costs more than the call) and
  ~LONG_CALL_US (where the second core has work to share), measured on this machine at
  the start.
- **Forked workers** (`forked_N`): the module is loaded in this process, then N workers are
  forked, as a pre-forking server does (gunicorn --preload): each calls Quote in a loop
  for a while; their calls per second, summed, against one worker's. The workers compile
  nothing: they run the code the parent compiled.

Each is measured in interleaved rounds (the counts 1, 2, 4 in alternating order), so that
the machine's drift falls on all alike; a figure is the median of its rounds, and the
spread of the per-round ratios decides the budget's verdict.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CallError

if TYPE_CHECKING:
    from .runtime import GuestModule

__all__ = [
    "FORK_WORKERS",
    "ColdStart",
    "THREAD_COUNTS",
    "Parallel",
    "measure_cold_start",
    "measure_forks",
    "measure_threads",
    "normalize_request",
]

NORMALIZE_METHOD = "pricing.v1.Pricing/NormalizeSku"
THREAD_COUNTS = (1, 2, 4)
FORK_WORKERS = (1, 2)
SHORT_CALL_US = 5.0
LONG_CALL_US = 45.0
ROUNDS = 5
# Each count's share of a round, without --iterations.
ROUND_SECONDS = 0.3
# What a SKU is made of: words and the whitespace the guest turns into dashes.
_SKU_UNIT = "ab cd\tef "
WORKER_LIMIT_S = 60.0


@dataclass(frozen=True)
class Parallel:
    """Calls made by `workers` threads or processes at once, per second, in each round."""

    name: str
    description: str
    workers: int
    call_us: float  # one call's duration alone (median), what the figure's call costs
    rounds: tuple[float, ...]  # calls per second, all workers together, each round

    @property
    def calls_per_s(self) -> float:
        return statistics.median(self.rounds)

    def to_json(self) -> dict[str, object]:
        return {
            "calls_per_s": round(self.calls_per_s, 1),
            "workers": self.workers,
            "call_us": round(self.call_us, 3),
            "rounds": [round(r, 1) for r in self.rounds],
        }


def normalize_request(length: int) -> tuple[bytes, bytes]:
    """A NormalizeSkuRequest with a SKU of `length` characters, and the guest's answer
    (NormalizeSkuResponse) computed in Python."""
    from .bench import normalize_sku
    from .conformance import varint

    sku = (_SKU_UNIT * (length // len(_SKU_UNIT) + 1))[:length]
    answer = normalize_sku(sku).encode()
    request = b"\x0a" + varint(len(sku)) + sku.encode()
    return request, (b"\x0a" + varint(len(answer)) + answer) if answer else b""


def _call_us(call: Callable[[], object], calls: int = 300, *, quickest: bool = False) -> float:
    """One call's duration over batches of ten (us): their median, or with `quickest`
    the fastest tenth's (what the call costs when nothing else takes the CPU: on a
    loaded machine the median of a calibration would pick too short a request)."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(max(1, calls // 10)):
        began = clock()
        for _ in range(10):
            call()
        samples.append((clock() - began) / 10)
    if quickest:
        samples.sort()
        return samples[len(samples) // 10] / 1000
    return statistics.median(samples) / 1000


def _length_for(guest: GuestModule, target_us: float) -> int:
    """The SKU length whose call takes about `target_us` here (a line through two)."""
    points = []
    for length in (64, 8192):
        request, _ = normalize_request(length)
        call = functools.partial(guest.call, NORMALIZE_METHOD, request)
        points.append((length, _call_us(call, 600, quickest=True)))
    (x0, y0), (x1, y1) = points
    slope = max((y1 - y0) / (x1 - x0), 1e-6)
    return max(1, min(1 << 20, round(x0 + (target_us - y0) / slope)))


def _run_threads(
    call: Callable[[], object], count: int, *, calls: int | None, seconds: float
) -> float:
    """`count` threads calling at once, each `calls` times or for `seconds`; calls/s."""
    done = [0] * count
    start = threading.Barrier(count + 1)
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait()
            made = 0
            if calls is not None:
                for _ in range(calls):
                    call()
                made = calls
            else:
                stop = time.perf_counter() + seconds
                while time.perf_counter() < stop:
                    for _ in range(10):
                        call()
                    made += 10
            done[index] = made
        except BaseException as exc:  # noqa: BLE001 (reported by the caller)
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return sum(done) / elapsed


def _orders(counts: tuple[int, ...], rounds: int) -> Iterator[tuple[int, ...]]:
    for index in range(rounds):
        yield counts if index % 2 == 0 else counts[::-1]


def measure_threads(
    guest: GuestModule, *, iterations: int | None = None, rounds: int = ROUNDS
) -> dict[str, Parallel]:
    """The threads figures on `guest` (the generated Go guest), short calls then long."""
    figures: dict[str, Parallel] = {}
    for kind, target in (("short", SHORT_CALL_US), ("long", LONG_CALL_US)):
        length = _length_for(guest, target)
        request, answer = normalize_request(length)
        got = guest.call(NORMALIZE_METHOD, request)
        if got != answer:
            raise CallError(
                f"bench figure threads_{kind}: NormalizeSku answered {got[:60]!r}..., not "
                f"the reference {answer[:60]!r}...",
                method=NORMALIZE_METHOD,
            )

        def call(r: bytes = request) -> object:
            return guest.call(NORMALIZE_METHOD, r)

        # Warm every instance the threads will take, and the GIL decisions with them.
        _run_threads(call, max(THREAD_COUNTS), calls=200, seconds=0)
        call_us = _call_us(call)
        per_count: dict[int, list[float]] = {n: [] for n in THREAD_COUNTS}
        for order in _orders(THREAD_COUNTS, rounds):
            for count in order:
                per_count[count].append(
                    _run_threads(call, count, calls=iterations, seconds=ROUND_SECONDS)
                )
        for count in THREAD_COUNTS:
            name = f"threads_{kind}_{count}"
            what = f"{count} thread{'s' if count > 1 else ''}, one module, ~{call_us:.0f} us calls"
            figures[name] = Parallel(name, what, count, call_us, tuple(per_count[count]))
    return figures


@contextlib.contextmanager
def _workers(
    count: int, work: Callable[[], tuple[int, float]]
) -> Iterator[Callable[[], list[tuple[int, float]]]]:
    """`count` forked processes that run `work` (calls, seconds) once told to go; yields
    `go()`, which starts them all and answers their results."""
    pids, ready_fds, go_fds, result_fds = [], [], [], []
    try:
        for _ in range(count):
            ready_r, ready_w = os.pipe()
            go_r, go_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns into the bench
                status = 1
                try:
                    os.close(ready_r)
                    os.close(go_w)
                    os.write(ready_w, b"r")
                    os.read(go_r, 1)
                    made, seconds = work()
                    os.write(ready_w, f"{made} {seconds!r}\n".encode())
                    status = 0
                finally:
                    os._exit(status)
            os.close(ready_w)
            os.close(go_r)
            pids.append(pid)
            ready_fds.append(ready_r)
            go_fds.append(go_w)
        for fd in ready_fds:
            if os.read(fd, 1) != b"r":
                raise CallError("a forked bench worker died before it was ready")

        def go() -> list[tuple[int, float]]:
            for fd in go_fds:
                os.write(fd, b"g")
            results = []
            for fd in ready_fds:
                text = b""
                limit = time.monotonic() + WORKER_LIMIT_S
                while not text.endswith(b"\n"):
                    if not select.select([fd], [], [], max(0.0, limit - time.monotonic()))[0]:
                        raise CallError("a forked bench worker did not answer in time")
                    chunk = os.read(fd, 64)
                    if not chunk:
                        raise CallError("a forked bench worker failed (its call did not answer)")
                    text += chunk
                made, seconds = text.split()
                results.append((int(made), float(seconds)))
            return results

        result_fds = ready_fds
        yield go
    finally:
        for fd in go_fds + result_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:  # still running: it failed us
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)


def measure_forks(
    guest: GuestModule,
    method: str,
    request: bytes,
    answer: bytes,
    *,
    iterations: int | None = None,
    rounds: int = ROUNDS,
) -> dict[str, Parallel]:
    """The forked-workers figures: `guest`, loaded here, called in forked workers."""

    def work() -> tuple[int, float]:
        if guest.call(method, request) != answer:  # also makes the worker's instance
            raise CallError("a forked bench worker got another answer", method=method)
        for _ in range(200):
            guest.call(method, request)
        made = 0
        began = time.perf_counter()
        if iterations is not None:
            for _ in range(iterations):
                guest.call(method, request)
            made = iterations
        else:
            stop = began + ROUND_SECONDS
            while time.perf_counter() < stop:
                for _ in range(10):
                    guest.call(method, request)
                made += 10
        return made, time.perf_counter() - began

    call_us = _call_us(lambda: guest.call(method, request))
    per_count: dict[int, list[float]] = {n: [] for n in FORK_WORKERS}
    for order in _orders(FORK_WORKERS, rounds):
        for count in order:
            with _workers(count, work) as go:
                results = go()
            per_count[count].append(sum(made / seconds for made, seconds in results))
    return {
        f"forked_{count}": Parallel(
            f"forked_{count}",
            f"{count} forked worker{'s' if count > 1 else ''}, module loaded before fork",
            count,
            call_us,
            tuple(per_count[count]),
        )
        for count in FORK_WORKERS
    }


# ---------------------------------------------------------------------------
# Cold start: what a process pays before its first call.

COLD_RUNS = 5
_IMPORT_SCRIPT = """
import sys, time
began = time.perf_counter()
import bridge
bridge.route  # the decorator, as an app that routes functions uses it
took = (time.perf_counter() - began) * 1000
print(took, "wasmtime" in sys.modules, "grpc" in sys.modules)
"""
_FIRST_CALL_SCRIPT = """
import logging, sys, time
import bridge
from bridge.runtime import load  # wasmtime's own import is not the figure's
hits = []
class Hits(logging.Handler):
    def emit(self, record):
        hits.append("from the compile cache" in record.getMessage())
logging.getLogger("bridge.runtime").addHandler(Hits())
logging.getLogger("bridge.runtime").setLevel(logging.DEBUG)
began = time.perf_counter()
module = load(sys.argv[1])
module.call(sys.argv[2], bytes.fromhex(sys.argv[3]))
took = (time.perf_counter() - began) * 1000
print(took, any(hits))
"""


@dataclass(frozen=True)
class ColdStart:
    """A cold-start figure: milliseconds in each of a few fresh processes."""

    name: str
    description: str
    runs: tuple[float, ...]
    note: str = ""

    @property
    def ms(self) -> float:
        return statistics.median(self.runs)

    def to_json(self) -> dict[str, object]:
        return {
            "ms": round(self.ms, 3),
            "runs": [round(r, 3) for r in self.runs],
            "note": self.note,
        }


def _python(script: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise CallError(f"a cold-start figure's process failed: {tail}")
    return done.stdout.split()


def measure_cold_start(
    project: Path, method: str, request: bytes, *, runs: int = COLD_RUNS
) -> dict[str, ColdStart]:
    """`import_bridge`: `import bridge` and the decorator, in a fresh process (ms; the note
    says whether wasmtime or grpc came along). `first_call_after_build`: `bridge build` of
    `project` into a fresh compile cache, then in a fresh process, once bridge and wasmtime
    are imported, load the module and make one call (ms; the note says whether the load
    was a cache hit: a compile of a Go module takes ~1 s)."""
    imports, loaded = [], set()
    for _ in range(runs):
        took, wasmtime, grpc = _python(_IMPORT_SCRIPT)
        imports.append(float(took))
        loaded |= {name for name, was in (("wasmtime", wasmtime), ("grpc", grpc)) if was == "True"}
    figures = {
        "import_bridge": ColdStart(
            "import_bridge",
            "import bridge and use the decorator, in a fresh process",
            tuple(imports),
            f"imported {', '.join(sorted(loaded))} too" if loaded else "neither wasmtime nor grpc",
        )
    }
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as folder:
        env = {**os.environ, "BRIDGE_CACHE_DIR": str(Path(folder) / "cache")}
        module = Path(folder) / "guest.wasm"
        build = [sys.executable, "-m", "bridge", "build", str(project), "-o", str(module)]
        done = subprocess.run(build, capture_output=True, text=True, timeout=600, env=env)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["?"])[-1]
            raise CallError(f"bridge build failed for the cold-start figure: {tail}")
        firsts, hits = [], []
        for _ in range(runs):
            took, hit = _python(_FIRST_CALL_SCRIPT, str(module), method, request.hex(), env=env)
            firsts.append(float(took))
            hits.append(hit == "True")
    figures["first_call_after_build"] = ColdStart(
        "first_call_after_build",
        "bridge build, then in a fresh process: load, one call (imports excluded)",
        tuple(firsts),
        "a compile cache hit" if all(hits) else f"compiled in {hits.count(False)} of {runs}",
    )
    return figures
