"""Calls into wasm through wasmtime's C API: the only module that touches it.

wasmtime-py's `Func.__call__` costs ~18 us a call (it looks the type up, boxes every
value, allocates arrays). `bind()` gives a `Binding` whose function callables cost
~0.5 us instead: cffi in ABI mode against the very library wasmtime-py loaded, with
`wasmtime_func_call_unchecked` and a raw-value array preallocated per function.

Everything the fast path relies on (symbols, struct layouts, wasmtime-py's private
attributes) is checked once by `probe()`, which also runs a small module both ways
and compares. When anything is off, `bind()` returns the fallback, a `Binding` on
wasmtime-py's public API with the same behaviour, and says so once on the
"bridge.runtime" logger. `BRIDGE_NO_FASTCALL=1` forces the fallback.

Both bindings raise what wasmtime-py raises (`wasmtime.Trap`, `wasmtime.WasmtimeError`,
`wasmtime.ExitTrap`, `ValueError("already closed")` for a closed store), so callers map
errors once. A binding serves one thread at a time (it reuses its buffers); bindings of
different stores run in parallel, as the GIL is released during the wasm call. After any
other exception (a KeyboardInterrupt that lands mid-call) the store's state is unknown:
callers must not use that store again.

`native_caller` gives an instance's method calls in one C call each (copy in, call, copy
out, free) through the optional extension bridge/runtime/_native.c, where the install
built it; it keeps the GIL across calls a method's history says are short, and gives it
up mid-call when such a call runs long (see `HOLD_GIL_BELOW_NS`). Without it (or with
BRIDGE_NO_NATIVE_CALL=1) callers use the bindings above.

`define_host_func` gives the guest a Python function as an import. Unlike wasmtime-py's
`Linker.define_func`, which parks an exception in a process-global slot that the next
thread to see any trap picks up, it hands the exception to a callback of the function's
owner, so a failure stays with the call it happened in.
"""

from __future__ import annotations

import ctypes
import importlib
import itertools
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn, Protocol

import wasmtime
from wasmtime import _ffi as _wffi

__all__ = [
    "ENV_NO_FASTCALL",
    "ENV_HOLD_GIL_US",
    "ENV_NO_NATIVE_CALL",
    "FAST",
    "HOLD_GIL_BELOW_NS",
    "WHY_NOT_FAST",
    "Binding",
    "NativeCaller",
    "WasmFunc",
    "bind",
    "define_host_func",
    "native_available",
    "native_caller",
    "probe",
    "trap_code",
]

_log = logging.getLogger("bridge.runtime")

ENV_NO_FASTCALL = "BRIDGE_NO_FASTCALL"

# Set on first read (module __getattr__ below): the probe compiles a module, which
# importing bridge should not pay for.
FAST: bool
"""`bind()` returns the fast binding (unless told otherwise)."""
WHY_NOT_FAST: str | None
"""Why not, when FAST is false; None when it is true."""

WasmFunc = Callable[..., Any]
"""A resolved export: takes the wasm arguments (ints, or floats for f32/f64), returns
None, the one result, or a list of results, as `wasmtime.Func.__call__` does. i32 and
i64 results are signed; arguments may be given signed or unsigned."""

_M32 = 0xFFFF_FFFF
_M64 = 0xFFFF_FFFF_FFFF_FFFF
_MASKS = {"i32": _M32, "i64": _M64}
_KINDS = ("i32", "i64", "f32", "f64")

# The part of wasmtime.h the fast path uses. Pointers the hot path only tests or
# passes back are declared intptr_t, so cffi hands out plain ints, not new cdata
# objects. wasmtime_func_t and wasmtime_memory_t are small values the fast path only
# copies and points to: they are `void *` here and copied with the size wasmtime-py's
# own declarations give (generated from this version's headers). The raw-value array
# is declared as uint64_t[2 * n]: one wasmtime_val_raw_t (16 bytes, little-endian)
# per slot, written and read through typed views.
_CDEF = """
intptr_t wasmtime_func_call_unchecked(void *context, const void *func,
                                      uint64_t *args_and_results, size_t args_and_results_len,
                                      intptr_t *trap_ret);
char *wasmtime_memory_data(void *context, const void *memory);
size_t wasmtime_memory_data_size(void *context, const void *memory);
void wasmtime_context_set_epoch_deadline(void *context, uint64_t ticks_beyond_current);
"""
_SYMBOLS = (
    "wasmtime_func_call_unchecked",
    "wasmtime_memory_data",
    "wasmtime_memory_data_size",
    "wasmtime_context_set_epoch_deadline",
)
_VAL_RAW_SIZE = 16


class Binding(Protocol):
    """Calls and memory access for one wasmtime Store and its instance."""

    fast: bool
    """This is the C-API binding (False: the public-API fallback)."""

    def func(self, f: wasmtime.Func) -> WasmFunc:
        """The callable for export `f`; resolve once, at load time."""
        ...

    def memory_size(self) -> int:
        """The memory's size in bytes now (it can grow during any call)."""
        ...

    def write(self, ptr: int, data: bytes | bytearray) -> None:
        """Copy `data` into memory at `ptr`; IndexError when it does not fit."""
        ...

    def read(self, ptr: int, length: int) -> bytes:
        """Copy `length` bytes out of memory from `ptr`; IndexError when out of range."""
        ...

    def set_epoch_deadline(self, ticks: int) -> None:
        """Trap (TrapCode.INTERRUPT) once the engine's epoch is `ticks` past now."""
        ...


