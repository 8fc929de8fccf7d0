"""bridge: move a legacy Python code base to Go or Rust one function at a time.

Guests compiled to WebAssembly are called in-process through ABI v1 (docs/abi.md):

    import bridge
    with bridge.load("build/go-pricing.wasm") as pricing:
        reply = pricing.call("pricing.v1.Pricing/Quote", request.SerializeToString())
"""

from __future__ import annotations

from ._version import __version__
from .config import RuntimeConfig
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
    InvalidArguments,
    InvalidModule,
    LoadError,
    MemoryLimitExceeded,
    ModuleNotFound,
    NotABridgeModule,
    PoolExhausted,
    ProjectError,
    ResourceExhausted,
    SchemaError,
    StatusCode,
    ToolchainError,
    UnknownMethod,
)
from .runtime import CommandModule, GuestModule, ScalarModule, load

__all__ = [
    "AbiMismatch",
    "AbiViolation",
    "BridgeError",
    "BuildError",
    "CallError",
    "CommandModule",
    "ConfigError",
    "GuestError",
    "GuestModule",
    "GuestTrap",
    "PoolExhausted",
    "MemoryLimitExceeded",
    "InvalidArguments",
    "FuelExhausted",
    "DeadlineExceeded",
    "InvalidModule",
    "LoadError",
    "ModuleNotFound",
    "NotABridgeModule",
    "ProjectError",
    "ResourceExhausted",
    "RuntimeConfig",
    "ScalarModule",
    "SchemaError",
    "StatusCode",
    "ToolchainError",
    "UnknownMethod",
    "__version__",
    "load",
]
