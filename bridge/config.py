"""Runtime configuration: frozen values, read once at the edge.

`RuntimeConfig()` holds the defaults; `RuntimeConfig.from_env()` applies `BRIDGE_*`
environment variables over them. This is the only module that reads `os.environ` for
bridge settings. A config is never changed after it is made: make a new one with
`dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import abi
from .errors import ConfigError

__all__ = ["Engine", "RuntimeConfig", "default_cache_dir"]

Engine = Literal["wasmtime", "wasmer"]
ENGINES: tuple[Engine, ...] = ("wasmtime", "wasmer")


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/bridge/modules`, else `~/.cache/bridge/modules`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bridge" / "modules"


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """How modules are compiled, pooled, limited and sandboxed.

    >>> from bridge.config import RuntimeConfig
    >>> RuntimeConfig(call_timeout_s=0.5, memory_limit_bytes=64 << 20).pool_size >= 1
    True
    """

    #: The engine: wasmtime (every kind of module) or wasmer (WASI commands only).
    engine: Engine = "wasmtime"
    #: Where compiled modules are cached; None disables the cache.
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    #: The most instances of one module alive at once (the most concurrent calls).
    pool_size: int = 8
    #: Instances kept ready ahead of need, made off the caller's path.
    pool_min_idle: int = 1
    #: How long a call waits for a free instance before PoolExhausted.
    pool_wait_s: float = 10.0
    #: Each call's deadline (DeadlineExceeded past it); None for no deadline.
    call_timeout_s: float | None = 10.0
    #: The most linear memory one instance may have, in bytes.
    memory_limit_bytes: int = 256 * 1024 * 1024
    #: Fuel (roughly, wasm instructions) per call; None disables fuel metering.
    fuel: int | None = None
    #: The largest request or response in bytes.
    max_message_bytes: int = abi.DEFAULT_MAX_MESSAGE_BYTES
    #: Environment variables the guest sees (WASI); none unless granted.
    wasi_env: Mapping[str, str] = field(default_factory=dict)
    #: Host directories the guest may open (WASI), host path -> guest path; none by default.
    wasi_dirs: Mapping[str, str] = field(default_factory=dict)
    #: Let the guest write to this process's stdout/stderr instead of logging.
    inherit_stdio: bool = False

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        _positive("pool_size", self.pool_size)
        if not 0 <= self.pool_min_idle <= self.pool_size:
            raise ConfigError(
                f"pool_min_idle must be between 0 and pool_size ({self.pool_size}), "
                f"not {self.pool_min_idle}"
            )
        _positive("pool_wait_s", self.pool_wait_s)
        if self.call_timeout_s is not None:
            _positive("call_timeout_s", self.call_timeout_s)
        _positive("memory_limit_bytes", self.memory_limit_bytes)
        if self.fuel is not None:
            _positive("fuel", self.fuel)
        if not 0 < self.max_message_bytes <= abi.MAX_MESSAGE_LEN:
            raise ConfigError(
                f"max_message_bytes must be between 1 and {abi.MAX_MESSAGE_LEN}, "
                f"not {self.max_message_bytes}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeConfig:
        """The defaults with `BRIDGE_*` variables applied; ConfigError names a bad one.

        BRIDGE_ENGINE, BRIDGE_CACHE_DIR (a path, or `off`), BRIDGE_POOL_SIZE,
        BRIDGE_POOL_WAIT_S, BRIDGE_CALL_TIMEOUT_S (seconds, or `none`),
        BRIDGE_MEMORY_LIMIT_MB, BRIDGE_FUEL (a count, or `none`).
        """
        env = os.environ if environ is None else environ
        changes: dict[str, object] = {}
        if "BRIDGE_ENGINE" in env:
            changes["engine"] = env["BRIDGE_ENGINE"]
        if "BRIDGE_CACHE_DIR" in env:
            value = env["BRIDGE_CACHE_DIR"]
            changes["cache_dir"] = None if value.lower() in ("", "off", "none") else Path(value)
        for name, key, parse in (
            ("pool_size", "BRIDGE_POOL_SIZE", int),
            ("pool_wait_s", "BRIDGE_POOL_WAIT_S", float),
            ("call_timeout_s", "BRIDGE_CALL_TIMEOUT_S", _optional(float)),
            ("memory_limit_bytes", "BRIDGE_MEMORY_LIMIT_MB", lambda v: int(v) * 1024 * 1024),
            ("fuel", "BRIDGE_FUEL", _optional(int)),
        ):
            if key in env:
                try:
                    changes[name] = parse(env[key])
                except ValueError:
                    raise ConfigError(f"{key}={env[key]!r} is not a valid value") from None
        return dataclasses.replace(cls(), **changes)  # type: ignore[arg-type]


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {value}")


def _optional(parse: type[int] | type[float]):  # type: ignore[no-untyped-def]
    def parse_optional(value: str) -> int | float | None:
        return None if value.lower() in ("none", "off", "") else parse(value)

    return parse_optional
