"""The native call (bridge/runtime/_native.c): the same outcomes as the pure-Python path,
the GIL kept for short calls and released for long ones, and every thread its own answers
under contention, with the GIL kept or released. Nothing here asserts a timing: the
durations only steer which way a call goes, and `bridge bench` measures the speed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime import _fastcall, limits
from bridge.runtime.instance import Instance
from tests.wat import wat_module

needs_native = pytest.mark.skipif(
    _fastcall.native_available() is not None,
    reason=f"no native call here: {_fastcall.native_available()}",
)

ECHO = "test.v1.T/Echo"
# Echo: spins (first byte of the request) x SPIN_UNIT times, then answers the request's
# bytes from a fixed region (borrowed: the host frees nothing). Owned: the same from
# malloc'd memory (the host frees it). Fail: answers its request as an error payload
# (not a Status: an ABI violation). Big: a response larger than the limit. Outside: a
# response past the end of memory. Null: a null pointer with a length. Trap: unreachable.
SPIN_UNIT = 100_000
BODY = f"""
  (func $spin (param $ptr i32) (param $len i32) (local $i i32)
    (if (i32.eqz (local.get $len)) (then (return)))
    (local.set $i (i32.mul (i32.load8_u (local.get $ptr)) (i32.const {SPIN_UNIT})))
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $i)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $again))))
  (func (export "{ECHO}") (param $ptr i32) (param $len i32) (result i64)
    (call $spin (local.get $ptr) (local.get $len))
    (memory.copy (i32.const 40000) (local.get $ptr) (local.get $len))
    (i64.or (i64.const 0x4000000000000000)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)) (i64.const 40000))))
  (func (export "test.v1.T/Owned") (param $ptr i32) (param $len i32) (result i64)
    (memory.copy (i32.const 50000) (local.get $ptr) (local.get $len))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)) (i64.const 50000)))
  (func (export "test.v1.T/Fail") (param $ptr i32) (param $len i32) (result i64)
    (memory.copy (i32.const 40000) (local.get $ptr) (local.get $len))
    (i64.or (i64.const 0xC000000000000000)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)) (i64.const 40000))))
  (func (export "test.v1.T/Big") (param i32 i32) (result i64)
    (i64.or (i64.const 0x4000000000000000)
      (i64.or (i64.shl (i64.const 2000) (i64.const 32)) (i64.const 100))))
  (func (export "test.v1.T/Outside") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 100) (i64.const 32)) (i64.const 65500)))
  (func (export "test.v1.T/Null") (param i32 i32) (result i64)
    (i64.shl (i64.const 5) (i64.const 32)))
  (func (export "test.v1.T/Trap") (param i32 i32) (result i64) unreachable)
  (func (export "test.v1.T/Loop") (param i32 i32) (result i64) (loop $l (br $l)) unreachable)
  (func (export "test.v1.T/LoopIfAsked") (param $ptr i32) (param $len i32) (result i64)
    (if (local.get $len) (then (loop $l (br $l))))
    (i64.const 0))
