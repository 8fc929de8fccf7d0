"""bridge.runtime._fastcall: the C-API binding and its public-API fallback behave alike.

The first tests guard what the fast path relies on in wasmtime-py: they fail, not skip,
when a wasmtime upgrade takes it away. The rest run every case through both bindings.
"""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import wasmtime
from wasmtime import _bindings, _ffi

from bridge.config import RuntimeConfig
from bridge.errors import DeadlineExceeded
from bridge.runtime import _fastcall, traps

Exports = Mapping[str, object]

# --- The guard -----------------------------------------------------------------------


def test_fast_path_is_active() -> None:
    reason = _fastcall.probe()
    if reason is not None:
        pytest.fail(f"the fast wasmtime binding is not available: {reason}")
    if os.environ.get(_fastcall.ENV_NO_FASTCALL, "") in ("", "0"):
        assert _fastcall.FAST, _fastcall.WHY_NOT_FAST
        assert _fastcall.WHY_NOT_FAST is None


def test_the_c_api_we_rely_on_is_still_there() -> None:
    b = _bindings
    err_p = ctypes.POINTER(b.wasmtime_error_t)
    ctx_p = ctypes.POINTER(b.wasmtime_context_t)
    call = b._wasmtime_func_call_unchecked
    assert call.restype is err_p
    assert call.argtypes == [
        ctx_p,
        ctypes.POINTER(b.wasmtime_func_t),
        ctypes.POINTER(b.wasmtime_val_raw_t),
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.POINTER(b.wasm_trap_t)),
    ]
    assert b._wasmtime_memory_data.argtypes == [ctx_p, ctypes.POINTER(b.wasmtime_memory_t)]
    assert b._wasmtime_memory_data_size.restype is ctypes.c_size_t
    assert b._wasmtime_context_set_epoch_deadline.argtypes == [ctx_p, ctypes.c_uint64]
    # The fast path copies func/memory handles by wasmtime-py's sizes and indexes raw
    # values as 16-byte slots; a change here means re-checking it.
    assert ctypes.sizeof(b.wasmtime_func_t) == 16
    assert _offset(b.wasmtime_func_t, "store_id") == 0
    assert ctypes.sizeof(b.wasmtime_memory_t) == 24
    assert _offset(b.wasmtime_memory_t, "_anon_1") == 0
    assert _offset(b.wasmtime_memory_anon_0, "store_id") == 0
    assert ctypes.sizeof(b.wasmtime_val_raw_t) == 16
    assert _offset(b.wasmtime_val_raw, "i32") == _offset(b.wasmtime_val_raw, "i64") == 0


def test_the_wasmtime_py_internals_we_rely_on_are_still_there() -> None:
    from wasmtime import _ffi, _func

    assert _ffi.filename.exists()
    assert callable(_func.maybe_raise_last_exn)
    assert callable(wasmtime.Trap._from_ptr)
    assert callable(wasmtime.WasmtimeError._from_ptr)
    store, exports = _instance(wasmtime.Engine(), '(memory (export "m") 1) (func (export "f"))')
    assert store._Store__context is store._context()  # type: ignore[attr-defined]
    assert isinstance(_func_of(exports, "f")._func, _bindings.wasmtime_func_t)
    assert isinstance(_memory_of(exports, "m")._memory, _bindings.wasmtime_memory_t)
    store.close()
    assert store._Store__context is None  # type: ignore[attr-defined]


def test_no_fastcall_env_forces_the_fallback_and_says_so() -> None:
    out = _python(
        "from bridge.runtime import _fastcall as f; print(f.FAST, f.WHY_NOT_FAST)",
        env={_fastcall.ENV_NO_FASTCALL: "1"},
    )
    assert out.stdout.strip() == f"False {_fastcall.ENV_NO_FASTCALL}=1 is set"
    assert "slow path" in out.stderr  # the one warning on bridge.runtime