def bind(
    store: wasmtime.Store,
    memory: wasmtime.Memory,
    *,
    fast: bool | None = None,
    fixed_base: bool = False,
) -> Binding:
    """A binding for `store` and `memory` (an export of an instance in that store).

    `fast=None` picks the fast binding when FAST; True insists on it (RuntimeError
    when it cannot work here); False takes the public-API fallback. The binding keeps
    `store` and `memory` alive; it must not be used after `store.close()` (it then
    raises ValueError, as wasmtime-py does).

    `fixed_base=True` promises that the memory never moves (an engine configured with
    `memory_may_move = False`): the binding then reads and writes memory through one
    cached view instead of asking wasmtime for the base address on every access.
    """
    if fast is None:
        _decide()
        fast = FAST
    if not fast:
        return _PublicBinding(store, memory)
    reason = probe()
    if reason is not None or _capi is None:
        raise RuntimeError(f"the fast wasmtime binding cannot be used: {reason}")
    return _FastBinding(_capi, store, memory, fixed_base=fixed_base)


# --- The fast binding ----------------------------------------------------------------


class _CApi:
    """The cffi handle on wasmtime's library, loaded once."""

    def __init__(self, ffi: Any, lib: Any, held_trap_code: Any) -> None:
        self.ffi = ffi
        self.lib = lib
        self.call_unchecked = lib.wasmtime_func_call_unchecked
        self.memory_data = lib.wasmtime_memory_data
        self.memory_data_size = lib.wasmtime_memory_data_size
        self.set_epoch_deadline = lib.wasmtime_context_set_epoch_deadline
        # wasmtime_trap_code through ctypes.PyDLL: a call that keeps the GIL. cffi's ABI
        # mode and ctypes.CDLL (wasmtime-py's) release it on every call, and beside
        # CPU-busy threads each release costs a switch interval or more to get it back.
        self.held_trap_code = held_trap_code


class _FastBinding:
    fast = True

    def __init__(
        self, capi: _CApi, store: wasmtime.Store, memory: wasmtime.Memory, *, fixed_base: bool
    ) -> None:
        ffi = capi.ffi
        self._capi = capi
        self._ffi = ffi
        # Held so neither is freed while the binding lives; the raw pointers below
        # point into them.
        self._store: Any = store
        self._memory = memory
        self._store_id = _store_id(store)
        _check_same_store(self._store_id, _memory_store_id(memory), "memory")
        self._ctx = ffi.cast("void *", ctypes.cast(store._context(), ctypes.c_void_p).value)
        self._mem = _copy_struct(ffi, memory._memory)
        # One trap slot per binding (one thread at a time); reset after each trap.
        self._trap = ffi.new("intptr_t *")
        # The memory's base address, cached between guest calls: it can move only when
        # memory grows, which only guest code does here, so every guest call clears it.
        self._base: list[Any] = [None]
        ops = _fixed_memory_ops if fixed_base else _memory_ops
        (self.memory_size, self.write, self.read, self.set_epoch_deadline) = ops(
            capi, store, self._ctx, self._mem, self._base
        )
        # A fixed base is never invalidated: calls clear a list nobody reads.
        self._cleared_by_calls: list[Any] = [None] if fixed_base else self._base
        self._fixed_base = fixed_base

    def func(self, f: wasmtime.Func) -> WasmFunc:
        _check_same_store(self._store_id, _func_store_id(f), "function")
        ty = f.type(self._store)
        params = [str(t) for t in ty.params]
        results = [str(t) for t in ty.results]
        if not all(k in _KINDS for k in params + results):
            # References and v128 are rare and need rooting: leave them to wasmtime-py.
            return _public_func(self._store, f, params)
        ffi = self._ffi
        fn = _copy_struct(ffi, f._func)
        nslots = max(len(params), len(results), 1)
        buf = ffi.new("uint64_t[]", 2 * nslots)
        views = {
            "u64": buf,
            "i64": ffi.cast("int64_t *", buf),
            "i32": ffi.cast("int32_t *", buf),
            "f32": ffi.cast("float *", buf),
            "f64": ffi.cast("double *", buf),
        }
        # Slot s starts at u64/i64/f64 index 2s and i32/f32 index 4s (16-byte slots).
        getters = [
            (views[k], 2 * s if k in ("i64", "f64") else 4 * s) for s, k in enumerate(results)
        ]
        target = _Target(
            self._store,
            self._ctx,
            fn,
            buf,
            nslots,
            self._trap,
            self._capi.call_unchecked,
            self._base,
        )
        if all(k in _MASKS for k in params) and len(params) <= 3 and len(results) <= 1:
            view, index = getters[0] if results else (_NO_RESULT, 0)
            return _int_call(target, [_MASKS[k] for k in params], view, index)
        return _generic_call(target, params, views, getters)


# --- The native call (bridge/runtime/_native.c), where it was built ---------------------

ENV_NO_NATIVE_CALL = "BRIDGE_NO_NATIVE_CALL"
ENV_HOLD_GIL_US = "BRIDGE_HOLD_GIL_US"
HOLD_GIL_BELOW_NS = 20_000
"""A method whose calls took less than this on average (measured per instance, per
method) is called with the GIL held: handing the GIL to another thread and taking it back
costs more than a short call, and other threads lost throughput by it. Longer calls, and a
method's first call, release it, and so do short calls while 2 to as many threads as
there are cores call bridge, so that their calls run side by side (docs/performance.md,
"Threads"). BRIDGE_HOLD_GIL_US overrides it for modules loaded afterwards (0: always
release)."""

_native_lock = threading.Lock()
_native_module: Any = None
_native_why_not: str | None = None


