"""One live instance of a bridge module: a wasmtime Store, the instance, its resolved exports.

An instance runs one call at a time. When the guest traps or breaks the ABI the instance
marks itself `broken`: its memory can no longer be trusted, and its owner replaces it.
"""

from __future__ import annotations

from typing import TypeVar

import wasmtime
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from .. import abi
from ..errors import (
    AbiViolation,
    GuestError,
    GuestTrap,
    LoadError,
    ResourceExhausted,
    StatusCode,
)
from .interface import ModuleInterface
from .output import GuestOutput

__all__ = ["Instance"]

_E = TypeVar("_E")


class Instance:
    """A ready instance: `_initialize` has run and every export is resolved."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        module: wasmtime.Module,
        interface: ModuleInterface,
        *,
        name: str,
        max_message_bytes: int = abi.DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.name = name
        self.broken = False
        self._max_message_bytes = max_message_bytes
        self._output = GuestOutput(name)
        self._store = wasmtime.Store(engine)
        self._store.set_wasi(self._wasi_config())
        self._output.writers_opened()
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        try:
            self._start(linker, module, interface, name)
        except BaseException:
            self.close()
            raise

    def _start(
        self,
        linker: wasmtime.Linker,
        module: wasmtime.Module,
        interface: ModuleInterface,
        name: str,
    ) -> None:
        try:
            instance = linker.instantiate(self._store, module)
        except wasmtime.Trap as exc:  # a start function trapped
            raise self._trap(exc, "instantiation") from exc
        except wasmtime.WasmtimeError as exc:
            raise LoadError(f"{name} cannot be instantiated: {_first_line(exc)}") from exc
        try:
            exports = instance.exports(self._store)
            self._memory = _typed(exports[abi.EXPORT_MEMORY], wasmtime.Memory)
            self._malloc = _typed(exports[abi.EXPORT_MALLOC], wasmtime.Func)
            self._free = _typed(exports[abi.EXPORT_FREE], wasmtime.Func)
            self._methods = {m: _typed(exports[m], wasmtime.Func) for m in interface.methods}
            if interface.is_reactor:
                _typed(exports[abi.EXPORT_INITIALIZE], wasmtime.Func)(self._store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._trap(exc, "_initialize") from exc

    def close(self) -> None:
        """Drop the store and stop reading the guest's output; safe to call twice."""
        self.broken = True
        self._store.close()
        self._output.close()

    def call(self, method: str, request: bytes) -> bytes:
        """Call `method` with the encoded request; the encoded response, or a CallError."""
        size = len(request)
        if size > self._max_message_bytes:
            raise ResourceExhausted(
                f"{method}: request of {size} bytes is over the limit of "
                f"{self._max_message_bytes} bytes",
                method=method,
            )
        store = self._store
        try:
            req_ptr = self._copy_in(method, request) if size else 0
            raw = self._methods[method](store, req_ptr, size)
            result = abi.unpack(raw)
            payload = self._copy_out(method, result)
            if not result.borrowed and result.ptr:
                self._free(store, result.ptr)
            if req_ptr:
                self._free(store, req_ptr)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._trap(exc, method) from exc
        if result.error:
            raise self._guest_error(method, payload)
        return payload

    def _copy_in(self, method: str, request: bytes) -> int:
        size = len(request)
        ptr = self._malloc(self._store, size)
        if not isinstance(ptr, int):
            raise AssertionError("malloc's signature was checked at load time")
        ptr &= 0xFFFF_FFFF
        if ptr == 0:
            self.broken = True
            raise ResourceExhausted(
                f"{method}: the guest could not allocate {size} bytes for the request "
                "(malloc returned 0)",
                method=method,
            )
        self._check_range(method, "malloc", ptr, size)
        self._memory.write(self._store, request, ptr)
        return ptr

    def _copy_out(self, method: str, result: abi.Result) -> bytes:
        if result.length == 0:
            return b""
        if result.ptr == 0:
            self._violation(method, f"returned a null pointer with length {result.length}")
        self._check_range(method, "the response", result.ptr, result.length)
        return bytes(self._memory.read(self._store, result.ptr, result.ptr + result.length))

    def _check_range(self, method: str, what: str, ptr: int, length: int) -> None:
        # Read the size now, not at load: memory may have grown during the call.
        memory_size = self._memory.data_len(self._store)
        if ptr + length > memory_size:
            self._violation(
                method,
                f"{what} [{ptr:#x}, {ptr + length:#x}) lies outside the guest's memory "
                f"of {memory_size} bytes",
            )

    def _violation(self, method: str, what: str) -> None:
        self.broken = True
        raise AbiViolation(f"{method}: the guest broke the ABI: {what}", method=method)

    def _guest_error(self, method: str, payload: bytes) -> Exception:
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

    def _trap(self, exc: Exception, method: str) -> GuestTrap:
        self.broken = True
        stderr = self._output.tail()
        # Go and Rust on WASI print the panic on stderr before trapping (Rust on
        # wasm32-unknown-unknown cannot): that line says more than the trap itself.
        panic = next(
            (ln for ln in stderr.splitlines() if ln.startswith("panic:") or "panicked at" in ln),
            "",
        )
        self._output.clear()
        if isinstance(exc, wasmtime.ExitTrap):
            summary = f"the guest exited with status {exc.code}"
            return GuestTrap(
                f"{method} trapped: {summary}" + (f" ({panic})" if panic else ""),
                method=method,
                guest_exit_code=exc.code,
                guest_stderr=stderr,
            )
        trap_code = None
        if isinstance(exc, wasmtime.Trap) and exc.trap_code is not None:
            trap_code = exc.trap_code.name.lower()
        return GuestTrap(
            f"{method} trapped: {_trap_reason(exc)}" + (f" ({panic})" if panic else ""),
            method=method,
            trap_code=trap_code,
            backtrace=str(exc).strip(),
            guest_stderr=stderr,
        )

    def _wasi_config(self) -> wasmtime.WasiConfig:
        # Nothing granted: no arguments, environment, preopened directory or stdin.
        config = wasmtime.WasiConfig()
        config.stdout_file = self._output.stdout_path
        config.stderr_file = self._output.stderr_path
        return config


def _typed(extern: object, kind: type[_E]) -> _E:
    # The interface check at load time guarantees the kinds; this only tells mypy.
    if not isinstance(extern, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(extern).__name__}")
    return extern


def _trap_reason(exc: Exception) -> str:
    # wasmtime's text starts with the backtrace and ends with "wasm trap: <reason>".
    text = str(exc)
    marker = "wasm trap: "
    if marker in text:
        return text[text.rindex(marker) + len(marker) :].strip().splitlines()[0]
    return _first_line(exc)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
