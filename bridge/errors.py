"""Every error bridge raises, in one tree rooted at `BridgeError`.

    BridgeError
    ├── ConfigError           a configuration value is invalid (names the key and why)
    ├── RouteError            a routed function does not fit its rpc (found at decoration)
    ├── ShadowMismatch        strict shadow mode: the candidate's answer differs from Python's
    ├── SidecarError          a sidecar cannot start, listen, or shake hands
    ├── SchemaError           a .proto file does not compile, or uses what bridge cannot run
    ├── ProjectError          a directory is not a guest project bridge can build
    ├── ToolchainError        a compiler bridge needs is missing or too old
    ├── BuildError            the guest's compiler failed
    ├── LoadError             a module cannot be used
    │   ├── ModuleNotFound        no file at that path
    │   ├── InvalidModule         the file is not a valid wasm module
    │   ├── NotABridgeModule      no ABI marker (it may be a WASI command or plain exports)
    │   ├── AbiMismatch           the module speaks another ABI version or breaks its shape
    │   └── ModuleClosed          the module was closed (also a ValueError, as it was before)
    └── CallError             one call failed; the module and other calls go on
        ├── UnknownMethod         the module does not export that method
        ├── WrongMethodKind       a streaming method called as unary, or the reverse
        ├── Cancelled             the caller cancelled the call (or went away)
        ├── InvalidArguments      arguments that do not fit a plain export's signature
        ├── GuestError            the guest returned an application error (gRPC code + message)
        ├── GuestTrap             the guest trapped (panic, unreachable, out of bounds, exit)
        ├── AbiViolation          the guest broke the ABI (pointer/length outside memory, ...)
        ├── HostCallFailed        a host method raised what no status carries (SystemExit, ...)
        ├── DeadlineExceeded      the call ran past its deadline (the guest was interrupted)
        ├── SidecarUnavailable    the sidecar cannot be reached (not running, wrong address)
        ├── SidecarCallFailed     the sidecar failed the call, not the guest (a method it lacks)
        └── ResourceExhausted     the guest or the request ran out of room
            ├── MemoryLimitExceeded   the guest tried to grow its memory past the limit
            ├── FuelExhausted         the guest used up its fuel
            └── PoolExhausted         no instance became free in time

Errors carry their facts as attributes, not only as text. wasmtime's and grpc's own
exceptions are wrapped where they cross into bridge (`raise ... from exc`), never leaked.
The CLI prints `str(error)` as one line and exits with `exit_code`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.protobuf.any_pb2 import Any as AnyMessage
    from google.rpc.status_pb2 import Status

__all__ = [
    "AbiMismatch",
    "AbiViolation",
    "BridgeError",
    "BuildError",
    "CallError",
    "Cancelled",
    "ConfigError",
    "GuestError",
    "GuestTrap",
    "HostCallFailed",
    "DeadlineExceeded",
    "FuelExhausted",
    "InvalidArguments",
    "InvalidModule",
    "MemoryLimitExceeded",
    "PoolExhausted",
    "LoadError",
    "ModuleClosed",
    "ModuleNotFound",
    "NotABridgeModule",
    "ProjectError",
    "ResourceExhausted",
    "RouteError",
    "SchemaError",
    "ShadowMismatch",
    "SidecarCallFailed",
    "SidecarError",
    "SidecarUnavailable",
    "StatusCode",
    "ToolchainError",
    "UnknownMethod",
    "WrongMethodKind",
]


class StatusCode(IntEnum):
    """gRPC status codes, as a guest's error envelope carries them."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class BridgeError(Exception):
    """The base of every error bridge raises on purpose."""

    exit_code: int = 1


class ConfigError(BridgeError):
    """A configuration value is invalid; the message names the key and the reason."""


class RouteError(BridgeError):
    """A function decorated with `@bridge.route` does not fit its rpc's messages."""


class ShadowMismatch(BridgeError):
    """Strict shadow mode: the candidate answered differently from Python (`mismatch`)."""

    def __init__(self, message: str, *, mismatch: object) -> None:
        super().__init__(message)
        self.mismatch = mismatch


class SidecarError(BridgeError):
    """A sidecar cannot start, listen where it was asked to, or shake hands."""


class SchemaError(BridgeError):
    """A .proto file does not compile or uses what bridge does not support (file:line)."""


class ProjectError(BridgeError):
    """A directory is not a guest project that bridge knows how to build."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class ToolchainError(BridgeError):
    """A toolchain is missing or unusable; `hint` says how to get it."""

    def __init__(self, message: str, *, tool: str, hint: str) -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.tool = tool
        self.hint = hint


class BuildError(BridgeError):
    """The guest's compiler ran and failed; `output` holds what it printed."""

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class LoadError(BridgeError):
    """A wasm module cannot be loaded or does not have the shape bridge needs."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ModuleNotFound(LoadError):
    """There is no file at the module's path."""


class InvalidModule(LoadError):
    """The file is not a valid WebAssembly module."""


