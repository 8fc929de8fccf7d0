"""The pool never wedges: whatever making an instance raises, the filler logs it, counts
it, backs off and tries again, and calls succeed again once the cause is gone.

The old filler caught BridgeError only: one OSError (EMFILE during a brief shortage of
file descriptors) killed it with its slot still counted, and every later call failed
with PoolExhausted for the rest of the process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime.instance import Instance

FAULTY = "faulty.v1.Faulty"

# Runs in a subprocess: it lowers its own RLIMIT_NOFILE, which pytest must not share.
FD_SHORTAGE = """
import json, os, resource, sys, time
import bridge
from bridge.config import RuntimeConfig

FAULTY = "faulty.v1.Faulty"
config = RuntimeConfig(cache_dir=None, pool_size=1, pool_wait_s=0.5, call_timeout_s=30)
guest = bridge.load(sys.argv[1], config)
assert guest.call(f"{FAULTY}/Echo", b"x") == b"x"

# A shortage of descriptors: the limit just above those in use, every free one taken.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(map(int, os.listdir("/proc/self/fd"))) + 8, hard))
hogs = []
try:
    while True:
        hogs.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass

# The only instance traps; its replacement needs pipes (EMFILE) and cannot be made.
try:
    guest.call(f"{FAULTY}/Panic", b"")
except bridge.GuestTrap:
    pass
during = None
try:
    guest.call(f"{FAULTY}/Echo", b"x")
except bridge.BridgeError as exc:
    during = f"{type(exc).__name__}: {exc}"
time.sleep(1.0)  # a few failed attempts, with back-off

for fd in hogs:  # the shortage ends
    os.close(fd)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
started = time.monotonic()
answer = None
while time.monotonic() - started < 30:
    try:
        answer = guest.call(f"{FAULTY}/Echo", b"back").decode()
        break
    except bridge.BridgeError:
        time.sleep(0.1)
print(json.dumps({"during": during, "answer": answer, "stats": guest.stats()}))
guest.close()
"""


def test_a_shortage_of_file_descriptors_does_not_wedge_the_pool(faulty_go_wasm: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FD_SHORTAGE), str(faulty_go_wasm)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # os.pipe() fails with EMFILE, or wasmtime opening the pipe ("failed to set stdout
    # file"): neither is a BridgeError, and either killed the old filler.
    assert result["during"].startswith("PoolExhausted: faulty-go.wasm: cannot make"), result
    assert result["answer"] == "back", result
    assert result["stats"]["failures"] >= 1, result
    assert "cannot make an instance" in done.stderr  # logged, with the reason


class _Flaky:
    """A real module's factory that raises `errors` first, one per attempt."""

    def __init__(self, factory: Callable[[], Instance], errors: list[BaseException]) -> None:
        self.factory = factory
        self.errors = errors

    def __call__(self) -> Instance:
        if self.errors:
            raise self.errors.pop(0)
        return self.factory()


@pytest.mark.parametrize(
    "error",
    [
        OSError(24, "Too many open files"),
        wasmtime.WasmtimeError("failed to create memory"),
        MemoryError(),
        RuntimeError("anything else"),
    ],
    ids=["oserror", "wasmtime", "memory", "other"],
)
def test_any_failure_to_make_an_instance_is_retried(
    faulty_rust_wasm: Path, error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    config = RuntimeConfig(cache_dir=None, pool_size=1, pool_wait_s=0.2, call_timeout_s=30)
    with bridge.load(faulty_rust_wasm, config) as guest:
        pool = guest._pool
        pool._factory = _Flaky(pool._factory, [error] * 3)
        with pytest.raises(bridge.GuestTrap):  # the only instance goes
            guest.call(f"{FAULTY}/Panic", b"")
        deadline = time.monotonic() + 30
        while True:
            try:
                assert guest.call(f"{FAULTY}/Echo", b"back") == b"back"
                break
            except bridge.PoolExhausted:  # a typed error meanwhile, never another kind
                assert time.monotonic() < deadline, guest.stats()
        assert guest.stats()["failures"] == 3
    assert sum("cannot make an instance" in r.getMessage() for r in caplog.records) == 3
