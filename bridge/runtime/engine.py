"""The wasmtime engine and module compilation, with wasmtime's errors turned into ours."""

from __future__ import annotations

import functools
from pathlib import Path

import wasmtime

from ..errors import InvalidModule, ModuleNotFound

__all__ = ["compile_file", "default_engine"]

WASM_MAGIC = b"\0asm"


@functools.cache
def default_engine() -> wasmtime.Engine:
    """One engine per process: compiled modules can only be shared within an engine."""
    return wasmtime.Engine()


def compile_file(path: Path, engine: wasmtime.Engine | None = None) -> wasmtime.Module:
    """Compile the wasm file at `path`; ModuleNotFound or InvalidModule when that fails."""
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
    try:
        # bytes, never str: wasmtime would parse a str as WAT text.
        return wasmtime.Module(engine or default_engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise InvalidModule(
            f"{path} is not a valid WebAssembly module: {reason}", path=str(path)
        ) from exc