def native_available() -> str | None:
    """Why the native call is not used for modules loaded now, or None when it is."""
    forced = os.environ.get(ENV_NO_NATIVE_CALL, "")
    if forced not in ("", "0"):
        return f"{ENV_NO_NATIVE_CALL}={forced} is set"
    _load_native()
    return _native_why_not


def _load_native() -> Any:
    global _native_module, _native_why_not
    with _native_lock:
        if _native_module is not None or _native_why_not is not None:
            return _native_module
        reason = probe()
        if reason is not None or _capi is None:
            _native_why_not = f"the fast binding is off: {reason}"
            return None
        try:
            native = importlib.import_module("bridge.runtime._native")
        except ImportError:
            _native_why_not = "bridge was installed without it (no C compiler or Python headers)"
            return None
        ffi, lib = _capi.ffi, _capi.lib
        try:
            others = [
                ctypes.cast(getattr(_wffi.dll, name), ctypes.c_void_p).value
                for name in ("wasmtime_error_new", "wasmtime_store_epoch_deadline_callback")
            ]
        except AttributeError as exc:
            _native_why_not = f"wasmtime's library lacks a function: {exc}"
            return None
        native.init(
            *(
                int(ffi.cast("uintptr_t", getattr(lib, name)))
                for name in (
                    "wasmtime_func_call_unchecked",
                    "wasmtime_memory_data",
                    "wasmtime_memory_data_size",
                    "wasmtime_context_set_epoch_deadline",
                )
            ),
            *others,
        )
        _native_module = native
        return native


class NativeCaller:
    """One instance's methods through the native call (see bridge/runtime/_native.c).

    `call(slot, request, ticks)` arms the epoch deadline `ticks` ahead and answers the
    response bytes, or: an int >= 0, the method's raw result for the caller to handle
    (nothing copied out, nothing freed); -1 when the request needs a larger buffer
    (`set_request`); -2 when it is not bytes; -3 once closed; None when the call failed
    (`raise_failure()` raises what wasmtime-py would; `deadline_hit()` says whether it
    was the deadline, which then comes as an error, not a trap).
    """

    def __init__(self, native: Any, handle: Any) -> None:
        self._native = native
        self._handle = handle
        self.call: Callable[..., Any] = native.caller(handle)

    def set_request(self, ptr: int, capacity: int) -> None:
        self._native.set_request(self._handle, ptr, capacity)

    def raise_failure(self) -> NoReturn:
        err, trap = self._native.failure(self._handle)
        _raise_from(err, trap)

    def holds_gil(self, slot: int) -> tuple[bool, int, int]:
        """Whether the next call of method `slot` keeps the GIL by its duration (a call
        made while other threads call bridge too may release it anyway), its calls'
        average duration in ns (-1 before the first), and how many calls of the instance
        gave the GIL up midway, ever."""
        held, average, yields = self._native.held(self._handle, slot)
        return bool(held), int(average), int(yields)

    def deadline_hit(self) -> bool:
        """Whether the last failed call ran into its deadline (then forgotten)."""
        return bool(self._native.deadline_hit(self._handle))

    def close(self) -> None:
        self._native.close(self._handle)


