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

from ._version import __version__
from .config import BridgeConfig, Mode, RuntimeConfig, load_config
from .errors import (
    AbiMismatch,
    AbiViolation,
    BridgeError,
    BuildError,
    CallError,
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
)
from .routing import Mismatch, Route, Router, route, routes
from .runtime import CommandModule, GuestModule, ScalarModule, load
from .sidecar import Connection, ManagedSidecar, connect

__all__ = [
    "AbiMismatch",
    "AbiViolation",
    "BridgeConfig",
    "BridgeError",
    "BuildError",
    "CallError",
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
    "ModuleClosed",
    "Mismatch",
    "Mode",
    "ModuleNotFound",
    "NotABridgeModule",
    "ProjectError",
    "ResourceExhausted",
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
    "__version__",
    "connect",
    "load",
    "load_config",
    "route",
    "routes",
]
