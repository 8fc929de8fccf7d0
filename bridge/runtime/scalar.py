"""Modules of plain scalar exports, called by name with numbers (docs/abi.md section 10).

Such modules already exist: a Rust `calculate_fibonacci(n: u32) -> u64` built as a
cdylib, TinyGo's `sum(x, y)`. They speak no bridge ABI, so nothing is copied through
memory: the arguments go straight into the export, checked first against its wasm
signature, so a wrong call fails with a clear `InvalidArguments` instead of a wasmtime
error or, worse, a silently truncated integer.

    >>> from bridge.runtime.scalar import ScalarModule
    >>> with ScalarModule("build/rust-fib.wasm") as fib:  # doctest: +SKIP
    ...     fib.call("calculate_fibonacci", 10)
    55

One instance in one store, behind a lock: a plain export is a short computation, and
a pool is not worth its threads here. The instance is replaced after any failure (trap,
deadline, memory, fuel), because its globals and memory can no longer be trusted.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from time import monotonic_ns
from types import MappingProxyType

import wasmtime

from .. import abi
from ..config import RuntimeConfig
from ..errors import ConfigError, InvalidArguments, LoadError, ModuleClosed, UnknownMethod
from . import _fastcall, limits, traps
from .closing import Closing
from .engine import compile_file, engine_for
from .interface import WASI_MODULE, ModuleInterface, ModuleKind, describe
from .output import GuestOutput

__all__ = ["Number", "Result", "ScalarModule", "ScalarSignature"]

Number = int | float
#: What a call returns: nothing, one number, or a tuple for several results.
Result = Number | tuple[Number, ...] | None
SCALAR_TYPES = frozenset({"i32", "i64", "f32", "f64"})
# Both readings of an integer of that width are accepted: a u32 parameter is an i32 in
# wasm, and callers think of it as unsigned.
_INT_RANGES = {"i32": (-(1 << 31), (1 << 32) - 1), "i64": (-(1 << 63), (1 << 64) - 1)}


@dataclass(frozen=True, slots=True)
class ScalarSignature:
    """The wasm types of an export's parameters and results, e.g. `(i32) -> i64`."""

    params: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        results = self.results
        result = results[0] if len(results) == 1 else f"({', '.join(results)})"
        return f"({', '.join(self.params)}) -> {result}"