"""
CONFIG = RuntimeConfig(cache_dir=None, max_message_bytes=1024, call_timeout_s=0.2)


@pytest.fixture(scope="module")
def guest_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wat_module(tmp_path_factory.mktemp("native"), BODY)


def _outcome(module: Any, method: str, request: bytes) -> tuple[str, object]:
    try:
        return "ok", module.call(method, request)
    except bridge.BridgeError as exc:
        return type(exc).__name__, str(exc).split(" (", 1)[0]


CASES = [
    (ECHO, b""),
    (ECHO, b"\x00hello"),
    (ECHO, b"\x00" + b"x" * 1000),  # over the first request buffer (1024 after the first)
    (ECHO, b"\x00" + b"y" * 1023),  # the limit exactly
    ("test.v1.T/Owned", b"owned answer"),
    ("test.v1.T/Fail", b"not a status"),
    ("test.v1.T/Big", b"b"),
    ("test.v1.T/Outside", b"o"),
    ("test.v1.T/Null", b"n"),
    ("test.v1.T/Trap", b"t"),
    ("test.v1.T/Loop", b"l"),
    (ECHO, b"\x00after"),  # and the module goes on
]


@needs_native
def test_the_native_and_the_pure_path_agree(
    guest_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bridge.load(guest_wasm, CONFIG) as native:
        assert _instance(native)._native is not None
        native_outcomes = [_outcome(native, m, r) for m, r in CASES]
    monkeypatch.setenv(_fastcall.ENV_NO_NATIVE_CALL, "1")
    with bridge.load(guest_wasm, CONFIG) as pure:
        assert _instance(pure)._native is None
        pure_outcomes = [_outcome(pure, m, r) for m, r in CASES]
    assert native_outcomes == pure_outcomes
    kinds = [kind for kind, _ in native_outcomes]
    assert kinds == [
        "ok", "ok", "ok", "ok", "ok", "AbiViolation", "ResourceExhausted", "AbiViolation",
        "AbiViolation", "GuestTrap", "DeadlineExceeded", "ok",
    ]  # fmt: skip
    assert native_outcomes[2] == ("ok", b"\x00" + b"x" * 1000)


@needs_native
def test_bytearray_and_memoryview_requests_take_the_python_path(guest_wasm: Path) -> None:
    with bridge.load(guest_wasm, CONFIG) as guest:
        instance = _instance(guest)
        assert instance.call(ECHO, bytearray(b"\x00ab")) == b"\x00ab"  # type: ignore[arg-type]
        assert instance.call(ECHO, b"\x00ab") == b"\x00ab"


def _instance(module: Any) -> Instance:
    instance: Instance = module._pool.acquire()
    module._pool.release(instance)
    return instance


@needs_native
def test_short_calls_keep_the_gil_long_ones_release_it(guest_wasm: Path) -> None:
    with bridge.load(guest_wasm, CONFIG) as guest:
        instance: Instance = guest._pool.acquire()
        try:
            assert instance.holds_gil(ECHO) is False  # nothing measured yet: released
            for _ in range(20):
                instance.call(ECHO, b"\x00short")
            assert instance.holds_gil(ECHO) is True
            # Two long calls (well over the threshold each) and the next ones release it.
            long_request = bytes([255]) + b"long"
            for _ in range(2):
                instance.call(ECHO, long_request)
            assert instance.holds_gil(ECHO) is False
            for _ in range(100):
                instance.call(ECHO, b"\x00short again")
            assert instance.holds_gil(ECHO) is True
        finally:
            guest._pool.release(instance)


@needs_native
def test_with_a_python_ticker_no_call_keeps_the_gil(
    guest_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python ticker needs the GIL to advance the epoch: a call that kept it could never
    reach its deadline, so every call releases it."""
    monkeypatch.setattr(limits.ticker, "kind", "thread")
    with bridge.load(guest_wasm, CONFIG) as guest:
        instance: Instance = guest._pool.acquire()
        try:
            for _ in range(20):
                instance.call(ECHO, b"\x00short")
            assert instance.holds_gil(ECHO) is False
        finally:
            guest._pool.release(instance)


