"""One live instance of a bridge module: a wasmtime Store, the instance, its resolved exports.

An instance runs one call at a time. Everything a call needs is resolved when the
instance is made (exports, the fast-call binding, the request buffer), so a call is a
copy in, one export call and a copy out. When the guest traps, runs out of time or
memory, or breaks the ABI, the instance marks itself `broken`: its memory can no longer
be trusted, and its pool replaces it.
"""

from __future__ import annotations

from time import monotonic_ns
from typing import NoReturn, TypeVar

import wasmtime
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from .. import abi
from ..config import RuntimeConfig
from ..errors import (
    AbiViolation,
    CallError,
    GuestError,
    LoadError,
    ResourceExhausted,
    StatusCode,
)
from . import _fastcall, limits, traps
from .hostcalls import HostServices, unimplemented
from .interface import ModuleInterface
from .output import GuestOutput

__all__ = ["Instance"]

_E = TypeVar("_E")
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_PTR_MASK, _LEN_SHIFT, _MAX_LEN = abi.PTR_MASK, abi.LEN_SHIFT, abi.MAX_MESSAGE_LEN
_BORROWED_BIT, _ERROR_BIT = abi.BORROWED_BIT, abi.ERROR_BIT
_TICK_NS = limits.EPOCH_TICK_NS
# The first request buffer; it grows (doubling) when a request does not fit.
_MIN_REQUEST_BUFFER = 1024