class ScalarModule(Closing):
    """A module of plain exports; `call(name, *args)` runs one with numbers.

    Arguments are Python ints for i32/i64 (either the signed or the unsigned range of
    that width; bool is refused), and floats or ints for f32/f64. The result is None,
    one number, or a tuple when the export returns several values. Integer results
    come back signed, as wasm has no unsigned types: `r & 0xFFFF_FFFF_FFFF_FFFF` reads
    an i64 as a u64.

    Loading refuses a bridge module (use `bridge.load`) and a WASI command (use
    `bridge.runtime.command.CommandModule`) with a `LoadError` saying what the module
    is. The guest gets WASI (TinyGo modules import it) with only what the config grants,
    which by default is nothing. Calls are safe from any thread; they run one at a time.
    """

    def __init__(self, path: str | os.PathLike[str], config: RuntimeConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or RuntimeConfig.from_env()
        if self.config.engine != "wasmtime":
            raise ConfigError(
                f"engine {self.config.engine!r} runs WASI commands only; modules of plain "
                "exports need engine 'wasmtime'"
            )
        name = self.path.name
        module = compile_file(self.path, self.config)
        self.interface: ModuleInterface = describe(module)
        _check_plain(self.interface, name)
        self._engine = engine_for(self.config.fuel is not None)
        self._pre = _link(self._engine, module, self.interface, name)
        signatures = {}
        for export in module.exports:
            ty = export.type
            if export.name == abi.EXPORT_INITIALIZE or not isinstance(ty, wasmtime.FuncType):
                continue
            sig = ScalarSignature(
                tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results)
            )
            # References and v128 cannot come from Python numbers: not callable here.
            if SCALAR_TYPES.issuperset(sig.params + sig.results):
                signatures[export.name] = sig
        self.functions: Mapping[str, ScalarSignature] = MappingProxyType(signatures)
        self._lock = threading.Lock()
        self._closed = False
        # Made now, so that a module that loads can be called: a start-up that fails
        # fails here, not in the first caller's call.
        self._live: _Live | None = self._new_live()

    def call(self, name: str, *args: Number, timeout_s: float | None = None) -> Result:
        """Call export `name` with `args`; None, a number, or a tuple of numbers.

        Raises UnknownMethod for a name the module does not export (with the closest
        one), InvalidArguments when `args` do not fit the signature, GuestTrap when the
        guest traps, DeadlineExceeded past `timeout_s` (default: the config's
        `call_timeout_s`), MemoryLimitExceeded and FuelExhausted when those run out.
        """
        sig = self.functions.get(name)
        if sig is None:
            raise self._unknown(name)
        _check_args(name, sig, args)
        with self._lock:
            if self._closed:
                raise ModuleClosed(f"{self.path.name} is closed", path=str(self.path))
            live = self._live
            if live is None:
                live = self._live = self._new_live()
            try:
                return live.call(name, args, timeout_s)
            except BaseException:
                if live.broken:
                    # Replaced on the next call: the one that failed pays nothing more.
                    self._live = None
                    live.close()
                raise

    def close(self) -> None:
        """Drop the instance; safe to call twice. Calls after this raise ModuleClosed."""
        with self._lock:
            self._closed = True
            if self._live is not None:
                self._live.close()
                self._live = None

    def __repr__(self) -> str:
        return f"<ScalarModule {self.path} functions={sorted(self.functions)}>"

    def _new_live(self) -> _Live:
        return _Live(self._engine, self._pre, self.functions, self.config, self.path.name)

    def _unknown(self, name: str) -> UnknownMethod:
        known = sorted(self.functions)
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hint = f"; did you mean {close[0]}?"
        elif known:
            hint = f"; it exports {', '.join(known)}"
        else:
            hint = "; it exports no function of numbers"
        return UnknownMethod(f"{self.path.name} has no function {name}{hint}", method=name)


