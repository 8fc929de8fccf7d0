"""wasmtime engines and module compilation, with wasmtime's errors turned into ours.

Every engine has epoch interruption on (per-call deadlines) and, when the config asks
for it, fuel metering; both change the compiled code, so they are part of the key of
the compile cache. One engine per setting per process: modules and instances can only
be shared within an engine.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from pathlib import Path

import wasmtime

from ..config import RuntimeConfig
from ..errors import InvalidModule, ModuleNotFound
from . import limits
from .cache import ModuleCache

__all__ = ["compile_file", "default_engine", "engine_for", "engine_key", "read_wasm"]

WASM_MAGIC = b"\0asm"


@functools.cache
def engine_for(fuel: bool) -> wasmtime.Engine:
    """The process's engine with or without fuel metering; epochs always on."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.consume_fuel = fuel
    # A 32-bit memory fits in the default 4 GiB reservation, so it never has to move;
    # saying so lets the fast path keep one view of guest memory (_fastcall fixed_base).
    config.memory_may_move = False
    engine = wasmtime.Engine(config)
    limits.start_ticker(engine)
    return engine


def default_engine() -> wasmtime.Engine:
    return engine_for(False)


def engine_key(fuel: bool) -> str:
    """Names everything that changes compiled code: wasmtime, CPU, engine settings."""
    version = importlib.metadata.version("wasmtime")
    fuel_key = "fuel" if fuel else "nofuel"
    return f"wasmtime-{version}-{platform.machine()}-epoch-{fuel_key}-fixedmem"


def read_wasm(path: Path) -> bytes:
    """The bytes of a .wasm file; ModuleNotFound or InvalidModule when they are not that."""
    try:
        wasm = path.read_bytes()
    except FileNotFoundError:
        raise ModuleNotFound(f"no module at {path}", path=str(path)) from None
    except IsADirectoryError:
        raise ModuleNotFound(f"{path} is a directory, not a .wasm file", path=str(path)) from None
    except OSError as exc:
        raise ModuleNotFound(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
    if not wasm.startswith(WASM_MAGIC):
        raise InvalidModule(
            f"{path} is not a WebAssembly module (a .wasm file starts with \\0asm)", path=str(path)
        )
    return wasm


def compile_file(path: Path, config: RuntimeConfig | None = None) -> wasmtime.Module:
    """Compile the wasm file at `path` for the config's engine, through the cache if on."""
    config = config or RuntimeConfig(cache_dir=None)
    wasm = read_wasm(path)
    fuel = config.fuel is not None
    engine = engine_for(fuel)
    try:
        if config.cache_dir is None:
            # bytes, never str: wasmtime would parse a str as WAT text.
            return wasmtime.Module(engine, wasm)
        return ModuleCache(config.cache_dir, engine_key(fuel)).load(engine, wasm, path.name)
    except wasmtime.WasmtimeError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise InvalidModule(
            f"{path} is not a valid WebAssembly module: {reason}", path=str(path)
        ) from exc