def _hold_gil_below_ns() -> int:
    text = os.environ.get(ENV_HOLD_GIL_US, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if 0 <= value <= 1e6:
            return int(value * 1000)
        _log.warning(
            "%s=%s is not a number of microseconds (0-1000000): ignored", ENV_HOLD_GIL_US, text
        )
    return HOLD_GIL_BELOW_NS


def native_caller(
    binding: Binding,
    store: wasmtime.Store,
    free: wasmtime.Func,
    methods: Sequence[wasmtime.Func],
    *,
    max_len: int,
    hold_gil_below_ns: int | None = None,
) -> NativeCaller | None:
    """The native call for `methods` (each `(ptr, len) -> i64`) of `binding`'s instance,
    or None where it was not built, is switched off, or the binding is not the fast one
    with a fixed memory base. A method whose calls take less than `hold_gil_below_ns` on
    average (default HOLD_GIL_BELOW_NS; 0: never) is called with the GIL held: only
    where nothing that stops a guest at its deadline needs the GIL (the native ticker).
    With a threshold, the native call takes over the store's epoch-deadline callback:
    deadlines then fail calls with an error that `NativeCaller.deadline_hit` tells apart;
    bind it after the last call that expects wasmtime's own deadline trap."""
    if not isinstance(binding, _FastBinding) or not binding._fixed_base:
        return None
    if native_available() is not None:  # also reads BRIDGE_NO_NATIVE_CALL, each time
        return None
    native = _load_native()
    ffi = binding._ffi

    def raw(value: ctypes.Structure) -> bytes:
        return ctypes.string_at(ctypes.addressof(value), ctypes.sizeof(value))

    for f in (free, *methods):
        _check_same_store(binding._store_id, _func_store_id(f), "function")
    handle = native.bind(
        int(ffi.cast("uintptr_t", binding._ctx)),
        raw(binding._memory._memory),
        raw(free._func),
        [raw(f._func) for f in methods],
        max_len,
        _hold_gil_below_ns() if hold_gil_below_ns is None else hold_gil_below_ns,
        ctypes.cast(store.ptr(), ctypes.c_void_p).value,
    )
    return NativeCaller(native, handle)


def _copy_struct(ffi: Any, value: ctypes.Structure) -> Any:
    """A cffi copy of a wasmtime-py handle struct (store id + index: a plain value)."""
    size = ctypes.sizeof(value)
    copy = ffi.new("uint64_t[]", (size + 7) // 8)  # 8-aligned, as the C struct is
    ffi.memmove(copy, ffi.cast("void *", ctypes.addressof(value)), size)
    return copy


def _memory_ops(
    capi: _CApi, store: Any, ctx: Any, mem: Any, base: list[Any]
) -> tuple[
    Callable[[], int],
    Callable[[int, bytes | bytearray], None],
    Callable[[int, int], bytes],
    Callable[[int], None],
]:
    # Closures, not methods: each attribute lookup saved is ~20 ns on the hot path.
    memmove, unpack = capi.ffi.memmove, capi.ffi.unpack
    memory_data, memory_data_size = capi.memory_data, capi.memory_data_size
    set_deadline = capi.set_epoch_deadline
    # Wasm memories never shrink, so a size once seen is a safe lower bound: the
    # bounds check costs a C call only for a range beyond it.
    seen = [0]

    def memory_size() -> int:
        if store._Store__context is None:
            _closed()
        size: int = memory_data_size(ctx, mem)
        seen[0] = size
        return size

    def write(ptr: int, data: bytes | bytearray) -> None:
        if store._Store__context is None:
            _closed()
        n = len(data)
        if ptr < 0 or ptr + n > seen[0]:
            _check_range(ptr, n, memory_size())
        start = base[0]
        if start is None:
            start = base[0] = memory_data(ctx, mem)
        memmove(start + ptr, data, n)

    def read(ptr: int, length: int) -> bytes:
        if store._Store__context is None:
            _closed()
        if ptr < 0 or length < 0 or ptr + length > seen[0]:
            _check_range(ptr, length, memory_size())
        start = base[0]
        if start is None:
            start = base[0] = memory_data(ctx, mem)
        data: bytes = unpack(start + ptr, length)
        return data

    def set_epoch_deadline(ticks: int) -> None:
        if store._Store__context is None:
            _closed()
        if ticks < 0:
            raise ValueError(f"an epoch deadline is a tick count, not {ticks}")
        set_deadline(ctx, ticks)

    return memory_size, write, read, set_epoch_deadline


def _fixed_memory_ops(
    capi: _CApi, store: Any, ctx: Any, mem: Any, base: list[Any]
) -> tuple[
    Callable[[], int],
    Callable[[int, bytes | bytearray], None],
    Callable[[int, int], bytes],
    Callable[[int], None],
]:
    # The memory never moves, so one view over it stays valid for the store's life;
    # it is re-made only when an access reaches past it (memory grew). Slicing a
    # memoryview costs about half of cffi's memmove/unpack plus the pointer arithmetic.
    ffi = capi.ffi
    memory_data, memory_data_size = capi.memory_data, capi.memory_data_size
    _, _, _, set_epoch_deadline = _memory_ops(capi, store, ctx, mem, base)
    view = [memoryview(b"")]

    def refresh() -> memoryview:
        if store._Store__context is None:
            _closed()
        size = memory_data_size(ctx, mem)
        fresh = view[0] = memoryview(ffi.buffer(memory_data(ctx, mem), size))
        return fresh

    def memory_size() -> int:
        return len(refresh())

    def write(ptr: int, data: bytes | bytearray) -> None:
        if store._Store__context is None:
            _closed()
        end = ptr + len(data)
        v = view[0]
        if ptr < 0 or end > len(v):
            v = refresh()
            _check_range(ptr, len(data), len(v))
        v[ptr:end] = data

    def read(ptr: int, length: int) -> bytes:
        if store._Store__context is None:
            _closed()
        end = ptr + length
        v = view[0]
        if ptr < 0 or length < 0 or end > len(v):
            v = refresh()
            _check_range(ptr, length, len(v))
        return v[ptr:end].tobytes()

    return memory_size, write, read, set_epoch_deadline


class _Target(NamedTuple):
    """What a fast function callable closes over. `buf` must stay referenced: the typed
    views cast from it do not keep it alive."""

    store: Any
    ctx: Any
    fn: Any
    buf: Any
    nslots: int
    trap: Any
    c_call: Any
    base: list[Any]  # the binding's cached memory base, cleared by every call


# A no-result function "returns" view[0] of this: None, with no branch on the hot path.
_NO_RESULT = (None,)


def _int_call(t: _Target, masks: Sequence[int], view: Any, index: int) -> WasmFunc:
    # Integer params only, at most one result: the ABI's malloc, free and methods, and
    # most plain exports. One closure per arity keeps the hot path free of loops.
    # An i32 goes in zero-extended (as wasmtime's ValRaw::i32 does); reading a result
    # through the int32/int64 view gives it signed, as wasmtime-py does.
    store, ctx, fn, buf, n, trap, c_call, base = t
    if len(masks) == 0:

        def call0() -> Any:
            if store._Store__context is None:
                _closed()
            err = c_call(ctx, fn, buf, n, trap)
            base[0] = None
            if err or trap[0]:
                _raise_failure(err, trap)
            return view[index]

        return call0
    if len(masks) == 1:
        (m0,) = masks

        def call1(a: int) -> Any:
            if store._Store__context is None:
                _closed()
            buf[0] = a & m0
            err = c_call(ctx, fn, buf, n, trap)
            base[0] = None
            if err or trap[0]:
                _raise_failure(err, trap)
            return view[index]

        return call1
    if len(masks) == 2:
        m0, m1 = masks

        def call2(a: int, b: int) -> Any:
            if store._Store__context is None:
                _closed()
            buf[0] = a & m0
            buf[2] = b & m1
            err = c_call(ctx, fn, buf, n, trap)
            base[0] = None
            if err or trap[0]:
                _raise_failure(err, trap)
            return view[index]

        return call2
    m0, m1, m2 = masks

    def call3(a: int, b: int, c: int) -> Any:
        if store._Store__context is None:
            _closed()
        buf[0] = a & m0
        buf[2] = b & m1
        buf[4] = c & m2
        err = c_call(ctx, fn, buf, n, trap)
        base[0] = None
        if err or trap[0]:
            _raise_failure(err, trap)
        return view[index]

    return call3


def _generic_call(
    t: _Target, params: Sequence[str], views: dict[str, Any], getters: Sequence[tuple[Any, int]]
) -> WasmFunc:
    store, ctx, fn, buf, n, trap, c_call, base = t
    u64, f32, f64 = views["u64"], views["f32"], views["f64"]
    nparams = len(params)

    def put(slot: int, kind: str, value: Any) -> None:
        if kind in _MASKS:
            u64[2 * slot] = value & _MASKS[kind]
        elif kind == "f32":
            u64[2 * slot] = 0  # ValRaw::f32 zero-extends, like i32
            f32[4 * slot] = _to_float(value)
        else:
            f64[2 * slot] = _to_float(value)

    def call(*args: Any) -> Any:
        if len(args) != nparams:
            raise TypeError(f"the function takes {nparams} arguments ({len(args)} given)")
        if store._Store__context is None:
            _closed()
        for slot, (kind, value) in enumerate(zip(params, args, strict=True)):
            put(slot, kind, value)
        err = c_call(ctx, fn, buf, n, trap)
        base[0] = None
        if err or trap[0]:
            _raise_failure(err, trap)
        if len(getters) == 1:
            view, index = getters[0]
            return view[index]
        return [view[index] for view, index in getters] if getters else None

    return call


def _raise_failure(err: int, trap: Any) -> NoReturn:
    """Raise what `Func.__call__` raises for this error or trap (the cold path).

    A deadline's trap comes back while other threads may hold the GIL: every C call
    that gives it up here is one more wait for it before the caller hears. So the trap
    code is read first, with the GIL kept, and kept on the exception for `trap_code()`;
    a trap with a code is wasmtime's own, whose text is not needed to raise it.
    """
    trap_addr: int = trap[0]
    trap[0] = 0
    _raise_from(err, trap_addr)


def _raise_from(err: int, trap_addr: int) -> NoReturn:
    """`_raise_failure` for an error and a trap given by their addresses."""
    exc: Exception
    code: wasmtime.TrapCode | None | object = _UNKNOWN
    if trap_addr:
        exc = wasmtime.Trap._from_ptr(ctypes.cast(trap_addr, ctypes.POINTER(_wffi.wasm_trap_t)))
        if _held_trap_code is not None:
            code = _read_trap_code(_held_trap_code, trap_addr)
            if code is not _UNKNOWN:
                exc.__dict__[_CODE_KEY] = code
        if err:  # wasmtime sets one or the other; own it anyway so it is freed
            wasmtime.WasmtimeError._from_ptr(
                ctypes.cast(err, ctypes.POINTER(_wffi.wasmtime_error_t))
            )
    else:
        # An ExitTrap when WASI's proc_exit ran.
        exc = wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(err, ctypes.POINTER(_wffi.wasmtime_error_t))
        )
    # wasmtime-py's host functions trap with wasmtime_trap_new, which gives no code.
    if (code is _UNKNOWN or code is None) and _last_line(exc) == _WASMTIME_PY_TRAP:
        # A host function defined through wasmtime-py raised: it re-raises that instead.
        # Only then: its slot is process-global, and any other failure is this call's own.
        _maybe_raise_last_exn()
    raise exc


# Where _raise_failure keeps a trap's code on the wasmtime.Trap it raises.
_CODE_KEY = "_bridge_trap_code"
_UNKNOWN = object()
_held_trap_code: Any = None  # _CApi.held_trap_code, once loaded


def _read_trap_code(held_trap_code: Any, trap_addr: int) -> wasmtime.TrapCode | None | object:
    code = ctypes.c_uint8()
    if not held_trap_code(trap_addr, ctypes.byref(code)):
        return None
    try:
        return wasmtime.TrapCode(code.value)
    except ValueError:  # a code this wasmtime-py does not know: let it decide later
        return _UNKNOWN


def trap_code(exc: wasmtime.Trap) -> wasmtime.TrapCode | None:
    """`exc.trap_code`, without a C call when the fast binding raised `exc` (it read the
    code already, keeping the GIL; the property would give the GIL up)."""
    code = exc.__dict__.get(_CODE_KEY, _UNKNOWN)
    if code is _UNKNOWN:
        return exc.trap_code
    known: wasmtime.TrapCode | None = code
    return known


# What wasmtime-py's host-function trampoline traps with when the function raised.
_WASMTIME_PY_TRAP = "python exception"


def _last_line(exc: Exception) -> str:
    # wasmtime's text is the backtrace, then "Caused by:" and the host's own message.
    lines = str(exc).strip().splitlines()
    return lines[-1].strip() if lines else ""


def _maybe_raise_last_exn() -> None:
    from wasmtime import _func

    _func.maybe_raise_last_exn()


# --- Host functions: Python called by the guest ------------------------------------

HostFunc = Callable[..., Any]
"""A host function: called with a `wasmtime.Caller` and the wasm arguments (signed ints),
returns the one result (an int) or None."""
HostFailed = Callable[[BaseException], None]
"""Told what a host function raised, in the thread of the call, before the guest traps."""

_HOST_TRAP = b"bridge: a host function failed (the host has the exception)"
# Each defined function's (function, failure callback, param kinds, result kind), by the
# id wasmtime hands back to the trampoline; dropped when wasmtime drops the definition.
_host_funcs: dict[int, tuple[Callable[[], Any], Callable[[], Any], tuple[str, ...], str]] = {}
_host_ids = itertools.count(1)


def define_host_func(
    linker: wasmtime.Linker,
    module: str,
    name: str,
    ty: wasmtime.FuncType,
    func: HostFunc,
    failed: HostFailed,
) -> None:
    """Define the import `module`.`name` of type `ty` in `linker` as `func`.

    Only i32/i64 parameters and at most one i32/i64 result. When `func` raises anything,
    `failed(exception)` is called and the guest traps: nothing goes to wasmtime-py's
    process-global slot. Both callables are held weakly when they are bound methods, so
    that the definition does not keep their owner alive.
    """
    params = tuple(str(p) for p in ty.params)
    results = [str(r) for r in ty.results]
    if any(k not in _MASKS for k in (*params, *results)) or len(results) > 1:
        raise ValueError(f"a host function takes and returns i32/i64 only, not {ty}")
    key = next(_host_ids)
    _host_funcs[key] = (_weak(func), _weak(failed), params, results[0] if results else "")
    module_bytes, name_bytes = module.encode(), name.encode()
    error = _wffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(),
        ctypes.create_string_buffer(module_bytes),
        len(module_bytes),
        ctypes.create_string_buffer(name_bytes),
        len(name_bytes),
        ty.ptr(),
        _host_trampoline,
        key,
        _host_finalizer,
    )
    if error:
        _host_funcs.pop(key, None)
        raise wasmtime.WasmtimeError._from_ptr(error)