@pytest.mark.parametrize(
    ("mode", "spin", "threads"),
    [
        ("gil-kept", 0, 4),
        ("gil-kept", 0, 2),
        ("gil-released", 0, 4),
        ("gil-released", 2, 4),
        ("pure", 0, 4),
        ("pure", 2, 4),
    ],
)
def test_every_thread_gets_its_own_answers_under_contention(
    guest_wasm: Path, monkeypatch: pytest.MonkeyPatch, mode: str, spin: int, threads: int
) -> None:
    """Threads on one module, each checking every answer is its own request's. The GIL
    policy is forced (kept for every call after the first, or never), so that each way is
    exercised whatever the durations on this machine; "pure" is the Python path. With 2
    threads on a machine of 2 or more cores, short calls release the GIL after all (the
    callers share bridge); with 4 on 2 cores they keep it."""
    native = mode != "pure"
    if native and _fastcall.native_available() is not None:
        pytest.skip(f"no native call here: {_fastcall.native_available()}")
    if not native:
        monkeypatch.setenv(_fastcall.ENV_NO_NATIVE_CALL, "1")
    monkeypatch.setattr(_fastcall, "HOLD_GIL_BELOW_NS", 10**12 if mode == "gil-kept" else 0)
    calls = 300 if spin == 0 else 60
    config = RuntimeConfig(cache_dir=None, max_message_bytes=1 << 16, pool_size=threads)
    wrong: list[str] = []
    start = threading.Barrier(threads)
    with bridge.load(guest_wasm, config) as guest:

        def work(index: int) -> None:
            start.wait()
            for i in range(calls):
                # Requests of different lengths, so that a mix-up shows in the size too.
                request = bytes([spin]) + f"thread {index} call {i} ".encode() * (1 + i % 7)
                try:
                    answer = guest.call(ECHO, request)
                except Exception as exc:  # noqa: BLE001 (reported below)
                    wrong.append(f"thread {index} call {i}: {exc!r}")
                    return
                if answer != request:
                    wrong.append(f"thread {index} call {i}: got {answer[:40]!r}")

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert not any(worker.is_alive() for worker in workers)
        if native:
            kept = {i.holds_gil(ECHO) for i in list(guest._pool._idle)}
            # (An instance the filler made that served nothing has measured nothing.)
            assert (True in kept) if mode == "gil-kept" else kept == {False}, kept
    assert not wrong, wrong[:5]


@needs_native
def test_a_call_that_kept_the_gil_gives_it_up_when_it_runs_long(
    guest_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A method that was short (so its calls keep the GIL) and then loops: another Python
    thread runs while it loops (the call gave the GIL up after a few ms), and the call
    still ends at its deadline, as DeadlineExceeded."""
    monkeypatch.setattr(_fastcall, "HOLD_GIL_BELOW_NS", 10**12)  # every call after the first
    method = "test.v1.T/LoopIfAsked"
    with bridge.load(guest_wasm, CONFIG) as guest:
        instance: Instance = guest._pool.acquire()
        try:
            for _ in range(3):
                assert instance.call(method, b"") == b""
            assert instance.holds_gil(method) is True
            assert instance._native is not None
            yields = instance._native.holds_gil(instance._slots[method])[2]
            ticks = [0]
            running = threading.Event()
            stop = threading.Event()

            def count() -> None:
                running.set()
                while not stop.is_set():
                    ticks[0] += 1

            counter = threading.Thread(target=count, daemon=True)
            counter.start()
            running.wait()
            seen = ticks[0]
            with pytest.raises(bridge.DeadlineExceeded, match="ran past its deadline of 0.2 s"):
                instance.call(method, b"loop")
            during = ticks[0] - seen
            stop.set()
            counter.join()
            assert instance._native.holds_gil(instance._slots[method])[2] == yields + 1
            assert during > 0  # the other thread ran while the guest looped
        finally:
            guest._pool.release(instance)  # broken by the deadline: replaced
        assert guest.call(method, b"") == b""


@needs_native
def test_bridge_hold_gil_us_sets_the_threshold(
    guest_wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BRIDGE_HOLD_GIL_US=0: every call releases the GIL (a guest that sleeps in WASI, where
    no epoch check runs, would otherwise hold it for the sleep); a bad value is ignored."""
    for value, kept in (("0", False), ("1e9", True), ("soon", True)):
        monkeypatch.setenv(_fastcall.ENV_HOLD_GIL_US, value)
        with bridge.load(guest_wasm, CONFIG) as guest:
            instance: Instance = guest._pool.acquire()
            try:
                for _ in range(20):
                    instance.call(ECHO, b"\x00short")
                assert instance.holds_gil(ECHO) is kept, value
            finally:
                guest._pool.release(instance)