def test_without_cffi_the_fallback_is_used() -> None:
    out = _python(
        "import sys; sys.modules['cffi'] = None\n"
        "import wasmtime\n"
        "from bridge.runtime import _fastcall as f\n"
        "print(f.FAST, f.WHY_NOT_FAST)\n"
        "s = wasmtime.Store()\n"
        "m = wasmtime.Memory(s, wasmtime.MemoryType(wasmtime.Limits(1, None)))\n"
        "print(f.bind(s, m).fast)\n"
    )
    assert out.stdout.splitlines() == ["False cffi is not installed (pip install cffi)", "False"]
    assert "slow path" in out.stderr


# --- Both bindings -------------------------------------------------------------------

MODULE = """
  (import "host" "raise" (func $raise))
  (memory (export "memory") 1)
  (func (export "nop"))
  (func (export "const") (result i32) (i32.const -1))
  (func (export "id32") (param i32) (result i32) (local.get 0))
  (func (export "id64") (param i64) (result i64) (local.get 0))
  (func (export "pair") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get 1)) (i64.const 32))
            (i64.extend_i32_u (local.get 0))))
  (func (export "sum3") (param i32 i64 i32) (result i64)
    (i64.add (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))
             (i64.extend_i32_s (local.get 2))))
  (func (export "sum4") (param i32 i32 i32 i32) (result i32)
    (i32.add (i32.add (local.get 0) (local.get 1)) (i32.add (local.get 2) (local.get 3))))
  (func (export "floats") (param f32 f64 i32) (result f64 i32 f32)
    (f64.add (f64.promote_f32 (local.get 0)) (local.get 1)) (local.get 2) (local.get 0))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  ;; Grows memory by 2 pages, writes "grown" at the start of the new pages and returns
  ;; the old size in pages.
  (func (export "grow") (result i32) (local $old i32)
    (local.set $old (memory.grow (i32.const 2)))
    (i32.store (i32.mul (local.get $old) (i32.const 65536)) (i32.const 0x776f7267))
    (i32.store8 (i32.add (i32.mul (local.get $old) (i32.const 65536)) (i32.const 4))
                (i32.const 0x6e))
    (local.get $old))
  (func $boom (export "boom") (param i32) (result i32) (unreachable))
  (func (export "calls_boom") (param i32) (result i32) (call $boom (local.get 0)))
  (func (export "call_host") (call $raise))
  (func (export "externref") (param externref) (result i32) (i32.const 7))
"""


