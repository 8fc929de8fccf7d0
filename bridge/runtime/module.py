"""GuestModule: a compiled bridge module, checked against ABI v1 once, at load time."""

from __future__ import annotations

import difflib
import logging
import os
import threading
import warnings
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from time import monotonic_ns as _monotonic_ns

from .. import abi
from ..config import RuntimeConfig
from ..errors import (
    AbiMismatch,
    CallError,
    ConfigError,
    InvalidArguments,
    InvalidModule,
    LoadError,
    ModuleClosed,
    NotABridgeModule,
    ResourceExhausted,
    UnknownMethod,
    WrongMethodKind,
)
from ..schema.embed import embedded_schema
from ..schema.model import MethodKind
from .closing import Closing
from .engine import compile_file, engine_for, fork_guard, read_wasm
from .hostcalls import HostServices
from .instance import Instance
from .interface import (
    FREE_SIGNATURE,
    HOST_IMPORTS,
    MALLOC_SIGNATURE,
    METHOD_SIGNATURE,
    NO_ARGS_SIGNATURE,
    SERVED_SIGNATURE,
    WASI_MODULE,
    ModuleInterface,
    ModuleKind,
    describe,
)
from .limits import ticker as _ticker
from .pool import InstancePool
from .streams import CallState, Compressed, Metadata, Reply, ResponseStream, guest_metadata

__all__ = ["GuestModule", "check_bridge_interface", "load"]

log = logging.getLogger("bridge.runtime")


