"""GuestModule: a compiled bridge module, checked against ABI v1 once, at load time."""

from __future__ import annotations

import difflib
import os
import threading
from pathlib import Path
from types import TracebackType

import wasmtime

from .. import abi
from ..errors import AbiMismatch, LoadError, NotABridgeModule, UnknownMethod
from .engine import compile_file, default_engine
from .instance import Instance
from .interface import (
    FREE_SIGNATURE,
    MALLOC_SIGNATURE,
    METHOD_SIGNATURE,
    NO_ARGS_SIGNATURE,
    WASI_MODULE,
    ModuleInterface,
    ModuleKind,
    describe,
)

__all__ = ["GuestModule", "check_bridge_interface", "load"]


class GuestModule:
    """A bridge module loaded in this process; call its methods with protobuf bytes.

    >>> import bridge
    >>> with bridge.load("build/go-pricing.wasm") as pricing:  # doctest: +SKIP
    ...     reply = pricing.call("pricing.v1.Pricing/Quote", request.SerializeToString())

    Loading checks every export the ABI needs and every method's signature, so a module
    that loads can be called. Calls from several threads are serialised on one instance
    here; an instance that traps is discarded and the next call gets a fresh one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        engine: wasmtime.Engine | None = None,
        max_message_bytes: int = abi.DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.path = Path(path)
        self._engine = engine or default_engine()
        self._module = compile_file(self.path, self._engine)
        self.interface = describe(self._module)
        check_bridge_interface(self.interface, str(self.path))
        self._max_message_bytes = max_message_bytes
        self._lock = threading.Lock()
        self._closed = False
        # Made now so that a module whose _initialize traps fails at load, not at a call.
        self._instance: Instance | None = self._new_instance()

    @property
    def methods(self) -> tuple[str, ...]:
        """The full gRPC names of the methods the module exports, sorted."""
        return self.interface.methods

    def call(self, method: str, request: bytes) -> bytes:
        """Call `method` (`pkg.Service/Method`) with an encoded request; the encoded response.

        Raises GuestError for the guest's application errors, GuestTrap when it traps,
        AbiViolation when it breaks the ABI, UnknownMethod for a name it does not export.
        """
        if method not in self.interface.methods:
            raise self._unknown(method)
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path} was closed")
            instance = self._instance or self._new_instance()
            self._instance = instance
            try:
                return instance.call(method, request)
            finally:
                if instance.broken:
                    self._instance = None
                    instance.close()

    def close(self) -> None:
        """Release the instance; safe to call twice."""
        with self._lock:
            self._closed = True
            if self._instance is not None:
                self._instance.close()
                self._instance = None

    def __enter__(self) -> GuestModule:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<GuestModule {self.path} methods={list(self.methods)}>"

    def _new_instance(self) -> Instance:
        return Instance(
            self._engine,
            self._module,
            self.interface,
            name=self.path.name,
            max_message_bytes=self._max_message_bytes,
        )

    def _unknown(self, method: str) -> UnknownMethod:
        known = self.interface.methods
        close = difflib.get_close_matches(method, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; it exports {', '.join(known)}"
        if not known:
            hint = "; it exports no methods"
        return UnknownMethod(f"{self.path.name} has no method {method}{hint}", method=method)


def load(
    path: str | os.PathLike[str], *, max_message_bytes: int = abi.DEFAULT_MAX_MESSAGE_BYTES
) -> GuestModule:
    """Load a bridge module from a .wasm file (see GuestModule)."""
    return GuestModule(path, max_message_bytes=max_message_bytes)


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
    memory = interface.export(abi.EXPORT_MEMORY)
    if memory is None or memory.kind != "memory":
        raise AbiMismatch(f"{name}: memory is not exported", path=name)
    for export, signature in expected.items():
        _check_func(interface, name, export, signature)
    for method in interface.methods:
        _check_func(interface, name, method, METHOD_SIGNATURE)
    for imported in interface.imports:
        if imported.module != WASI_MODULE:
            raise LoadError(
                f"{name} imports {imported.qualified}, which this host does not provide "
                f"(a bridge module may import only {WASI_MODULE})",
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