class NotABridgeModule(LoadError):
    """The module has no ABI marker; `kind` says what it is instead."""

    def __init__(self, message: str, *, path: str | None = None, kind: str) -> None:
        super().__init__(message, path=path)
        self.kind = kind


class AbiMismatch(LoadError):
    """The module declares another ABI version, or its exports break ABI v1's shape."""


class ModuleClosed(LoadError, ValueError):
    """The module was closed: it takes no more calls. A ValueError too, as before."""


class CallError(BridgeError):
    """One call into a guest failed; the module stays usable for other calls.

    `headers` and `trailers` are the response metadata the guest had set when the call
    failed (docs/abi.md section 15), so that a sidecar can send them with the error
    status; empty unless it set any.
    """

    headers: tuple[tuple[str, str | bytes], ...] = ()
    trailers: tuple[tuple[str, str | bytes], ...] = ()

    def __init__(self, message: str, *, method: str | None = None) -> None:
        super().__init__(message)
        self.method = method


class UnknownMethod(CallError):
    """The module does not export the method that was called."""


class InvalidArguments(CallError):
    """Arguments that do not match a plain export's signature (count or type)."""


class WrongMethodKind(CallError):
    """A method called in a way its kind does not take: a streaming method through
    `call`, a unary one through `stream`, ... `kind` is the method's ("server-streaming")
    and `use` the GuestModule method that calls it ("stream")."""

    def __init__(self, message: str, *, method: str | None = None, kind: str, use: str) -> None:
        super().__init__(message, method=method)
        self.kind = kind
        self.use = use


class Cancelled(CallError):
    """The call was cancelled by its caller (`ResponseStream.cancel`, the `cancelled`
    event of `invoke`) before it ended; `code` is CANCELLED, as gRPC says it."""

    code = StatusCode.CANCELLED


class GuestError(CallError):
    """The guest answered with an application error (its `google.rpc.Status`).

    `details` are the envelope's details (`google.protobuf.Any` messages, gRPC's rich
    error model) and `status` the whole envelope.
    """

    def __init__(
        self,
        code: StatusCode,
        message: str,
        *,
        method: str | None = None,
        details: Iterable[AnyMessage] = (),
        status: Status | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}", method=method)
        self.code = code
        self.status_message = message
        self.details: tuple[AnyMessage, ...] = tuple(
            status.details if status is not None else details
        )
        self._status = status

    @property
    def status(self) -> Status:
        """The `google.rpc.Status` envelope: the guest's own when it sent one."""
        if self._status is None:
            # Imported here: bridge.errors stays free of protobuf for whoever only
            # catches its errors.
            from google.rpc.status_pb2 import Status

            self._status = Status(
                code=int(self.code), message=self.status_message, details=self.details
            )
        return self._status


class GuestTrap(CallError):
    """The guest trapped; the instance it ran in was discarded.

    `trap_code` names wasmtime's trap (`unreachable`, `memory_out_of_bounds`, ...) when
    there is one, `exit_code_of_guest` the WASI exit status when the guest exited, and
    `backtrace` the wasm frames as text.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        trap_code: str | None = None,
        guest_exit_code: int | None = None,
        backtrace: str = "",
        guest_stderr: str = "",
    ) -> None:
        super().__init__(message, method=method)
        self.trap_code = trap_code
        self.guest_exit_code = guest_exit_code
        self.backtrace = backtrace
        self.guest_stderr = guest_stderr


class AbiViolation(CallError):
    """The guest broke ABI v1 (see docs/abi.md section 8); the instance was discarded."""


class HostCallFailed(CallError):
    """A host method the guest called raised what no status can carry (SystemExit,
    KeyboardInterrupt, any BaseException: it is the `__cause__`); the instance was
    discarded."""


class ResourceExhausted(CallError):
    """A request, a response or the guest's memory is over its limit."""


class DeadlineExceeded(CallError):
    """The call ran past its deadline; the guest was interrupted and its instance discarded."""

    def __init__(self, message: str, *, method: str | None = None, timeout_s: float) -> None:
        super().__init__(message, method=method)
        self.timeout_s = timeout_s


class SidecarUnavailable(CallError):
    """The sidecar could not be reached: it is not running, or the address is wrong."""


class SidecarCallFailed(CallError):
    """The sidecar or gRPC failed the call with a status the guest did not give (a method
    the sidecar does not serve, an internal error); `code` is that gRPC status."""

    def __init__(self, code: StatusCode, message: str, *, method: str | None = None) -> None:
        super().__init__(f"{code.name}: {message}", method=method)
        self.code = code


class MemoryLimitExceeded(ResourceExhausted):
    """The guest tried to grow its memory past the per-instance limit."""


class FuelExhausted(ResourceExhausted):
    """The guest used up the fuel the configuration gives each call."""


class PoolExhausted(ResourceExhausted):
    """Every instance stayed busy for longer than the pool's wait timeout."""