def _weak(f: Callable[..., Any]) -> Callable[[], Any]:
    if hasattr(f, "__self__") and hasattr(f, "__func__"):
        return weakref.WeakMethod(f)
    return lambda: f


def _host_call(key: int, caller_ptr: Any, raw: Any) -> int:
    """The trampoline's body: 0, or the address of a trap for the guest."""
    entry = _host_funcs.get(key)
    if entry is None:  # cannot happen while wasmtime still calls it; trap, do not guess
        return _new_trap()
    get_func, get_failed, params, result = entry
    caller = wasmtime.Caller(caller_ptr)
    try:
        func = get_func()
        if func is None:
            raise RuntimeError("the host function's owner is gone")
        value = func(
            caller, *[raw[i].i64 if k == "i64" else raw[i].i32 for i, k in enumerate(params)]
        )
        if result == "i64":
            raw[0].i64 = value
        elif result == "i32":
            raw[0].i32 = value
        return 0
    except BaseException as exc:  # noqa: BLE001 (each one is the call's, handed over below)
        failed = get_failed()
        if failed is not None:
            try:
                failed(exc)
            except BaseException:  # noqa: BLE001 (the trap still ends the call)
                _log.exception("reporting a host function's failure failed")
        return _new_trap()
    finally:
        caller._invalidate()


