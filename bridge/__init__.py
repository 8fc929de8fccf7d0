"""bridge: move a legacy Python code base to Go or Rust one function at a time.

Route a legacy function to its migrated implementation; configuration picks who
answers (python, wasm, sidecar, shadow, canary:N), see docs/migration.md:

    import bridge

    @bridge.route("pricing.v1.Pricing/NormalizeSku")
    def normalize_sku(sku: str) -> str:
        ...

Or call a guest compiled to WebAssembly directly, through ABI v1 (docs/abi.md):

    with bridge.load("build/go-pricing.wasm") as pricing:
        reply = pricing.call("pricing.v1.Pricing/Quote", request.SerializeToString())
"""

from __future__ import annotations

import typing

from ._version import __version__
from .config import BridgeConfig, Mode, RuntimeConfig, load_config
from .errors import (
    AbiMismatch,
    AbiViolation,
    BridgeError,
    BuildError,
    CallError,
    Cancelled,
    ConfigError,
    DeadlineExceeded,
    FuelExhausted,
    GuestError,
    GuestTrap,
    HostCallFailed,
    InvalidArguments,
    InvalidModule,
    LoadError,
    MemoryLimitExceeded,
    ModuleClosed,
    ModuleNotFound,
    NotABridgeModule,
    PoolExhausted,
    ProjectError,
    ResourceExhausted,
    RouteError,
    SchemaError,
    ShadowMismatch,
    SidecarCallFailed,
    SidecarError,
    SidecarUnavailable,
    StatusCode,
    ToolchainError,
    UnknownMethod,
    WrongMethodKind,
)
from .routing import Mismatch, Route, Router, route, routes
from .schema.model import MethodKind

if typing.TYPE_CHECKING:
    from .runtime import CommandModule, GuestModule, ScalarModule, load
    from .runtime.streams import Reply, ResponseStream
    from .sidecar import Connection, ManagedSidecar, connect

#: Names whose modules load wasmtime or grpc: imported on first use, so that a code base
#: that only decorates its functions pays for neither (docs/performance.md, import cost).
_LAZY = {
    "CommandModule": "runtime",
    "GuestModule": "runtime",
    "ScalarModule": "runtime",
    "load": "runtime",
    "Reply": "runtime.streams",
    "ResponseStream": "runtime.streams",
    "Connection": "sidecar",
    "ManagedSidecar": "sidecar",
    "connect": "sidecar",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bridge' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AbiMismatch",
    "AbiViolation",
    "BridgeConfig",
    "BridgeError",
    "BuildError",
    "CallError",
    "Cancelled",
    "CommandModule",
    "Connection",
    "ConfigError",
    "GuestError",
    "GuestModule",
    "GuestTrap",
    "HostCallFailed",
    "PoolExhausted",
    "MemoryLimitExceeded",
    "InvalidArguments",
    "FuelExhausted",
    "DeadlineExceeded",
    "InvalidModule",
    "LoadError",
    "ManagedSidecar",
    "MethodKind",
    "ModuleClosed",
    "Mismatch",
    "Mode",
    "ModuleNotFound",
    "NotABridgeModule",
    "ProjectError",
    "Reply",
    "ResourceExhausted",
    "ResponseStream",
    "Route",
    "RouteError",
    "Router",
    "RuntimeConfig",
    "ScalarModule",
    "SchemaError",
    "ShadowMismatch",
    "SidecarCallFailed",
    "SidecarError",
    "SidecarUnavailable",
    "StatusCode",
    "ToolchainError",
    "UnknownMethod",
    "WrongMethodKind",
    "__version__",
    "connect",
    "load",
    "load_config",
    "route",
    "routes",
]