class _Live:
    """One instance in its own store, with every export resolved once."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        pre: wasmtime.InstancePre,
        functions: Mapping[str, ScalarSignature],
        config: RuntimeConfig,
        name: str,
    ) -> None:
        self.broken = False
        self._config = config
        self._deadline = limits.deadline_ticks(config.call_timeout_s)
        self._output = GuestOutput(name)
        self._store = wasmtime.Store(engine)
        self._binding: _fastcall.Binding | None = None
        try:
            self._store.set_wasi(_wasi_config(config, self._output))
            self._output.writers_opened()
            limits.limit_store(self._store, config)
            if config.fuel is not None:
                self._store.set_fuel(config.fuel)
            self._store.set_epoch_deadline(self._deadline)  # start function, _initialize
            self._start(pre, functions, name)
        except BaseException:
            self.close()
            raise

    def _start(
        self, pre: wasmtime.InstancePre, functions: Mapping[str, ScalarSignature], name: str
    ) -> None:
        store = self._store
        try:
            instance = pre.instantiate(store)
        except wasmtime.Trap as exc:  # a start function trapped
            raise self._failure(exc, "instantiation", None) from exc
        except wasmtime.WasmtimeError as exc:
            raise LoadError(f"{name} cannot be instantiated: {traps.first_line(exc)}") from exc
        exports = instance.exports(store)
        memory = next((m for _, m in exports.items() if isinstance(m, wasmtime.Memory)), None)
        if memory is None:
            # The binding wants a memory; a module without one gets an empty one of ours.
            memory = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(0, 0)))
        binding = self._binding = _fastcall.bind(store, memory)
        self._funcs = {n: binding.func(_func(exports[n])) for n in functions}
        init = exports.get(abi.EXPORT_INITIALIZE)
        if isinstance(init, wasmtime.Func):
            try:
                binding.func(init)()
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                raise self._failure(exc, abi.EXPORT_INITIALIZE, None) from exc

    def call(self, name: str, args: tuple[Number, ...], timeout_s: float | None) -> Result:
        binding = self._binding
        assert binding is not None, "made in _start"
        if self._config.fuel is not None:
            self._store.set_fuel(self._config.fuel)
        if timeout_s is not None:
            binding.set_epoch_deadline(limits.deadline_ticks(timeout_s))
        else:
            if monotonic_ns() >= limits.ticker.check_ns:
                limits.ticker.refresh()
            binding.set_epoch_deadline(self._deadline)
        try:
            result = self._funcs[name](*args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._failure(exc, name, timeout_s) from exc
        return tuple(result) if isinstance(result, list) else result

    def close(self) -> None:
        self.broken = True
        self._store.close()
        self._output.close()

    def _failure(self, exc: Exception, method: str, timeout_s: float | None) -> Exception:
        self.broken = True
        return traps.classify(
            exc,
            method=method,
            config=self._config,
            timeout_s=timeout_s,
            # read only when the error needs it
            memory_size=self._binding.memory_size if self._binding is not None else 0,
            output=self._output,
        )


def _check_plain(interface: ModuleInterface, name: str) -> None:
    if interface.kind is ModuleKind.PLAIN:
        return
    use = {
        ModuleKind.BRIDGE: "load it with bridge.load()",
        ModuleKind.WASI_COMMAND: "run it with bridge.runtime.command.CommandModule",
    }[interface.kind]
    raise LoadError(
        f"{name} is {interface.kind.describe()}, not a module of plain exports: {use}",
        path=name,
    )


def _link(
    engine: wasmtime.Engine, module: wasmtime.Module, interface: ModuleInterface, name: str
) -> wasmtime.InstancePre:
    """Resolve the imports once: WASI is all a plain module may import."""
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    try:
        return linker.instantiate_pre(module)
    except wasmtime.WasmtimeError as exc:
        foreign = sorted({i.qualified for i in interface.imports if i.module != WASI_MODULE})
        what = f"it imports {', '.join(foreign)}" if foreign else traps.first_line(exc)
        raise LoadError(
            f"{name} cannot be linked: {what}; bridge provides only {WASI_MODULE}", path=name
        ) from exc


def _wasi_config(config: RuntimeConfig, output: GuestOutput) -> wasmtime.WasiConfig:
    # Only what the config grants (nothing by default): no arguments, stdin, environment
    # or directories; output goes to logging.
    wasi = wasmtime.WasiConfig()
    if config.inherit_stdio:
        wasi.inherit_stdout()
        wasi.inherit_stderr()
    else:
        wasi.stdout_file = output.stdout_path
        wasi.stderr_file = output.stderr_path
    if config.wasi_env:
        wasi.env = list(config.wasi_env.items())
    for host, guest in config.wasi_dirs.items():
        wasi.preopen_dir(host, guest)
    return wasi


def _func(extern: object) -> wasmtime.Func:
    # describe() listed it as a function; this only tells mypy.
    if not isinstance(extern, wasmtime.Func):
        raise TypeError(f"expected a Func, got {type(extern).__name__}")
    return extern


def _check_args(name: str, sig: ScalarSignature, args: tuple[object, ...]) -> None:
    """InvalidArguments, in one line, unless `args` fit `sig` exactly."""
    if len(args) != len(sig.params):
        count = len(sig.params)
        raise InvalidArguments(
            f"{name} takes {count} argument{'' if count == 1 else 's'} {sig}, got {len(args)}",
            method=name,
        )
    for index, (kind, value) in enumerate(zip(sig.params, args, strict=True)):
        problem = _problem(kind, value)
        if problem is not None:
            raise InvalidArguments(f"{name}: parameter {index} is {kind} {problem}", method=name)


def _problem(kind: str, value: object) -> str | None:
    # bool is an int subclass, but True as an i32 is almost always a caller's mistake.
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if not is_int:
            return f"(an int), got {type(value).__name__} {value!r}"
        assert isinstance(value, int)
        if not low <= value <= high:
            return f"(an int from {low} to {high}), got {value}"
        return None
    if is_int:
        assert isinstance(value, int)
        try:
            float(value)
        except OverflowError:
            return f"(a float), got an int too large for a float: {value}"
        return None
    if not isinstance(value, float):
        return f"(a float or an int), got {type(value).__name__} {value!r}"
    return None