def _new_trap() -> int:
    trap = _wffi.wasmtime_trap_new(ctypes.create_string_buffer(_HOST_TRAP), len(_HOST_TRAP))
    address: int = ctypes.cast(trap, ctypes.c_void_p).value or 0
    return address


@_wffi.wasmtime_func_unchecked_callback_t  # type: ignore[untyped-decorator]
def _host_trampoline(env: int | None, caller: Any, raw: Any, _nraw: int) -> int:
    return _host_call(env or 0, caller, raw)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _host_finalizer(env: int | None) -> None:
    _host_funcs.pop(env or 0, None)


# --- The fallback: wasmtime-py's public API ----------------------------------------


class _PublicBinding:
    fast = False

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self._store = store
        self._memory = memory
        self._store_id = _store_id(store)
        _check_same_store(self._store_id, _memory_store_id(memory), "memory")

    def func(self, f: wasmtime.Func) -> WasmFunc:
        _check_same_store(self._store_id, _func_store_id(f), "function")
        return _public_func(self._store, f, [str(t) for t in f.type(self._store).params])

    def memory_size(self) -> int:
        size: int = self._memory.data_len(self._store)
        return size

    def write(self, ptr: int, data: bytes | bytearray) -> None:
        _check_range(ptr, len(data), self.memory_size())
        if data:
            self._memory.write(self._store, data, ptr)

    def read(self, ptr: int, length: int) -> bytes:
        _check_range(ptr, length, self.memory_size())
        return bytes(self._memory.read(self._store, ptr, ptr + length)) if length else b""

    def set_epoch_deadline(self, ticks: int) -> None:
        self._store._context()  # ValueError when closed, like the fast binding
        if ticks < 0:
            raise ValueError(f"an epoch deadline is a tick count, not {ticks}")
        self._store.set_epoch_deadline(ticks)


def _public_func(store: wasmtime.Store, f: wasmtime.Func, params: Sequence[str]) -> WasmFunc:
    # Arguments are normalised as the fast path takes them (any int, masked to the
    # width), so both bindings accept and refuse the same values.
    convert = [_NORMALISE.get(k, _same) for k in params]
    nparams = len(params)

    def call(*args: Any) -> Any:
        if len(args) != nparams:
            raise TypeError(f"the function takes {nparams} arguments ({len(args)} given)")
        return f(store, *[c(a) for c, a in zip(convert, args, strict=True)])

    return call


def _to_i32(value: int) -> int:
    return ((value & _M32) ^ 0x8000_0000) - 0x8000_0000


def _to_i64(value: int) -> int:
    return ((value & _M64) ^ 0x8000_0000_0000_0000) - 0x8000_0000_0000_0000


def _to_float(value: Any) -> float:
    if not isinstance(value, (int, float)):
        raise TypeError(f"expected a float, got {type(value).__name__}")
    return float(value)


