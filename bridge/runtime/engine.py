"""wasmtime engines and module compilation, with wasmtime's errors turned into ours.

Every engine has epoch interruption on (per-call deadlines) and, when the config asks
for it, fuel metering; both change the compiled code, so they are part of the key of
the compile cache. One engine per setting per process, made under a lock: modules and
instances can only be shared within an engine.

After fork() the child makes engines of its own for what it loads from then on: wasmtime
compiles on a thread pool whose threads stayed in the parent, so the parent's engines
would hang the child's first compile. Modules loaded before the fork keep their engine
(running compiled code needs no thread pool). `fork_guard()` keeps a fork from cutting
through wasmtime work that holds its locks.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import platform
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import wasmtime

from ..config import RuntimeConfig
from ..errors import InvalidModule, LoadError, ModuleNotFound
from . import limits
from .cache import ModuleCache

__all__ = [
    "compile_file",
    "default_engine",
    "engine_for",
    "engine_key",
    "fork_guard",
    "read_wasm",
]

log = logging.getLogger("bridge.runtime")

WASM_MAGIC = b"\0asm"


_engines: dict[bool, wasmtime.Engine] = {}
_engines_lock = threading.Lock()
# False in a forked child: the compile thread pool's threads did not come along.
_parallel_compilation = True


def engine_for(fuel: bool) -> wasmtime.Engine:
    """The process's engine with or without fuel metering; epochs always on."""
    engine = _engines.get(fuel)  # a dict read is atomic: no lock once it exists
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(fuel)
        if engine is None:
            engine = _new_engine(fuel)
            limits.start_ticker(engine)
            _engines[fuel] = engine
        return engine


def _new_engine(fuel: bool) -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.consume_fuel = fuel
    # A 32-bit memory fits in the default 4 GiB reservation, so it never has to move;
    # saying so lets the fast path keep one view of guest memory (_fastcall fixed_base).
    config.memory_may_move = False
    config.parallel_compilation = _parallel_compilation
    return wasmtime.Engine(config)


class _ForkGate:
    """Work inside wasmtime (compiling, making instances) and fork() exclude each other.

    A thread inside wasmtime may hold its locks (type and code registries); a child
    forked then would inherit them held by a thread it does not have, and hang on its
    first load. A fork waits (up to FORK_WAIT_S) for such work to end, and new work
    waits for the fork. Guest calls are not gated: that would cost every call a lock.
    """

    FORK_WAIT_S = 10.0

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        with self._cond:
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                if not self._busy:
                    self._cond.notify_all()

    def before_fork(self) -> None:
        self._cond.acquire()  # held across the fork: no new work starts meanwhile
        deadline = time.monotonic() + self.FORK_WAIT_S
        while self._busy:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("forking while a thread is still inside wasmtime")
                return
            self._cond.wait(remaining)

    def after_fork_in_parent(self) -> None:
        self._cond.release()

    def after_fork_in_child(self) -> None:
        # The threads that were inside wasmtime did not come along.
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0


_gate = _ForkGate()


def fork_guard() -> contextlib.AbstractContextManager[None]:
    """A block of wasmtime work (compile, instantiate) that a fork must not cut."""
    return _gate.guard()


def _after_fork_in_child() -> None:
    global _engines_lock, _parallel_compilation
    _gate.after_fork_in_child()
    _engines_lock = threading.Lock()  # a thread that is not here may have held it
    _engines.clear()  # made with the parent's compile threads: new ones, made here
    _parallel_compilation = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_gate.before_fork,
        after_in_parent=_gate.after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def default_engine() -> wasmtime.Engine:
    return engine_for(False)


def engine_key(fuel: bool) -> str:
    """Names everything that changes compiled code: wasmtime, CPU, engine settings."""
    version = importlib.metadata.version("wasmtime")
    fuel_key = "fuel" if fuel else "nofuel"
    return f"wasmtime-{version}-{platform.machine()}-epoch-{fuel_key}-fixedmem"


def read_wasm(path: Path, *, limit: int | None = None) -> bytes:
    """The bytes of a .wasm file; ModuleNotFound or InvalidModule when they are not that,
    LoadError when there are more than `limit` (RuntimeConfig.max_module_bytes)."""
    try:
        with path.open("rb") as file:
            if limit is None:
                wasm = file.read()
            else:
                # Refused by its size before a byte is read, and never read past the limit
                # (a file may grow, or not say its size).
                size = os.fstat(file.fileno()).st_size
                wasm = b"" if size > limit else file.read(limit + 1)
                size = max(size, len(wasm))
                if size > limit:
                    raise LoadError(
                        f"{path} is {size:,} bytes, over the limit of {limit:,} bytes for a "
                        "module (RuntimeConfig.max_module_bytes, BRIDGE_MAX_MODULE_MB): "
                        "compile time and memory grow with size; raise the limit to load it",
                        path=str(path),
                    )
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
    """Compile the wasm file at `path` for the config's engine, through the cache if on.

    A file over `config.max_module_bytes` is refused (LoadError) before it is read whole:
    compile time and memory grow with a module's size, and nothing else bounds them.
    """
    config = config or RuntimeConfig(cache_dir=None)
    wasm = read_wasm(path, limit=config.max_module_bytes)
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