@pytest.fixture(params=[True, False], ids=["fast", "fallback"])
def fast(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


class _HostError(Exception):
    pass


def _raise() -> None:
    raise _HostError("from the host")


class Guest:
    """MODULE instantiated in its own store, with a binding and its resolved exports."""

    def __init__(self, fast: bool, engine: wasmtime.Engine | None = None) -> None:
        engine = engine or wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_func("host", "raise", wasmtime.FuncType([], []), _raise)
        module = wasmtime.Module(engine, bytes(wasmtime.wat2wasm(f"(module {MODULE})")))
        self.exports = linker.instantiate(self.store, module).exports(self.store)
        self.memory = _memory_of(self.exports, "memory")
        self.binding = _fastcall.bind(self.store, self.memory, fast=fast)
        assert self.binding.fast is fast

    def __getitem__(self, name: str) -> _fastcall.WasmFunc:
        return self.binding.func(_func_of(self.exports, name))


def test_integer_arguments_and_results(fast: bool) -> None:
    g = Guest(fast)
    assert g["nop"]() is None
    assert g["const"]() == -1
    assert g["id32"](5) == 5
    assert g["id32"](-5) == -5
    assert g["id32"](0xFFFF_FFFF) == -1  # unsigned in, signed out, as wasmtime-py
    assert g["id32"](1 << 31) == -(1 << 31)
    assert g["id32"]((1 << 32) + 3) == 3  # masked to the width
    assert g["id64"](-1) == -1
    assert g["id64"](1 << 63) == -(1 << 63)
    assert g["id64"]((1 << 64) - 2) == -2
    assert g["id64"]((1 << 63) - 1) == (1 << 63) - 1
    assert g["id64"](True) == 1
    pair = g["pair"](0xDEAD_BEEF, -1) & 0xFFFF_FFFF_FFFF_FFFF
    assert pair == 0xFFFF_FFFF_DEAD_BEEF
    assert g["sum3"](-1, 1 << 40, -2) == (1 << 40) - 3
    assert g["sum4"](1, 2, 3, -10) == -4


def test_floats_many_arguments_and_results(fast: bool) -> None:
    g = Guest(fast)
    assert g["floats"](1.5, 2.25, -3) == [3.75, -3, 1.5]
    assert g["floats"](1, 2, 3) == [3.0, 3, 1.0]
    assert g["externref"](None) == 7  # not a raw-value type: wasmtime-py's call


def test_wrong_arguments_raise_type_error(fast: bool) -> None:
    g = Guest(fast)
    with pytest.raises(TypeError):
        g["pair"](1)
    with pytest.raises(TypeError):
        g["sum4"](1, 2, 3)
    with pytest.raises(TypeError):
        g["id32"](1.5)
    with pytest.raises(TypeError):
        g["floats"]("1", 2.0, 3)
    assert g["pair"](1, 2) == (2 << 32) | 1  # and the function still works


def test_write_read_round_trip(fast: bool) -> None:
    g = Guest(fast)
    b = g.binding
    assert b.memory_size() == 65536
    data = bytes(range(256)) * 2
    b.write(1000, data)
    assert b.read(1000, len(data)) == data
    assert bytes(g.memory.read(g.store, 1000, 1000 + len(data))) == data  # really in memory
    b.write(65536 - 4, bytearray(b"\x01\x02\x03\x04"))
    assert g["load"](65536 - 4) == 0x04030201
    g["store"](8, -2)
    assert b.read(8, 4) == b"\xfe\xff\xff\xff"
    assert b.read(0, 0) == b""
    b.write(65536, b"")  # an empty write at the very end is in range


def test_out_of_range_raises_index_error(fast: bool) -> None:
    b = Guest(fast).binding
    for ptr, length in ((65536 - 3, 4), (65536, 1), (-1, 1), (1 << 40, 1)):
        with pytest.raises(IndexError):
            b.write(ptr, b"x" * length)
        with pytest.raises(IndexError):
            b.read(ptr, length)
    with pytest.raises(IndexError):
        b.read(0, -1)


def test_memory_grows_during_a_call(fast: bool) -> None:
    g = Guest(fast)
    b = g.binding
    b.write(100, b"before")
    with pytest.raises(IndexError):
        b.read(65536, 5)  # not there yet
    assert g["grow"]() == 1
    assert b.memory_size() == 3 * 65536
    assert b.read(65536, 5) == b"grown"
    assert b.read(100, 6) == b"before"
    b.write(3 * 65536 - 3, b"end")
    assert b.read(3 * 65536 - 3, 3) == b"end"
    # Without asking memory_size first: read and write look again themselves.
    assert g["grow"]() == 3
    assert b.read(3 * 65536, 5) == b"grown"


def test_a_trap_is_a_wasmtime_trap_with_code_and_backtrace(fast: bool) -> None:
    g = Guest(fast)
    for _ in range(2):  # the trap slot is reset: the second trap is reported too
        with pytest.raises(wasmtime.Trap) as info:
            g["calls_boom"](1)
        trap = info.value
        assert trap.trap_code is wasmtime.TrapCode.UNREACHABLE
        assert "unreachable" in trap.message
        names = [frame.func_name for frame in trap.frames]
        assert names[0] == "boom"
        assert len(names) == 2
        assert "boom" in str(trap)
    assert g["id32"](3) == 3  # the store still serves calls after a trap


def test_an_exception_in_a_python_host_function_propagates(fast: bool) -> None:
    g = Guest(fast)
    with pytest.raises(_HostError, match="from the host"):
        g["call_host"]()
    assert g["id32"](4) == 4


def test_wasi_proc_exit_is_an_exit_trap(fast: bool) -> None:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    wat = """(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "quit") (param i32) (call $exit (local.get 0))))"""
    module = wasmtime.Module(engine, bytes(wasmtime.wat2wasm(wat)))
    exports = linker.instantiate(store, module).exports(store)
    binding = _fastcall.bind(store, _memory_of(exports, "memory"), fast=fast)
    quit_ = binding.func(_func_of(exports, "quit"))
    with pytest.raises(wasmtime.ExitTrap) as info:
        quit_(7)
    assert info.value.code == 7


LOOP = '(memory (export "memory") 1) (func (export "spin") (loop $l (br $l)))'


def test_epoch_deadline_interrupts_a_loop(fast: bool) -> None:
    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    store, exports = _instance(engine, LOOP)
    binding = _fastcall.bind(store, _memory_of(exports, "memory"), fast=fast)
    spin = binding.func(_func_of(exports, "spin"))
    binding.set_epoch_deadline(1)
    # Only reached while the wasm call runs if the GIL is released during it.
    timer = threading.Timer(0.05, engine.increment_epoch)
    timer.start()
    try:
        with pytest.raises(wasmtime.Trap) as info:
            spin()
    finally:
        timer.cancel()
    assert info.value.trap_code is wasmtime.TrapCode.INTERRUPT
    with pytest.raises(ValueError):
        binding.set_epoch_deadline(-1)


def test_a_deadline_reaches_the_caller_with_no_more_gil_releases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the wasm call returns with a deadline's trap, the fast binding raises it and
    traps.classify makes a DeadlineExceeded of it without one more C call that gives up
    the GIL: beside CPU-busy threads each is a wait of a switch interval or more."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    store, exports = _instance(engine, LOOP)
    binding = _fastcall.bind(store, _memory_of(exports, "memory"), fast=True)
    spin = binding.func(_func_of(exports, "spin"))
    binding.set_epoch_deadline(1)
    engine.increment_epoch()
    config_ = RuntimeConfig(cache_dir=None)
    gc.collect()  # other tests' garbage: its finalizers call into C too
    released: list[str] = []

    def no_memory_size() -> int:
        released.append("memory_size")
        return 0

    gc.disable()
    try:
        for name in dir(_bindings):  # every ctypes.CDLL function wasmtime-py calls
            c_func = getattr(_bindings, name)
            if isinstance(c_func, _ffi.dll._FuncPtr):
                monkeypatch.setattr(_bindings, name, _counting(name, c_func, released))
        with pytest.raises(wasmtime.Trap) as info:
            spin()
        error = traps.classify(
            info.value, method="spin", config=config_, timeout_s=1.0, memory_size=no_memory_size
        )
    finally:
        gc.enable()
    assert isinstance(error, DeadlineExceeded)
    assert str(error) == "spin ran past its deadline of 1.0 s and was stopped"
    assert released == []
    monkeypatch.undo()
    assert info.value.trap_code is wasmtime.TrapCode.INTERRUPT  # the trap is intact
    assert "interrupt" in info.value.message


def _counting(name: str, c_func: Callable[..., object], calls: list[str]) -> Callable[..., object]:
    def call(*args: object) -> object:
        calls.append(name)
        return c_func(*args)

    return call


def test_running_out_of_fuel(fast: bool) -> None:
    config = wasmtime.Config()
    config.consume_fuel = True
    store, exports = _instance(wasmtime.Engine(config), LOOP)
    store.set_fuel(10_000)
    binding = _fastcall.bind(store, _memory_of(exports, "memory"), fast=fast)
    with pytest.raises(wasmtime.Trap) as info:
        binding.func(_func_of(exports, "spin"))()
    assert info.value.trap_code is wasmtime.TrapCode.OUT_OF_FUEL


def test_a_closed_store_raises_value_error_not_a_crash(fast: bool) -> None:
    g = Guest(fast)
    b = g.binding
    id32 = g["id32"]
    floats = g["floats"]
    g.store.close()
    calls: list[Callable[[], object]] = [
        lambda: id32(1),
        lambda: floats(1.0, 2.0, 3),
        b.memory_size,
        lambda: b.read(0, 4),
        lambda: b.write(0, b"x"),
        lambda: b.set_epoch_deadline(1),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="already closed"):
            call()


def test_objects_of_another_store_are_refused(fast: bool) -> None:
    # wasmtime aborts the whole process for this; the binding refuses it first.
    g, other = Guest(fast), Guest(fast)
    with pytest.raises(ValueError, match="another wasmtime.Store"):
        g.binding.func(_func_of(other.exports, "nop"))
    with pytest.raises(ValueError, match="another wasmtime.Store"):
        _fastcall.bind(g.store, other.memory, fast=fast)


def test_threads_each_with_a_store_run_concurrently(fast: bool) -> None:
    engine = wasmtime.Engine()
    calls = 10_000
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(seed: int) -> None:
        try:
            g = Guest(fast, engine)
            pair, sum3, write, read = g["pair"], g["sum3"], g.binding.write, g.binding.read
            start.wait()
            for i in range(calls):
                a = (seed << 24) ^ i
                assert pair(a, i) == (i << 32) | a
                if i % 10 == 0:
                    assert sum3(-i, seed << 40, 1) == (seed << 40) - i + 1
                if i % 100 == 0:
                    data = i.to_bytes(4, "little") * 8
                    write(4096, data)
                    assert read(4096, 32) == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- Helpers -------------------------------------------------------------------------


def _instance(engine: wasmtime.Engine, body: str) -> tuple[wasmtime.Store, Exports]:
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, bytes(wasmtime.wat2wasm(f"(module {body})")))
    return store, wasmtime.Instance(store, module, []).exports(store)