class GuestModule(Closing):
    """A bridge module loaded in this process; call its methods with protobuf bytes.

    >>> import bridge
    >>> with bridge.load("build/go-pricing.wasm") as pricing:  # doctest: +SKIP
    ...     reply = pricing.call("pricing.v1.Pricing/Quote", request.SerializeToString())

    Loading compiles the module (or loads it from the compile cache), checks every
    export the ABI needs and every method's signature, and makes the first instance, so
    a module that loads can be called. Calls are safe from any number of threads: each
    takes an instance from a bounded pool for its duration (`RuntimeConfig.pool_size`).
    An instance that traps, runs past its deadline or out of memory is discarded and
    replaced off the caller's path; other calls go on.

    Streaming methods (docs/abi.md section 14) go through `stream` (server-streaming and
    bidirectional: an iterator of responses) and `invoke` (client-streaming, and unary
    calls that pass or want metadata: docs/abi.md section 15); `kind` says which.

    Close a module (`close()`, or `with`) when done with it: one that is garbage-collected
    unclosed is closed then, with a ResourceWarning, as an unclosed file is.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        config: RuntimeConfig | None = None,
        *,
        host: Mapping[str, object] | None = None,
    ) -> None:
        self.path = Path(path)
        self.config = config or RuntimeConfig.from_env()
        if self.config.engine != "wasmtime":
            raise ConfigError(
                f"engine {self.config.engine!r} runs WASI commands only; bridge modules "
                "need engine 'wasmtime'"
            )
        engine = engine_for(self.config.fuel is not None)
        with fork_guard():
            module = compile_file(self.path, self.config)
        wasm = read_wasm(self.path)
        self.interface = describe(module, wasm)  # with the bytes: every memory, exported or not
        check_bridge_interface(self.interface, str(self.path))
        self._methods = frozenset(self.interface.methods)
        # Each method's kind comes from the schema the module carries (docs/abi.md
        # section 14); host methods decode their requests with it.
        try:
            schema = embedded_schema(wasm, self.path)
        except InvalidModule as exc:
            if host is not None or self.interface.uses_host_calls:
                raise  # its host calls or streams need it
            # A module of plain unary methods runs without it, as it always has.
            log.warning("%s: every method is taken as unary: %s", self.path.name, exc)
            schema = None
        self._kinds: dict[str, MethodKind] = {}
        if schema is not None:
            for service in schema.services.values():
                for rpc in service.streaming:
                    self._kinds[rpc.full_name] = rpc.kind
        services = None
        if host is not None or self.interface.uses_host_calls:
            services = HostServices(host or {}, schema, module=self.path.name)

        # The factory must not hold `self`: the pool's filler thread holds the factory,
        # and a module it kept alive could never be collected (nor closed by it).
        interface, config, name = self.interface, self.config, self.path.name

        def new_instance() -> Instance:
            return Instance(engine, module, interface, config, name=name, host=services)

        self._pool: InstancePool[Instance] = InstancePool(
            new_instance,
            name=name,
            size=config.pool_size,
            min_idle=config.pool_min_idle,
            wait_s=config.pool_wait_s,
        )
        self._finalizer = weakref.finalize(self, _collected_unclosed, self._pool, str(self.path))
        self._finalizer.atexit = False  # at exit the process takes everything down anyway
        # The module may say which of its methods have a server (docs/abi.md section 13):
        # the others are not its methods, for callers, health and reflection alike.
        if abi.EXPORT_SERVED in self.interface.export_names:
            try:
                first = self._pool.acquire()
            except BaseException:
                self.close()
                raise
            served = first.served
            self._pool.release(first)
            if served is not None:
                self._methods = self._methods & served
        # What call() takes: the hot path checks one set.
        self._unary = frozenset(m for m in self._methods if m not in self._kinds)

    @property
    def methods(self) -> tuple[str, ...]:
        """The full gRPC names of the methods the module serves, sorted: those it exports,
        less those it says have no server (its bridge_served export, if any)."""
        return tuple(sorted(self._methods))

    def call(
        self,
        method: str,
        request: bytes,
        *,
        timeout_s: float | None = None,
        metadata: Metadata | None = None,
    ) -> bytes:
        """Call unary `method` (`pkg.Service/Method`) with an encoded request; the
        encoded response.

        Raises GuestError for the guest's application errors, GuestTrap when it traps,
        DeadlineExceeded past `timeout_s` (default: the config's), AbiViolation when it
        breaks the ABI, ResourceExhausted when memory or the pool runs out,
        UnknownMethod for a name it does not export, and WrongMethodKind for a
        streaming method (see `stream` and `invoke`). `metadata` reaches the guest
        (docs/abi.md section 15); `invoke` also answers the response's metadata.
        """
        if method not in self._unary or metadata is not None:
            return self._call_with_context(method, request, timeout_s, metadata)
        pool = self._pool
        instance = pool.acquire()
        try:
            # Ready the ticker for the deadline the call arms: one clock read mostly.
            if _monotonic_ns() >= _ticker.check_ns:
                _ticker.refresh()
            return instance.call(method, request, timeout_s)
        finally:
            pool.release(instance)

    def _call_with_context(
        self, method: str, request: bytes, timeout_s: float | None, metadata: Metadata | None
    ) -> bytes:
        kind = self.kind(method)  # UnknownMethod
        if kind is not MethodKind.UNARY:
            raise _wrong_kind(method, kind)
        return self.invoke(method, request, timeout_s=timeout_s, metadata=metadata).response

    def kind(self, method: str) -> MethodKind:
        """Whether `method` is unary, server-streaming, client-streaming or bidirectional,
        as the module's embedded schema says; UNARY for a module without one."""
        if method not in self._methods:
            raise self._unknown(method)
        return self._kinds.get(method, MethodKind.UNARY)

    def invoke(
        self,
        method: str,
        request: bytes | Iterable[bytes],
        *,
        timeout_s: float | None = None,
        metadata: Metadata | None = None,
        cancelled: threading.Event | None = None,
    ) -> Reply:
        """Call a unary method (`request` is bytes) or a client-streaming one (`request`
        is an iterable of bytes, pulled in this thread as the guest receives each); the
        response with the headers and trailers the guest set.

        `metadata` is what the guest reads as the request's (docs/abi.md section 15).
        `cancelled`, set by another thread, says the caller went away: the guest's next
        receive answers CANCELLED, and the call raises Cancelled. An exception raised by
        the request iterable ends the guest's stream the same way, and is raised here
        once the guest returned. Errors are those of `call`, with the headers and
        trailers set before the failure.
        """
        kind = self.kind(method)
        if kind.server_streaming:
            raise _wrong_kind(method, kind)
        payload, state = self._call_state(
            method, kind, request, timeout_s, metadata, cancelled=cancelled
        )
        pool = self._pool
        instance = pool.acquire()
        try:
            if _monotonic_ns() >= _ticker.check_ns:
                _ticker.refresh()
            response = instance.run(state, payload)
        except CallError as exc:
            state.attach(exc)
            raise
        finally:
            pool.release(instance)
        return Reply(response, tuple(state.headers), tuple(state.trailers), state.compression)

    def stream(
        self,
        method: str,
        request: bytes | Iterable[bytes],
        *,
        timeout_s: float | None = None,
        metadata: Metadata | None = None,
    ) -> ResponseStream:
        """Call a server-streaming method (`request` is bytes) or a bidirectional one
        (`request` is an iterable of bytes); its responses as they come.

        The guest runs on a worker thread with one instance of the pool for the whole
        call, and runs at most STREAM_WINDOW_MESSAGES messages (or STREAM_WINDOW_BYTES)
        ahead of the reader. `timeout_s` (default: the config's) covers the whole
        stream. The stream raises the call's error after the messages sent before it;
        close it (or use `with`) to end the call early.
        """
        kind = self.kind(method)
        if not kind.server_streaming:
            raise _wrong_kind(method, kind)
        if self._pool.closed:  # said now, not by the first read
            raise ModuleClosed(f"{self.path.name} was closed", path=self.path.name)
        payload, state = self._call_state(
            method, kind, request, timeout_s, metadata, window=True, name=self.path.name
        )
        if len(payload) > self.config.max_message_bytes:
            # Refused here, as call() refuses it, rather than by the worker.
            raise ResourceExhausted(
                f"{method}: request of {len(payload)} bytes is over the limit of "
                f"{self.config.max_message_bytes} bytes",
                method=method,
            )
        return ResponseStream(self._pool, state, payload)

    def _call_state(
        self,
        method: str,
        kind: MethodKind,
        request: bytes | Iterable[bytes],
        timeout_s: float | None,
        metadata: Metadata | None,
        *,
        cancelled: threading.Event | None = None,
        window: bool = False,
        name: str = "",
    ) -> tuple[bytes, CallState]:
        """The export's argument (the one request; nothing when the client streams) and
        the state of a call of `invoke` (`cancelled`) or `stream` (`window`, `name`)."""
        if kind.client_streaming:
            payload, requests = b"", _requests(method, request)
        else:
            payload, requests = _request(method, request, kind), None
        state = CallState(
            method,
            kind,
            timeout_s=timeout_s if timeout_s is not None else self.config.call_timeout_s,
            metadata=guest_metadata(method, metadata) if metadata else (),
            request_compressed=isinstance(request, Compressed),
            requests=requests,
            cancelled=cancelled,
            window=window,
            max_message_bytes=self.config.max_message_bytes,
            name=name,
        )
        return payload, state

    def stats(self) -> dict[str, int]:
        """The pool's state now: instances alive and idle, the idle ones' memory, and
        how many attempts to make an instance failed since load (`failures`)."""
        return self._pool.stats()

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def close(self) -> None:
        """Close the instances; safe to call twice, and from any thread. Calls after this
        raise ModuleClosed (a LoadError, and a ValueError as before)."""
        self._finalizer.detach()
        self._pool.close()

    def __repr__(self) -> str:
        return f"<GuestModule {self.path} methods={list(self.methods)}>"

    def _unknown(self, method: str) -> UnknownMethod:
        known = self.methods
        if method in self.interface.methods:
            return UnknownMethod(
                f"{self.path.name} does not serve {method}: it exports the method but no "
                "server is registered for its service",
                method=method,
            )
        close = difflib.get_close_matches(method, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; it exports {', '.join(known)}"
        if not known:
            hint = "; it exports no methods"
        return UnknownMethod(f"{self.path.name} has no method {method}{hint}", method=method)


def _wrong_kind(method: str, kind: MethodKind) -> WrongMethodKind:
    use = "stream" if kind.server_streaming else "invoke"
    return WrongMethodKind(
        f"{method} is a {kind.label} method: call it with GuestModule.{use}()",
        method=method,
        kind=kind.label,
        use=use,
    )


def _request(method: str, request: object, kind: MethodKind) -> bytes:
    """The one request of a unary or server-streaming call."""
    if isinstance(request, bytes):
        return request
    if isinstance(request, bytearray | memoryview):
        return bytes(request)
    raise InvalidArguments(
        f"{method} is a {kind.label} method: its request is bytes, not {type(request).__name__}",
        method=method,
    )


def _requests(method: str, request: object) -> Iterable[bytes]:
    """The request messages of a client-streaming or bidirectional call."""
    if isinstance(request, bytes | bytearray | memoryview | str) or not isinstance(
        request, Iterable
    ):
        raise InvalidArguments(
            f"{method} takes a stream of requests: pass an iterable of bytes (a list, a "
            f"generator), not {type(request).__name__}",
            method=method,
        )
    return request


def _collected_unclosed(pool: InstancePool[Instance], path: str) -> None:
    """The finalizer of a GuestModule collected without close(): it holds no reference
    to the module, only to what must be closed."""
    try:
        warnings.warn(
            f"unclosed module {path}: close() it, or load it in a `with` block",
            ResourceWarning,
            stacklevel=2,
        )
    finally:
        pool.close()


def load(
    path: str | os.PathLike[str],
    config: RuntimeConfig | None = None,
    *,
    host: Mapping[str, object] | None = None,
) -> GuestModule:
    """Load a bridge module from a .wasm file (see GuestModule); `host` maps service names
    to the Python objects that implement the host services the guest calls."""
    return GuestModule(path, config, host=host)


def check_bridge_interface(interface: ModuleInterface, name: str) -> None:
    """Raise LoadError unless the interface is a bridge module this host can drive."""
    if interface.kind is not ModuleKind.BRIDGE:
        raise NotABridgeModule(
            f"{name} is not a bridge module: it is {interface.kind.describe()} and has no "
            f"{abi.marker_name()} export (build it with the bridge guest SDK)",
            path=name,
            kind=interface.kind.value,
        )
    versions = interface.abi_versions
    if len(versions) > 1:
        listed = ", ".join(abi.marker_name(v) for v in versions)
        raise AbiMismatch(f"{name} declares several ABI versions ({listed})", path=name)
    if versions[0] != abi.ABI_VERSION:
        raise AbiMismatch(
            f"{name} speaks bridge ABI v{versions[0]}, this bridge speaks "
            f"v{abi.ABI_VERSION}: rebuild the module with a matching guest SDK",
            path=name,
        )
    expected = {
        abi.EXPORT_MALLOC: MALLOC_SIGNATURE,
        abi.EXPORT_FREE: FREE_SIGNATURE,
        abi.marker_name(): NO_ARGS_SIGNATURE,
    }
    if interface.is_reactor:
        expected[abi.EXPORT_INITIALIZE] = NO_ARGS_SIGNATURE
    if abi.EXPORT_SERVED in interface.export_names:
        expected[abi.EXPORT_SERVED] = SERVED_SIGNATURE
    memory = interface.export(abi.EXPORT_MEMORY)
    if memory is None or memory.kind != "memory":
        raise AbiMismatch(f"{name}: memory is not exported", path=name)
    # One 32-bit memory (section 1): the memory limit is per memory, and pointers are u32.
    memories = interface.memories if interface.memories is not None else (memory.signature,)
    if len(memories) > 1:
        raise AbiMismatch(
            f"{name} has {len(memories)} memories ({', '.join(memories)}); a bridge module "
            "has exactly one, its exported memory (docs/abi.md section 1)",
            path=name,
        )
    if memory.signature.startswith("i64"):
        raise AbiMismatch(
            f"{name}: memory is 64-bit ({memory.signature}); a bridge module's memory is "
            "32-bit (docs/abi.md section 1)",
            path=name,
        )
    for export, signature in expected.items():
        _check_func(interface, name, export, signature)
    for method in interface.methods:
        _check_func(interface, name, method, METHOD_SIGNATURE)
    for imported in interface.imports:
        if imported.module == WASI_MODULE:
            continue
        wanted = HOST_IMPORTS.get(imported.name) if imported.module == abi.HOST_MODULE else None
        if wanted is None:
            raise LoadError(
                f"{name} imports {imported.qualified}, which this host does not provide "
                f"(a bridge module may import {WASI_MODULE} and "
                f"{abi.HOST_MODULE}.{{{', '.join(HOST_IMPORTS)}}})",
                path=name,
            )
        if imported.kind != "func" or imported.signature != wanted:
            raise AbiMismatch(
                f"{name}: import {imported.qualified} has type {imported.signature}, "
                f"ABI v{abi.ABI_VERSION} gives {wanted}",
                path=name,
            )


def _check_func(interface: ModuleInterface, name: str, export: str, signature: str) -> None:
    found = interface.export(export)
    if found is None:
        raise AbiMismatch(f"{name}: {export} is not exported", path=name)
    if found.kind != "func" or found.signature != signature:
        raise AbiMismatch(
            f"{name}: export {export} has type {found.signature}, ABI v{abi.ABI_VERSION} "
            f"needs {signature}",
            path=name,
        )
