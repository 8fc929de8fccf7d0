"""One live instance of a bridge module: a wasmtime Store, the instance, its resolved exports.

An instance runs one call at a time. Everything a call needs is resolved when the
instance is made (exports, the fast-call binding, the request buffer), so a call is a
copy in, one export call and a copy out. When the guest traps, runs out of time or
memory, or breaks the ABI, the instance marks itself `broken`: its memory can no longer
be trusted, and its pool replaces it. Any other exception that escapes a call (one
nobody foresaw, a KeyboardInterrupt landing mid-call) marks it broken too.

Failures are kept per instance, never process-wide: what a host call raises is handed
to the instance that made it (`_fastcall.define_host_func`), so it fails that call only.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic_ns
from typing import NoReturn, TypeVar

import wasmtime
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from .. import abi
from ..config import RuntimeConfig
from ..errors import (
    AbiMismatch,
    AbiViolation,
    CallError,
    DeadlineExceeded,
    GuestError,
    HostCallFailed,
    LoadError,
    ResourceExhausted,
    StatusCode,
)
from . import _fastcall, limits, streams, traps
from .hostcalls import HostServices, unimplemented
from .interface import ModuleInterface
from .output import GuestOutput
from .streams import RECV_ENDED, CallState

__all__ = ["Instance"]

_E = TypeVar("_E")
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_PTR_MASK, _LEN_SHIFT, _MAX_LEN = abi.PTR_MASK, abi.LEN_SHIFT, abi.MAX_MESSAGE_LEN
_BORROWED_BIT, _ERROR_BIT = abi.BORROWED_BIT, abi.ERROR_BIT
_TICK_NS = limits.EPOCH_TICK_NS
# The first request buffer; it grows (doubling) when a request does not fit.
_MIN_REQUEST_BUFFER = 1024


class _HostCallFailure(Exception):
    """A host call failed the guest's call; `error(method)` is what its caller gets."""

    def __init__(self, error: Callable[[str], CallError]) -> None:
        super().__init__()
        self.error = error


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
        self._host_failure: BaseException | None = None  # what failed the call under way
        self._host_method = ""  # the host method of the host call under way
        # The call under way's context (docs/abi.md sections 14 and 15); None for a plain
        # unary call, whose imports then answer as the ABI says for one.
        self._call: CallState | None = None
        self.broken = False
        self._config = config
        self._deadline = limits.deadline_ticks(config.call_timeout_s)
        self._req_ptr = 0
        self._req_cap = 0
        self._fast: _fastcall.Binding | None = None
        self._native: _fastcall.NativeCaller | None = None
        self._native_call: Callable[[int, bytes, int], object] | None = None
        self._armed_ns = 0  # when the epoch deadline was last set
        # A per-call timeout's (end in ns, timeout_s) while it applies, for host calls.
        self._explicit_deadline: tuple[int, float] | None = None
        self._fuel = config.fuel
        self._max_message_bytes = config.max_message_bytes
        self._output = GuestOutput(name)
        self._store = wasmtime.Store(engine)
        try:
            self._store.set_wasi(self._wasi_config())
            self._output.writers_opened()
            limits.limit_store(self._store, config)
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
            self._define_host_calls(linker, interface.host_imports)
        if self._config.fuel is not None:
            self._store.set_fuel(self._config.fuel)
        self._store.set_epoch_deadline(self._deadline)  # start functions and _initialize
        self._armed_ns = monotonic_ns()
        try:
            instance = linker.instantiate(self._store, module)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            if isinstance(exc, wasmtime.Trap) or self._host_failure is not None:
                # a start function trapped, or failed in a host call
                raise self._failure(exc, "instantiation")  # noqa: B904 (it sets __cause__)
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
                raise self._failure(exc, "_initialize")  # noqa: B904 (it sets __cause__)
        #: The methods with a server behind them, when the module says (docs/abi.md
        #: section 13); None: every method it exports.
        self.served: frozenset[str] | None = None
        if abi.EXPORT_SERVED in interface.export_names:
            self.served = self._served(fast.func(_typed(exports[abi.EXPORT_SERVED], wasmtime.Func)))
        # The native call (copy in, call, copy out in one C call), where it was built. Bound
        # last: it takes over the store's epoch-deadline callback.
        self._slots = {m: slot for slot, m in enumerate(interface.methods)}
        self._native = _fastcall.native_caller(
            fast,
            self._store,
            _typed(exports[abi.EXPORT_FREE], wasmtime.Func),
            [_typed(exports[m], wasmtime.Func) for m in interface.methods],
            max_len=min(self._max_message_bytes, _MAX_LEN),
            # A Python ticker needs the GIL to advance the epoch: a call that kept it
            # could never reach its deadline.
            hold_gil_below_ns=None if limits.ticker.kind == "native" else 0,
        )
        self._native_call = self._native.call if self._native is not None else None

    def _served(self, served: Callable[[], int]) -> frozenset[str]:
        """What the module's bridge_served export answers: method names, one a line."""
        try:
            raw = served() & _MASK64
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._failure(exc, abi.EXPORT_SERVED)  # noqa: B904 (it sets __cause__)
        ptr, length = raw & _PTR_MASK, (raw >> _LEN_SHIFT) & _MAX_LEN
        problem = "answered an error" if raw >> _ERROR_BIT else None
        text = b""
        if problem is None and length:
            try:
                text = self._read(ptr, length)
            except IndexError:
                problem = self._outside("its answer", ptr, length)
            if not (raw >> _BORROWED_BIT) & 1:
                self._free(ptr)
        try:
            names = text.decode("utf-8").split()
        except UnicodeDecodeError:
            problem = problem or "answered bytes that are not UTF-8 method names"
        if problem is not None:
            self.broken = True
            raise AbiMismatch(f"{self.name}: {abi.EXPORT_SERVED} {problem}", path=self.name)
        return frozenset(names)

    def _define_host_calls(self, linker: wasmtime.Linker, names: frozenset[str]) -> None:
        """The `bridge` imports the module uses (docs/abi.md sections 12, 14 and 15);
        none ever calls into the guest."""
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        imports: dict[str, tuple[wasmtime.FuncType, Callable[..., int]]] = {
            abi.IMPORT_HOST_CALL: (wasmtime.FuncType([i32] * 4, [i64]), self._host_call),
            abi.IMPORT_HOST_RESULT: (wasmtime.FuncType([i32, i32], [i32]), self._host_result),
            abi.IMPORT_STREAM_RECV: (wasmtime.FuncType([], [i64]), self._stream_recv),
            abi.IMPORT_STREAM_SEND: (wasmtime.FuncType([i32] * 3, [i32]), self._stream_send),
            abi.IMPORT_CALL_INFO: (wasmtime.FuncType([], [i64]), self._call_info),
            abi.IMPORT_DEADLINE: (wasmtime.FuncType([], [i64]), self._deadline_left),
            abi.IMPORT_SET_METADATA: (wasmtime.FuncType([i32] * 5, [i32]), self._set_metadata),
            abi.IMPORT_SET_COMPRESSION: (wasmtime.FuncType([i32], [i32]), self._set_compression),
        }
        for name in sorted(names & imports.keys()):  # the load check refused any other
            ty, func = imports[name]
            _fastcall.define_host_func(linker, abi.HOST_MODULE, name, ty, func, self._host_failed)

    def _host_call(
        self, caller: wasmtime.Caller, mptr: int, mlen: int, rptr: int, rlen: int
    ) -> int:
        # Any exception here fails the guest's call: _host_failed keeps it, the guest traps.
        self._pending = None  # an outcome never collected is dropped (section 12, step 4)
        self._host_method = ""
        memory = _typed(caller["memory"], wasmtime.Memory)
        method_bytes = self._guest_bytes(caller, memory, mptr, mlen, "the method name")
        method = self._host_method = method_bytes.decode("utf-8", "replace")
        limit = self._max_message_bytes
        if rlen & _PTR_MASK > limit:
            what = f"host call {method}: request of {rlen & _PTR_MASK} bytes"
            raise _HostCallFailure(lambda m: _over_limit(m, what, limit))
        request = self._guest_bytes(caller, memory, rptr, rlen, "the request")
        if self._host is None:
            error, payload = unimplemented(method)
        else:
            error, payload = self._host.call(method, request)
        if len(payload) > limit:
            what = f"host method {method} answered with {len(payload)} bytes"
            raise _HostCallFailure(lambda m: _over_limit(m, what, limit))
        self._check_deadline(method)
        self._pending = payload
        return _signed(abi.pack(0, len(payload), error=error))

    def _host_result(self, caller: wasmtime.Caller, dst: int, length: int) -> int:
        memory = _typed(caller["memory"], wasmtime.Memory)
        pending, dst, length = self._pending, dst & _PTR_MASK, length & _PTR_MASK
        if pending is None or length != len(pending):
            return abi.HOST_RESULT_FAILED
        if dst + length > memory.data_len(caller):
            return abi.HOST_RESULT_FAILED
        memory.write(caller, pending, dst)
        self._pending = None
        return length

    # --- Streams and the call's context (docs/abi.md sections 14 and 15) ---

    def _stream_recv(self, caller: wasmtime.Caller) -> int:
        self._pending = None  # an outcome never collected is dropped, as at a host call
        state = self._call
        if state is None:  # a plain unary call: its one request was the argument
            return abi.RECV_END
        got = state.recv()
        if isinstance(got, str):
            if got == RECV_ENDED:
                return abi.RECV_END
            status = state.closed_status()  # RECV_CLOSED
            self._pending = status
            self._grant_grace(state)
            return _signed(abi.pack(0, len(status), error=True))
        message, compressed = got
        self._pending = message or None
        return (len(message) << _LEN_SHIFT) | (abi.RECV_COMPRESSED if compressed else 0)

    def _stream_send(self, caller: wasmtime.Caller, ptr: int, length: int, flags: int) -> int:
        state = self._call
        if state is None or state.window is None:
            kind = "a unary" if state is None else f"a {state.kind.label}"
            raise _HostCallFailure(
                lambda m: AbiViolation(
                    f"{m}: the guest broke the ABI: stream_send in {kind} call, which has "
                    "one response (docs/abi.md section 14)",
                    method=m,
                )
            )
        flags &= _PTR_MASK
        if flags & ~abi.SEND_UNCOMPRESSED:
            raise _HostCallFailure(
                lambda m: AbiViolation(
                    f"{m}: the guest broke the ABI: stream_send with unknown flags {flags:#x}",
                    method=m,
                )
            )
        length &= _PTR_MASK
        limit = self._max_message_bytes
        if length > limit:
            what = f"stream_send of a message of {length} bytes"
            raise _HostCallFailure(lambda m: _over_limit(m, what, limit))
        memory = _typed(caller["memory"], wasmtime.Memory)
        message = self._guest_bytes(caller, memory, ptr, length, "the message")
        answer = state.send(message, bool(flags & abi.SEND_UNCOMPRESSED))
        if answer == abi.STREAM_CLOSED:
            self._grant_grace(state)
        return answer

    def _call_info(self, caller: wasmtime.Caller) -> int:
        state = self._call
        info = state.call_info() if state is not None else b""
        self._pending = info or None
        return len(info) << _LEN_SHIFT

    def _deadline_left(self, caller: wasmtime.Caller) -> int:
        state = self._call
        if state is not None:
            return state.time_left_ns()
        if self._explicit_deadline is not None:
            end_ns = self._explicit_deadline[0]
        elif self._config.call_timeout_s is not None:
            # The deadline armed at _armed_ns covers this call (Instance.call).
            end_ns = self._armed_ns + int(self._config.call_timeout_s * 1e9)
        else:
            return abi.NO_DEADLINE
        return max(0, end_ns - monotonic_ns())

    def _set_metadata(
        self, caller: wasmtime.Caller, kind: int, kptr: int, klen: int, vptr: int, vlen: int
    ) -> int:
        memory = _typed(caller["memory"], wasmtime.Memory)
        # Both ranges are checked before anything is refused: one outside memory breaks
        # the ABI whatever else is wrong.
        size = memory.data_len(caller)
        klen, vlen = klen & _PTR_MASK, vlen & _PTR_MASK
        for what, ptr, length in (("the key", kptr, klen), ("the value", vptr, vlen)):
            if (ptr & _PTR_MASK) + length > size:
                self._guest_bytes(caller, memory, ptr, length, what)  # raises
        if klen > 255 or vlen > self._max_message_bytes:
            return abi.METADATA_REFUSED
        key = self._guest_bytes(caller, memory, kptr, klen, "the key")
        value = self._guest_bytes(caller, memory, vptr, vlen, "the value")
        state = self._call
        if state is None:
            # call() answers bytes only: valid metadata is taken, and goes nowhere.
            valid = kind in (abi.METADATA_HEADER, abi.METADATA_TRAILER)
            return 0 if valid and streams.valid_metadata(key, value) else abi.METADATA_REFUSED
        return state.add_metadata(kind, key, value)

    def _set_compression(self, caller: wasmtime.Caller, algorithm: int) -> int:
        state = self._call
        if state is None:
            valid = algorithm in (abi.COMPRESSION_NONE, abi.COMPRESSION_GZIP)
            return 0 if valid else abi.METADATA_REFUSED
        return state.set_compression(algorithm)

    def _grant_grace(self, state: CallState) -> None:
        """The guest was told its deadline passed: it has CLOSE_GRACE_S to return, and
        keeps its instance when it does; it is stopped after that. (Only ever later:
        compiled code caches its deadline, so an earlier one would not be seen by the
        function that runs. A guest told of a cancel keeps the deadline it had.)"""
        if state.ended_by != streams.DEADLINE:
            return
        self._set_deadline(limits.deadline_ticks(streams.CLOSE_GRACE_S))
        self._armed_ns = 0  # the next call arms its own deadline

    def run(self, state: CallState, request: bytes) -> bytes:
        """A call with a context (GuestModule.invoke and .stream): the imports read and
        change `state`. The response (b"" for a server-streaming or bidirectional call,
        whose messages went through the state's window), or the call's error."""
        self._pending = None  # nothing of an earlier call can be collected
        self._call = state
        method = state.method
        try:
            response = self.call(method, request, state.start())
        except CallError as exc:
            outcome = state.outcome()
            if outcome is not None:
                # The call was over before the guest failed (perhaps stopped after its
                # grace): that is what the caller gets.
                raise outcome from exc
            raise
        finally:
            self._call = None
            self._pending = None
        outcome = state.outcome()
        if outcome is not None:
            raise outcome  # what the guest returned after that is not delivered
        if response and state.kind.server_streaming:
            self._violation(
                method,
                f"a {state.kind.label} method returned a response of {len(response)} bytes; "
                "its messages go through stream_send and it returns len = 0",
            )
        return response

    def _host_failed(self, exc: BaseException) -> None:
        """Called by the trampoline, in the caller's thread, right before the guest traps."""
        self.broken = True
        if self._host_failure is None:
            self._host_failure = exc

    def _check_deadline(self, method: str) -> None:
        """Fail the call when the host method returned after the call's deadline: the
        epoch cannot interrupt Python, so the guest is stopped as soon as it is back."""
        if self._explicit_deadline is not None:
            end_ns, timeout_s = self._explicit_deadline
        elif self._config.call_timeout_s is not None:
            timeout_s = self._config.call_timeout_s
            # The epoch deadline armed then covers calls that start within a tick of it.
            end_ns = self._armed_ns + int(timeout_s * 1e9) + _TICK_NS
        else:
            return
        if monotonic_ns() > end_ns:
            raise _HostCallFailure(
                lambda m: DeadlineExceeded(
                    f"{m} ran past its deadline of {timeout_s} s in host method {method} "
                    "and was stopped when it returned",
                    method=m,
                    timeout_s=timeout_s,
                )
            )

    def _guest_bytes(
        self, caller: wasmtime.Caller, memory: wasmtime.Memory, ptr: int, length: int, what: str
    ) -> bytes:
        ptr, length = ptr & _PTR_MASK, length & _PTR_MASK
        size = memory.data_len(caller)
        if ptr + length > size:
            outside = (
                f"{what} [{ptr:#x}, {ptr + length:#x}) lies outside the guest's memory "
                f"of {size} bytes"
            )
            raise _HostCallFailure(
                lambda m: AbiViolation(
                    f"{m}: the guest broke the ABI in a host call: {outside}", method=m
                )
            )
        return bytes(memory.read(caller, ptr, ptr + length)) if length else b""

    def close(self) -> None:
        """Drop the store and stop reading the guest's output; safe to call twice."""
        self.broken = True
        if self._native is not None:
            self._native.close()  # before the store goes: it points into it
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
        native = self._native_call
        if native is not None and request.__class__ is bytes:
            # The native call arms the deadline itself, on every call.
            if timeout_s is None:
                ticks = self._deadline
                self._armed_ns = monotonic_ns()
                self._explicit_deadline = None
            else:
                ticks = limits.deadline_ticks(timeout_s)
                self._armed_ns = 0  # the next call without a timeout re-arms
                self._explicit_deadline = (monotonic_ns() + int(timeout_s * 1e9), timeout_s)
        else:
            if native is not None:
                # The native call arms short deadlines of its own: arm this one afresh.
                self._armed_ns = 0
            native = None
            ticks = self._arm(timeout_s)
        try:
            if native is not None:
                slot = self._slots[method]
                out = native(slot, request, ticks)
                if out.__class__ is bytes:
                    return out
                if out == -1:  # the request buffer is too small: grow it, call again
                    self._set_deadline(ticks)  # malloc runs under the call's deadline too
                    self._grow_request(method, size)
                    out = native(slot, request, ticks)
                    if out.__class__ is bytes:
                        return out
                if out is None:
                    assert self._native is not None
                    self._native.raise_failure()
                if isinstance(out, int) and out >= 0:
                    raw = out  # an unusual result (a guest error, a response to check)
                else:  # closed (-3): the Python path says so as it always has
                    self._set_deadline(ticks)
                    raw = self._call_export(method, request)
            else:
                raw = self._call_export(method, request)
            payload = self._finish(method, raw)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._failure(exc, method, timeout_s)  # noqa: B904 (it sets __cause__)
        except CallError:
            raise  # raised on purpose above, where it was decided whether the guest broke
        except BaseException:
            # Anything else (a KeyboardInterrupt landing mid-call, a bug): the guest may be
            # mid-call or trapped, so its state is unknown.
            self.broken = True
            raise
        if raw >> _ERROR_BIT:
            raise self._guest_error(method, payload)
        return payload

    def _arm(self, timeout_s: float | None) -> int:
        """Arm the deadline of a call through the Python path; its ticks."""
        if timeout_s is None:
            # A deadline set less than a tick ago still covers a whole call (deadline_ticks
            # keeps a tick of margin): back-to-back calls skip the C call.
            now = monotonic_ns()
            if now - self._armed_ns > _TICK_NS:
                self._set_deadline(self._deadline)
                self._armed_ns = now
                self._explicit_deadline = None
            return self._deadline
        ticks = limits.deadline_ticks(timeout_s)
        self._set_deadline(ticks)
        self._armed_ns = 0  # the next call without a timeout re-arms
        self._explicit_deadline = (monotonic_ns() + int(timeout_s * 1e9), timeout_s)
        return ticks

    def _call_export(self, method: str, request: bytes) -> int:
        """The pure-Python call: copy the request in, call the export; its raw result."""
        ptr = 0
        size = len(request)
        if size:
            ptr = self._req_ptr if size <= self._req_cap else self._grow_request(method, size)
            self._write(ptr, request)
        raw: int = self._methods[method](ptr, size) & _MASK64
        return raw

    def _finish(self, method: str, raw: int) -> bytes:
        """The response of a call that returned `raw` (abi.unpack's layout, inline: this
        is the hot path of the pure-Python call), copied out and freed unless borrowed."""
        out_ptr = raw & _PTR_MASK
        length = (raw >> _LEN_SHIFT) & _MAX_LEN
        payload = b""
        if length:
            if out_ptr == 0:
                self._violation(method, f"returned a null pointer with length {length}")
            if length > self._max_message_bytes:
                # Responses have the requests' limit; refused before the copy out
                # (a range outside memory is still the guest's fault, checked first).
                if out_ptr + length > self.memory_size():
                    self._violation(method, self._outside("the response", out_ptr, length))
                if not (raw >> _BORROWED_BIT) & 1:
                    self._free(out_ptr)
                raise ResourceExhausted(
                    f"{method}: response of {length} bytes is over the limit of "
                    f"{self._max_message_bytes} bytes",
                    method=method,
                )
            try:
                # The binding checks the range against the memory's size now, after
                # the call: memory may have grown during it.
                payload = self._read(out_ptr, length)
            except IndexError:
                self._violation(method, self._outside("the response", out_ptr, length))
        if out_ptr and not (raw >> _BORROWED_BIT) & 1:
            self._free(out_ptr)
        return payload

    def holds_gil(self, method: str) -> bool | None:
        """Whether the next call of `method` keeps the GIL (the native call decides from
        the method's recent durations); None without the native call."""
        if self._native is None:
            return None
        return self._native.holds_gil(self._slots[method])[0]

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
        if self._native is not None:
            self._native.set_request(ptr, capacity)
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
        return GuestError(StatusCode(status.code), status.message, method=method, status=status)

    def _failure(self, exc: Exception, method: str, timeout_s: float | None = None) -> CallError:
        """The error for a failed call, its `__cause__` set: what a host call raised, if
        one failed it, else wasmtime's own exception. (Set here, not by `raise ... from`
        at the call sites, so that no frame keeps the error in a local: fewer cycles.)"""
        self.broken = True
        failure, self._host_failure = self._host_failure, None
        error: CallError
        # With the native call, the deadline fails a call with an error, not a trap.
        deadline = self._native is not None and self._native.deadline_hit()
        if failure is None:
            error = traps.classify(
                exc,
                method=method,
                config=self._config,
                timeout_s=timeout_s,
                deadline=deadline,
                memory_size=self.memory_size,  # read only when the error needs it
                output=self._output,
            )
            error.__cause__ = exc
        elif isinstance(failure, _HostCallFailure):
            error = failure.error(method)
            error.__cause__ = exc
        else:
            host = f"host method {self._host_method}" if self._host_method else "a host call"
            text = str(failure)
            error = HostCallFailed(
                f"{method}: {host} raised {type(failure).__name__}" + (f": {text}" if text else ""),
                method=method,
            )
            error.__cause__ = failure
        return error

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


def _over_limit(method: str, what: str, limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"{method}: {what}, over the limit of {limit} bytes (max_message_bytes)", method=method
    )


def _signed(packed: int) -> int:
    """A packed u64 result as the signed i64 wasm takes."""
    return packed - (1 << 64) if packed >= 1 << 63 else packed


def _typed(extern: object, kind: type[_E]) -> _E:
    # The interface check at load time guarantees the kinds; this only tells mypy.
    if not isinstance(extern, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(extern).__name__}")
    return extern