def _same(value: Any) -> Any:
    return value


_NORMALISE: dict[str, Callable[[Any], Any]] = {
    "i32": _to_i32,
    "i64": _to_i64,
    "f32": _to_float,
    "f64": _to_float,
}


# --- Shared checks -------------------------------------------------------------------


def _check_range(ptr: int, length: int, size: int) -> None:
    if ptr < 0 or length < 0 or ptr + length > size:
        raise IndexError(
            f"[{ptr:#x}, {ptr + length:#x}) is outside the guest's memory of {size} bytes"
        )


def _closed() -> NoReturn:
    # What wasmtime-py's Store._context() raises once the store is closed.
    raise ValueError("already closed")


def _store_id(store: wasmtime.Store) -> int | None:
    """The store's id, from a global made in it (wasmtime has no call for it)."""
    try:
        probe_global = wasmtime.Global(
            store, wasmtime.GlobalType(wasmtime.ValType.i32(), False), wasmtime.Val.i32(0)
        )
        return int(probe_global._global.store_id)
    except AttributeError:  # wasmtime-py's internals moved: skip the check
        return None


def _func_store_id(f: wasmtime.Func) -> int | None:
    try:
        return int(f._func.store_id)
    except AttributeError:
        return None


def _memory_store_id(memory: wasmtime.Memory) -> int | None:
    raw = getattr(memory, "_memory", None)
    holder = getattr(raw, "_anon_1", raw)  # recent versions nest it in an anonymous struct
    store_id = getattr(holder, "store_id", None)
    return int(store_id) if store_id is not None else None


def _check_same_store(store_id: int | None, other: int | None, what: str) -> None:
    # wasmtime aborts the process when an object is used with another store (and the
    # unchecked call would not even notice): refuse here instead.
    if store_id is not None and other is not None and store_id != other:
        raise ValueError(f"the {what} belongs to another wasmtime.Store than the binding's")


# --- Deciding which binding to use ----------------------------------------------------

_lock = threading.Lock()
_decide_lock = threading.Lock()
_probed = False
_unavailable: str | None = None
_capi: _CApi | None = None

