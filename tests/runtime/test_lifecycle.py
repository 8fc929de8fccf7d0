"""A module's life: one engine per setting however many threads load at once, a typed
error after close(), close() racing calls, and modules dropped without close()."""

from __future__ import annotations

import gc
import inspect
import json
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import weakref
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import bridge
from bridge.config import RuntimeConfig

FAULTY = "faulty.v1.Faulty"


# --- item 9: one engine per setting, under a lock --------------------------------------

# A fresh process (this one has its engines already): threads released together all
# ask for the engine, then load. functools.cache let two of them make an engine each,
# and a module compiled for one then could not be instantiated with the other.
ENGINE_RACE = """
import json, sys, threading
import bridge
from bridge.config import RuntimeConfig
from bridge.runtime.engine import engine_for

THREADS = 16
barrier = threading.Barrier(THREADS)
engines, errors, answers = [], [], []

def load():
    barrier.wait()
    engines.append(id(engine_for(False)))
    try:
        with bridge.load(sys.argv[1], RuntimeConfig(cache_dir=None)) as guest:
            answers.append(guest.call("faulty.v1.Faulty/Echo", b"x").decode())
    except bridge.BridgeError as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

threads = [threading.Thread(target=load) for _ in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"engines": len(set(engines)), "errors": errors, "answers": answers}))
"""


def test_threads_racing_to_load_share_one_engine(faulty_rust_wasm: Path) -> None:
    for _ in range(3):  # a race: a few fresh processes
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(ENGINE_RACE), str(faulty_rust_wasm)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["errors"] == [], result["errors"]
        assert result["engines"] == 1
        assert result["answers"] == ["x"] * 16


# --- item 12: a closed module raises a BridgeError -----------------------------------


def test_a_closed_module_raises_module_closed(faulty_rust_wasm: Path) -> None:
    guest = bridge.load(faulty_rust_wasm, RuntimeConfig(cache_dir=None))
    guest.close()
    guest.close()
    assert guest.closed
    with pytest.raises(bridge.ModuleClosed, match="faulty-rust.wasm was closed") as info:
        guest.call(f"{FAULTY}/Echo", b"x")
    # A LoadError, so routing falls back to Python as for a module that cannot load; a
    # ValueError still, as calls after close() raised before.
    assert isinstance(info.value, bridge.LoadError)
    assert isinstance(info.value, bridge.BridgeError)
    assert isinstance(info.value, ValueError)


# --- item 10: close() racing calls, and modules never closed ----------------------------


def test_an_instance_released_after_close_is_closed(faulty_rust_wasm: Path) -> None:
    """close() runs while a call is between release()'s check of `closed` and its
    putting the instance back: the instance must be closed, not kept in the pool.

    The interleaving is forced: a trace function holds the calling thread just before
    that line of release() until close() has returned."""
    guest = bridge.load(faulty_rust_wasm, RuntimeConfig(cache_dir=None, pool_size=1))
    pool = guest._pool
    release = type(pool).release.__code__
    lines, first = inspect.getsourcelines(type(pool).release)
    put_back = first + next(i for i, ln in enumerate(lines) if "self._idle.append(" in ln)
    at_put_back, closed = threading.Event(), threading.Event()

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code is not release:
            return None
        if event == "line" and frame.f_lineno == put_back:
            at_put_back.set()
            closed.wait(30)
        return tracer

    def call() -> None:
        sys.settrace(tracer)
        try:
            guest.call(f"{FAULTY}/Echo", b"x")
        finally:
            sys.settrace(None)

    caller = threading.Thread(target=call)
    caller.start()
    assert at_put_back.wait(30)
    guest.close()
    closed.set()
    caller.join(timeout=30)
    pool._filler.join(timeout=30)
    stats = guest.stats()
    assert (stats["instances"], stats["idle"]) == (0, 0), stats


def _bridge_threads() -> int:
    return sum(t.name.startswith("bridge-pool-") for t in threading.enumerate())


def test_modules_dropped_unclosed_are_closed_with_a_resource_warning(
    faulty_rust_wasm: Path,
) -> None:
    gc.collect()
    before = _bridge_threads()
    config = RuntimeConfig(cache_dir=None, pool_size=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        refs = []
        for _ in range(20):
            guest = bridge.load(faulty_rust_wasm, config)
            assert guest.call(f"{FAULTY}/Echo", b"x") == b"x"
            refs.append(weakref.ref(guest))
        del guest
        gc.collect()
    # The filler thread does not keep its module alive.
    assert [ref for ref in refs if ref() is not None] == []
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(unclosed) == 20
    assert "unclosed module" in str(unclosed[0].message)
    assert "faulty-rust.wasm" in str(unclosed[0].message)
    deadline = time.monotonic() + 30
    while _bridge_threads() > before:  # each filler ends once its pool is closed
        assert time.monotonic() < deadline, threading.enumerate()
        time.sleep(0.01)


def test_a_closed_module_warns_nothing(faulty_rust_wasm: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with bridge.load(faulty_rust_wasm, RuntimeConfig(cache_dir=None)) as guest:
            guest.call(f"{FAULTY}/Echo", b"x")
        del guest
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