def _func_of(exports: Exports, name: str) -> wasmtime.Func:
    item = exports[name]
    assert isinstance(item, wasmtime.Func)
    return item


def _memory_of(exports: Exports, name: str) -> wasmtime.Memory:
    item = exports[name]
    assert isinstance(item, wasmtime.Memory)
    return item


def _offset(struct: type, field: str) -> int:
    return int(getattr(struct, field).offset)


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != _fastcall.ENV_NO_FASTCALL}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, check=True
    )


FIXED_BASE_MODULE = """
(module
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
)
"""


def test_fixed_base_view_follows_growth_and_refuses_what_is_outside() -> None:
    config = wasmtime.Config()
    config.memory_may_move = False  # what engine_for promises when it asks for fixed_base
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, bytes(wasmtime.wat2wasm(FIXED_BASE_MODULE)))
    exports = wasmtime.Instance(store, module, []).exports(store)
    binding = _fastcall.bind(store, _memory_of(exports, "memory"), fast=True, fixed_base=True)
    grow, poke = binding.func(_func_of(exports, "grow")), binding.func(_func_of(exports, "poke"))
    binding.write(100, b"hello")
    assert binding.read(100, 5) == b"hello"
    with pytest.raises(IndexError):
        binding.read(65536 - 2, 4)  # one page only, so far
    assert grow(3) == 1
    poke(65536 * 3 + 7, 42)  # the guest writes into the new pages
    assert binding.read(65536 * 3 + 7, 1) == b"\x2a"  # the view is re-made past its end
    binding.write(65536 * 4 - 3, b"end")
    assert binding.memory_size() == 4 * 65536
    with pytest.raises(IndexError):
        binding.write(65536 * 4 - 2, b"end")
    store.close()
    with pytest.raises(ValueError, match="closed"):
        binding.read(0, 1)


def test_the_prebuilt_ffi_is_the_one_cffi_writes_for_the_declarations() -> None:
    """bridge/runtime/_wasmtime_cffi.py spares every process pycparser (~50 ms at its first
    load): it must be what cffi writes for _CDEF today (regenerate it with
    `make_prebuilt_ffi` when this fails), and it is what the fast path uses."""
    from bridge.runtime import _wasmtime_cffi

    path = Path(_fastcall.__file__).with_name("_wasmtime_cffi.py")
    assert path.read_text(encoding="utf-8") == _fastcall.make_prebuilt_ffi()
    assert _wasmtime_cffi.CDEF == _fastcall._CDEF
    if _fastcall.probe() is None:
        assert _fastcall._capi is not None and _fastcall._capi.ffi is _wasmtime_cffi.ffi