_SELF_CHECK_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i64) (result i64)
    (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)))
  (func (export "neg") (param i32) (result i32) (i32.sub (i32.const 0) (local.get 0)))
  (func (export "grow") (result i32) (memory.grow (i32.const 1)))
  (func (export "mix") (param f64 i32) (result f64 i32)
    (local.get 0) (local.get 1))
  (func (export "boom") unreachable)
)
"""


def probe() -> str | None:
    """Why the fast binding cannot be used in this process, or None when it can.

    Checked once: cffi, the library, the symbols, the struct layouts, wasmtime-py's
    private attributes, and a small module run through both bindings.
    """
    global _probed, _unavailable, _capi
    with _lock:
        if not _probed:
            try:
                capi, _unavailable = _load()
                if _unavailable is None and capi is not None:
                    _unavailable = _self_check(capi)
                    _capi = capi if _unavailable is None else None
            except Exception as exc:  # a self-check must never break loading
                _unavailable = f"the self-check failed: {type(exc).__name__}: {exc}"
            _probed = True
        return _unavailable


def _load() -> tuple[_CApi | None, str | None]:
    if sys.byteorder != "little":
        return None, "the raw-value views assume a little-endian host"
    try:
        cffi = importlib.import_module("cffi")
    except ImportError:
        return None, "cffi is not installed (pip install cffi)"
    path = getattr(_wffi, "filename", None)
    if path is None:
        return None, "wasmtime._ffi.filename (the path of wasmtime's library) is gone"
    for owner, names in (
        (_wffi, ("wasm_trap_t", "wasmtime_error_t", "wasmtime_func_t", "wasmtime_memory_t")),
        (_wffi, ("wasmtime_val_raw_t", "dll")),
        (wasmtime.Trap, ("_from_ptr",)),
        (wasmtime.WasmtimeError, ("_from_ptr",)),
        (wasmtime.Store, ("_context",)),
    ):
        for name in names:
            if not hasattr(owner, name):
                return None, f"wasmtime-py has no {getattr(owner, '__name__', owner)}.{name}"
    layout = _layout_problem()
    if layout is not None:
        return None, layout
    ffi = _prebuilt_ffi(cffi)
    try:
        lib = ffi.dlopen(str(path))
        held = ctypes.PyDLL(str(path))
    except OSError as exc:
        return None, f"cannot open {path}: {exc}"
    if ctypes.sizeof(_wffi.wasmtime_trap_code_t) != 1:
        return None, "wasmtime_trap_code_t is not one byte any more"
    try:
        held_trap_code = held.wasmtime_trap_code
    except AttributeError:
        return None, f"{path} has no symbol wasmtime_trap_code"
    held_trap_code.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8)]
    held_trap_code.restype = ctypes.c_bool
    if (
        ctypes.cast(held_trap_code, ctypes.c_void_p).value
        != ctypes.cast(_wffi.dll.wasmtime_trap_code, ctypes.c_void_p).value
    ):
        return None, "ctypes.PyDLL and wasmtime-py resolve wasmtime_trap_code differently"
    for name in _SYMBOLS:
        try:
            ours = int(ffi.cast("uintptr_t", getattr(lib, name)))
            theirs = ctypes.cast(getattr(_wffi.dll, name), ctypes.c_void_p).value
        except AttributeError:
            return None, f"{path} has no symbol {name}"
        # The same loaded copy of the library, or its pointers would mean nothing to us.
        if ours != theirs:
            return None, f"cffi and wasmtime-py resolve {name} to different libraries"
    global _held_trap_code
    _held_trap_code = held_trap_code
    return _CApi(ffi, lib, held_trap_code), None


def _prebuilt_ffi(cffi: Any) -> Any:
    """An FFI declaring _CDEF: the one cffi wrote out for it (`_wasmtime_cffi.py`, made by
    `make_prebuilt_ffi`), which imports in ~1 ms, where parsing _CDEF imports pycparser
    (~50 ms, on every process's first load); parsed here when that one is missing or
    was made for other declarations."""
    try:
        from . import _wasmtime_cffi

        if _wasmtime_cffi.CDEF == _CDEF:
            return _wasmtime_cffi.ffi
    except Exception:  # noqa: BLE001 (another cffi may not read it: parse, as before)
        pass
    ffi = cffi.FFI()
    ffi.cdef(_CDEF)
    return ffi


def make_prebuilt_ffi() -> str:
    """The text of `_wasmtime_cffi.py`: _CDEF as cffi's out-of-line ABI mode writes it
    (regenerate it when _CDEF changes; a test compares)."""
    import tempfile

    cffi = importlib.import_module("cffi")
    ffi = cffi.FFI()
    ffi.set_source("_wasmtime_cffi", None)
    ffi.cdef(_CDEF)
    with tempfile.TemporaryDirectory() as folder:
        written = ffi.compile(tmpdir=folder)
        with open(written, encoding="utf-8") as file:
            generated = file.read()
    return (
        "# Generated by bridge.runtime._fastcall.make_prebuilt_ffi (cffi's out-of-line ABI\n"
        "# mode) from _fastcall._CDEF: do not edit.\n"
        "# ruff: noqa\n"
        "# fmt: off\n"
        "# mypy: ignore-errors\n"
        f"{generated.rstrip()}\n\nCDEF = {_CDEF!r}\n"
    )


def _layout_problem() -> str | None:
    """The C layouts the fast path relies on, as wasmtime-py declares them."""
    raw = ctypes.sizeof(_wffi.wasmtime_val_raw_t)
    if raw != _VAL_RAW_SIZE:
        return f"wasmtime_val_raw_t is {raw} bytes, expected {_VAL_RAW_SIZE}"
    for struct in (_wffi.wasmtime_func_t, _wffi.wasmtime_memory_t):
        if not issubclass(struct, ctypes.Structure) or ctypes.sizeof(struct) % 8:
            return f"{struct.__name__} is not a struct of 8-byte alignment any more"
    return None


def _self_check(capi: _CApi) -> str | None:
    """Run a small module through both bindings; a description of any difference."""
    config = wasmtime.Config()
    config.memory_may_move = False  # so that the fixed-base mode is checked as used
    engine = wasmtime.Engine(config)
    module = wasmtime.Module(engine, bytes(wasmtime.wat2wasm(_SELF_CHECK_WAT)))
    public = _self_check_run(engine, module, _PublicBinding)
    for make in (
        lambda s, m: _FastBinding(capi, s, m, fixed_base=False),
        lambda s, m: _FastBinding(capi, s, m, fixed_base=True),
    ):
        fast = _self_check_run(engine, module, make)
        if fast != public:
            return f"the fast binding disagrees with wasmtime-py: {fast!r} != {public!r}"
    return None


def _self_check_run(
    engine: wasmtime.Engine,
    module: wasmtime.Module,
    make: Callable[[wasmtime.Store, wasmtime.Memory], Binding],
) -> list[object]:
    store = wasmtime.Store(engine)
    exports = wasmtime.Instance(store, module, []).exports(store)
    memory = exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    binding = make(store, memory)
    funcs = {}
    for name in ("add", "neg", "grow", "mix", "boom"):
        export = exports[name]
        assert isinstance(export, wasmtime.Func)
        funcs[name] = binding.func(export)
    seen: list[object] = [
        funcs["add"](-1, 1 << 63),
        funcs["add"](0xFFFF_FFFF, -5),
        funcs["neg"](5),
        funcs["neg"](-(1 << 31)),
        funcs["mix"](1.5, -7),
        funcs["grow"](),
        binding.memory_size(),
        memory.data_len(store),
    ]
    binding.write(65536 + 10, b"bridge")
    seen.append(binding.read(65536 + 8, 10))
    seen.append(bytes(memory.read(store, 65536 + 8, 65536 + 18)))
    try:
        funcs["boom"]()
        seen.append("no trap")
    except wasmtime.Trap as trap:
        seen.append((trap.trap_code, len(trap.frames) > 0, "unreachable" in trap.message))
        seen.append(trap_code(trap))  # the code the fast binding read itself, if it did
    seen.append(funcs["neg"](2))  # a call after a trap works (the trap slot was reset)
    store.close()
    try:
        funcs["neg"](1)
        seen.append("ran after close")
    except ValueError as exc:
        seen.append(str(exc))
    return seen


def _decide() -> None:
    global FAST, WHY_NOT_FAST
    with _decide_lock:
        if "FAST" in globals():
            return
        forced = os.environ.get(ENV_NO_FASTCALL, "")
        # The escape hatch must not touch the C API at all, not even to probe it.
        reason = f"{ENV_NO_FASTCALL}={forced} is set" if forced not in ("", "0") else probe()
        if reason is not None:
            _log.warning(
                "wasm calls take the slow path through wasmtime-py's public API (~18 us "
                "a call instead of ~0.5 us): %s",
                reason,
            )
        WHY_NOT_FAST = reason
        FAST = reason is None


def __getattr__(name: str) -> object:
    if name in ("FAST", "WHY_NOT_FAST"):
        _decide()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