class Instance:
    """A ready instance: `_initialize` has run and every export is resolved."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        module: wasmtime.Module,
        interface: ModuleInterface,
        config: RuntimeConfig,
        *,
        name: str,
        host: HostServices | None = None,
    ) -> None:
        self.name = name
        self._host = host
        self._pending: bytes | None = None  # a host call's outcome not collected yet
        self.broken = False
        self._config = config
        self._deadline = limits.deadline_ticks(config.call_timeout_s)
        self._req_ptr = 0
        self._req_cap = 0
        self._fast: _fastcall.Binding | None = None
        self._armed_ns = 0  # when the epoch deadline was last set
        self._fuel = config.fuel
        self._max_message_bytes = config.max_message_bytes
        self._output = GuestOutput(name)
        self._store = wasmtime.Store(engine)
        try:
            self._store.set_wasi(self._wasi_config())
            self._output.writers_opened()
            self._store.set_limits(memory_size=config.memory_limit_bytes)
            self._start(engine, module, interface)
        except BaseException:
            self.close()
            raise

    def _start(
        self, engine: wasmtime.Engine, module: wasmtime.Module, interface: ModuleInterface
    ) -> None:
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        if interface.uses_host_calls:
            self._define_host_calls(linker)
        if self._config.fuel is not None:
            self._store.set_fuel(self._config.fuel)
        self._store.set_epoch_deadline(self._deadline)  # start functions and _initialize
        try:
            instance = linker.instantiate(self._store, module)
        except wasmtime.Trap as exc:  # a start function trapped
            raise self._failure(exc, "instantiation") from exc
        except wasmtime.WasmtimeError as exc:
            raise LoadError(f"{self.name} cannot be instantiated: {traps.first_line(exc)}") from exc
        exports = instance.exports(self._store)
        memory = _typed(exports[abi.EXPORT_MEMORY], wasmtime.Memory)
        # engine_for's engines never move memory (memory_may_move = False).
        fast = self._fast = _fastcall.bind(self._store, memory, fixed_base=True)
        # Bound once: each attribute lookup saved is a few tens of ns on every call.
        self._write, self._read = fast.write, fast.read
        self._set_deadline = fast.set_epoch_deadline
        self._malloc = fast.func(_typed(exports[abi.EXPORT_MALLOC], wasmtime.Func))
        self._free = fast.func(_typed(exports[abi.EXPORT_FREE], wasmtime.Func))
        self._methods = {m: fast.func(_typed(exports[m], wasmtime.Func)) for m in interface.methods}
        if interface.is_reactor:
            initialize = fast.func(_typed(exports[abi.EXPORT_INITIALIZE], wasmtime.Func))
            try:
                initialize()
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                raise self._failure(exc, "_initialize") from exc

    def _define_host_calls(self, linker: wasmtime.Linker) -> None:
        """The imports of docs/abi.md section 12; neither ever calls into the guest."""
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

        def host_call(caller: wasmtime.Caller, mptr: int, mlen: int, rptr: int, rlen: int) -> int:
            memory = _typed(caller["memory"], wasmtime.Memory)
            method_bytes = self._guest_bytes(caller, memory, mptr, mlen, "the method name")
            request = self._guest_bytes(caller, memory, rptr, rlen, "the request")
            method = method_bytes.decode("utf-8", "replace")
            if self._host is None:
                error, payload = unimplemented(method)
            else:
                error, payload = self._host.call(method, request)
            self._pending = payload
            packed = abi.pack(0, len(payload), error=error)
            return packed - (1 << 64) if packed >= 1 << 63 else packed  # as a signed i64

        def host_result(caller: wasmtime.Caller, dst: int, length: int) -> int:
            memory = _typed(caller["memory"], wasmtime.Memory)
            pending, dst, length = self._pending, dst & _PTR_MASK, length & _PTR_MASK
            if pending is None or length != len(pending):
                return abi.HOST_RESULT_FAILED
            if dst + length > memory.data_len(caller):
                return abi.HOST_RESULT_FAILED
            memory.write(caller, pending, dst)
            self._pending = None
            return length

        linker.define_func(
            abi.HOST_MODULE,
            abi.IMPORT_HOST_CALL,
            wasmtime.FuncType([i32, i32, i32, i32], [i64]),
            host_call,
            access_caller=True,
        )
        linker.define_func(
            abi.HOST_MODULE,
            abi.IMPORT_HOST_RESULT,
            wasmtime.FuncType([i32, i32], [i32]),
            host_result,
            access_caller=True,
        )

    def _guest_bytes(
        self, caller: wasmtime.Caller, memory: wasmtime.Memory, ptr: int, length: int, what: str
    ) -> bytes:
        ptr, length = ptr & _PTR_MASK, length & _PTR_MASK
        size = memory.data_len(caller)
        if ptr + length > size:
            self.broken = True
            raise AbiViolation(
                f"host call: {what} [{ptr:#x}, {ptr + length:#x}) lies outside the guest's "
                f"memory of {size} bytes"
            )
        return bytes(memory.read(caller, ptr, ptr + length)) if length else b""

    def close(self) -> None:
        """Drop the store and stop reading the guest's output; safe to call twice."""
        self.broken = True
        self._store.close()
        self._output.close()

    def call(self, method: str, request: bytes, timeout_s: float | None = None) -> bytes:
        """Call `method` with the encoded request; the encoded response, or a CallError.

        `timeout_s` overrides the configured deadline for this call.
        """
        size = len(request)
        if size > self._max_message_bytes:
            raise ResourceExhausted(
                f"{method}: request of {size} bytes is over the limit of "
                f"{self._max_message_bytes} bytes",
                method=method,
            )
        if self._fuel is not None:
            self._store.set_fuel(self._fuel)
        if timeout_s is None:
            # A deadline set less than a tick ago still covers a whole call (deadline_ticks
            # keeps a tick of margin): back-to-back calls skip the C call.
            now = monotonic_ns()
            if now - self._armed_ns > _TICK_NS:
                self._set_deadline(self._deadline)
                self._armed_ns = now
        else:
            self._set_deadline(limits.deadline_ticks(timeout_s))
            self._armed_ns = 0
        try:
            ptr = 0
            if size:
                ptr = self._req_ptr if size <= self._req_cap else self._grow_request(method, size)
                self._write(ptr, request)
            raw = self._methods[method](ptr, size) & _MASK64
            # abi.unpack's layout, inline: this is the hot path.
            out_ptr = raw & _PTR_MASK
            length = (raw >> _LEN_SHIFT) & _MAX_LEN
            payload = b""
            if length:
                if out_ptr == 0:
                    self._violation(method, f"returned a null pointer with length {length}")
                try:
                    # The binding checks the range against the memory's size now, after
                    # the call: memory may have grown during it.
                    payload = self._read(out_ptr, length)
                except IndexError:
                    self._violation(method, self._outside("the response", out_ptr, length))
            if out_ptr and not (raw >> _BORROWED_BIT) & 1:
                self._free(out_ptr)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._failure(exc, method, timeout_s) from exc
        if raw >> _ERROR_BIT:
            raise self._guest_error(method, payload)
        return payload

    def _grow_request(self, method: str, size: int) -> int:
        """A request buffer of at least `size` bytes, kept for later calls (ABI 4.2)."""
        if self._req_ptr:
            self._free(self._req_ptr)
            self._req_ptr = self._req_cap = 0
        capacity = max(size, 2 * self._req_cap, _MIN_REQUEST_BUFFER)
        ptr: int = self._malloc(capacity) & abi.PTR_MASK
        if ptr == 0:
            self.broken = True
            raise ResourceExhausted(
                f"{method}: the guest could not allocate {capacity} bytes for the request "
                "(malloc returned 0)",
                method=method,
            )
        if ptr + capacity > self.memory_size():
            self._violation(method, self._outside("malloc", ptr, capacity))
        self._req_ptr, self._req_cap = ptr, capacity
        return ptr

    def _outside(self, what: str, ptr: int, length: int) -> str:
        return (
            f"{what} [{ptr:#x}, {ptr + length:#x}) lies outside the guest's memory "
            f"of {self.memory_size()} bytes"
        )

    def _violation(self, method: str, what: str) -> NoReturn:
        self.broken = True
        raise AbiViolation(f"{method}: the guest broke the ABI: {what}", method=method)

    def _guest_error(self, method: str, payload: bytes) -> CallError:
        status = status_pb2.Status()
        try:
            status.ParseFromString(payload)
        except DecodeError:
            self.broken = True
            return AbiViolation(
                f"{method}: the guest's error payload is not a google.rpc.Status", method=method
            )
        if not 0 < status.code <= abi.MAX_STATUS_CODE:
            self.broken = True
            return AbiViolation(
                f"{method}: the guest returned an error with status code {status.code}, "
                f"which is not an error code (1..{abi.MAX_STATUS_CODE})",
                method=method,
            )
        return GuestError(StatusCode(status.code), status.message, method=method)

    def _failure(self, exc: Exception, method: str, timeout_s: float | None = None) -> CallError:
        self.broken = True
        return traps.classify(
            exc,
            method=method,
            config=self._config,
            timeout_s=timeout_s,
            memory_size=self.memory_size(),
            output=self._output,
        )

    def memory_size(self) -> int:
        """The guest's linear memory now, in bytes."""
        return self._fast.memory_size() if self._fast is not None else 0

    def _wasi_config(self) -> wasmtime.WasiConfig:
        # Nothing is granted unless the config grants it: no arguments, no stdin, no
        # environment, no directories; output goes to logging.
        config = wasmtime.WasiConfig()
        if self._config.inherit_stdio:
            config.inherit_stdout()
            config.inherit_stderr()
        else:
            config.stdout_file = self._output.stdout_path
            config.stderr_file = self._output.stderr_path
        if self._config.wasi_env:
            config.env = list(self._config.wasi_env.items())
        for host, guest in self._config.wasi_dirs.items():
            config.preopen_dir(host, guest)
        return config


def _typed(extern: object, kind: type[_E]) -> _E:
    # The interface check at load time guarantees the kinds; this only tells mypy.
    if not isinstance(extern, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(extern).__name__}")
    return extern
