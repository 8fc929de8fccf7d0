"""WASI command modules (`_start`): the request on stdin, the response on stdout.

This is the FaaS shape many Go programs already have (docs/abi.md section 10): a
program that reads its input, writes its output and exits. Each `run` is a fresh
instance of the module compiled once, because a command runs once: its `_start`
initialises the runtime, runs `main` and exits.

    >>> from bridge.runtime.command import CommandModule
    >>> wordcount = CommandModule("build/go-wordcount.wasm")  # doctest: +SKIP
    >>> wordcount.run(b"to be or not to be")  # doctest: +SKIP
    b'{"source":"stdin","lines":1,"words":6,"counts":{"be":2,"not":1,"or":1,"to":2}}'

**The request in the environment.** With `request_in_env=True` the request is also
passed in the variable `BRIDGE_REQUEST` (`REQUEST_ENV`), encoded as standard base64
with padding (RFC 4648 section 4): environment variables cannot hold arbitrary bytes (no
NUL, and WASI passes them as strings), and a protobuf request is arbitrary bytes. stdin
carries the raw request either way.

**Exit status.** 0 is success: stdout is the response. A non-zero status after the
guest said why on stderr is the program's way of reporting an application failure (bad
input, a missing record), the counterpart of a Go `error` in a bridge module, so it is
a `GuestError` with code UNKNOWN (gRPC's code for an error that carries no status) and
the last line of stderr as its message. A *crash* is a `GuestTrap` instead, as it is for
every other kind of module: a wasm trap, or an exit after a Go `panic:` / Rust
`panicked at` / Go `fatal error:` on stderr (Go exits with status 2 after a panic).
Out of memory is `MemoryLimitExceeded`, the deadline `DeadlineExceeded`, a response
over `max_message_bytes` `ResourceExhausted`.

**Engines.** `RuntimeConfig.engine` picks wasmtime (the default) or Wasmer, through the
PyPI package `wasmer-sdk` (extra `bridge-wasm[wasmer]`), which runs local WASI
commands in-process without a network. Wasmer, as wasmer-sdk 0.5 exposes it, cannot do
everything wasmtime does here; see `CommandModule` for what it does not enforce.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import functools
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import wasmtime

from ..config import RuntimeConfig
from ..errors import (
    CallError,
    ConfigError,
    DeadlineExceeded,
    GuestError,
    GuestTrap,
    InvalidArguments,
    LoadError,
    ModuleClosed,
    ResourceExhausted,
    StatusCode,
)
from . import limits, traps
from .closing import Closing
from .engine import compile_file, engine_for, read_wasm
from .interface import WASI_MODULE, ModuleInterface, ModuleKind, describe
from .output import GuestOutput

__all__ = ["REQUEST_ENV", "CommandModule"]

REQUEST_ENV = "BRIDGE_REQUEST"
"""The variable that carries the request, base64-encoded, when `run` is asked to."""

START = "_start"
log = logging.getLogger("bridge.runtime")
guest_log = logging.getLogger("bridge.guest")

# A program that dies this way crashed; exiting with a status after saying why is an
# application failure. Go prints "fatal error: ..." for runtime failures (out of memory,
# deadlock) and "panic: ..." for panics (traps.panic_line knows those and Rust's).
_CRASH_PREFIXES = ("fatal error:", "runtime: out of memory")


class CommandModule(Closing):
    """A WASI command compiled once; `run(request)` runs it once and returns stdout.

    Runs are independent (a new instance each) and safe from any number of threads.
    The guest gets the request on stdin, the variables in `env` and the config's
    `wasi_env`, the directories in the config's `wasi_dirs`, and nothing else: no
    arguments, no network, no host files. Its stderr goes to the "bridge.guest" logger
    (or this process's stderr with `inherit_stdio`).

    With `engine="wasmer"`, wasmer-sdk 0.5 offers no memory limit and no fuel, maps no
    host directory, and stops a guest at its deadline only at the guest's next system
    call: a guest that loops without one is reported as `DeadlineExceeded` but keeps a
    CPU busy in the background until the process ends (which we have then seen abort in
    wasmer's library at exit). Its stderr is logged when the run ends, not as it comes.
    So a config with `fuel` or `wasi_dirs` is refused (`ConfigError`),
    `memory_limit_bytes` is not enforced (said once in the log), and untrusted commands
    belong on wasmtime.
    """

    def __init__(self, path: str | os.PathLike[str], config: RuntimeConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or RuntimeConfig.from_env()
        name = self.path.name
        if self.config.engine == "wasmer":
            _check_wasmer_config(self.config)
        # Compiled by wasmtime on both engines (once, through the compile cache), so
        # both check the file and tell what it is in the same words.
        module = compile_file(self.path, self.config)
        self.interface: ModuleInterface = describe(module)
        _check_command(self.interface, name)
        self._runner: _WasmtimeRunner | _WasmerRunner
        if self.config.engine == "wasmer":
            self._runner = _WasmerRunner(read_wasm(self.path), self.config, name)
        else:
            self._runner = _WasmtimeRunner(module, self.interface, self.config, name)
        self._closed = False

    @property
    def engine(self) -> str:
        return self.config.engine

    def run(
        self,
        request: bytes,
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        request_in_env: bool = False,
    ) -> bytes:
        """Run the command once with `request` on stdin; what it wrote on stdout.

        `env` adds variables for this run (over the config's `wasi_env`);
        `request_in_env` also passes the request in `REQUEST_ENV` (base64), which then
        wins over a variable of that name in `env`. `timeout_s` overrides the config's
        `call_timeout_s`. Raises GuestError for a non-zero exit, GuestTrap for a crash,
        DeadlineExceeded, MemoryLimitExceeded, ResourceExhausted for a request or a
        response over `max_message_bytes`, and InvalidArguments for a variable that
        cannot be passed (a name with `=`, a NUL anywhere).
        """
        if self._closed:
            raise ModuleClosed(f"{self.path.name} is closed", path=str(self.path))
        name = self.path.name
        limit = self.config.max_message_bytes
        if len(request) > limit:
            raise ResourceExhausted(
                f"{name}: request of {len(request)} bytes is over the limit of {limit} bytes",
                method=name,
            )
        variables = {**self.config.wasi_env, **(env or {})}
        if request_in_env:
            variables[REQUEST_ENV] = base64.b64encode(request).decode("ascii")
        _check_env(name, variables)
        timeout = self.config.call_timeout_s if timeout_s is None else timeout_s
        return self._runner.run(bytes(request), variables, timeout)

    def close(self) -> None:
        """Refuse further runs; safe to call twice (runs hold nothing between them)."""
        self._closed = True

    def __repr__(self) -> str:
        return f"<CommandModule {self.path} engine={self.engine}>"


# --- wasmtime ---------------------------------------------------------------------------


class _WasmtimeRunner:
    def __init__(
        self,
        module: wasmtime.Module,
        interface: ModuleInterface,
        config: RuntimeConfig,
        name: str,
    ) -> None:
        self._config = config
        self._name = name
        self._engine = engine_for(config.fuel is not None)
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        try:
            # Imports resolved once; each run only instantiates.
            self._pre = linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            foreign = sorted({i.qualified for i in interface.imports if i.module != WASI_MODULE})
            what = f"it imports {', '.join(foreign)}" if foreign else traps.first_line(exc)
            raise LoadError(
                f"{name} cannot be linked: {what}; bridge provides only {WASI_MODULE}",
                path=name,
            ) from exc

    def run(self, request: bytes, env: Mapping[str, str], timeout_s: float | None) -> bytes:
        config, name = self._config, self._name
        exit_exc: wasmtime.ExitTrap | None = None
        memory_size = 0
        output = GuestOutput(name)
        stdout: _Capture | None = None
        store: wasmtime.Store | None = None
        try:
            stdout = _Capture(config.max_message_bytes)
            store = wasmtime.Store(self._engine)
            wasi = self._wasi_config(request, env, stdout, output)
            try:
                store.set_wasi(wasi)
            finally:
                wasi.close()  # a no-op once the store took it
                # wasmtime holds its own descriptors now; ours would keep the pipes open.
                stdout.writer_opened()
                output.writers_opened()
            limits.limit_store(store, config)
            if config.fuel is not None:
                store.set_fuel(config.fuel)
            store.set_epoch_deadline(limits.deadline_ticks(timeout_s))
            instance: wasmtime.Instance | None = None
            try:
                instance = self._pre.instantiate(store)
                start = instance.exports(store)[START]
                assert isinstance(start, wasmtime.Func), "checked by _check_command"
                start(store)
            except wasmtime.ExitTrap as exc:
                if exc.code != 0:
                    exit_exc = exc
            except wasmtime.Trap as exc:
                raise self._failure(exc, store, instance, output, timeout_s) from exc
            except wasmtime.WasmtimeError as exc:
                if instance is None:
                    raise LoadError(
                        f"{name} cannot be instantiated: {traps.first_line(exc)}", path=name
                    ) from exc
                raise self._failure(exc, store, instance, output, timeout_s) from exc
            if exit_exc is not None:
                memory_size = _memory_size(store, instance)
        finally:
            # Closing the store closes wasmtime's ends of the pipes: stdout reaches its end,
            # and tail() drains stderr into the log before we stop reading it.
            if store is not None:
                store.close()
            response, written = stdout.result() if stdout is not None else (b"", 0)
            stderr = output.tail()
            output.close()
        if exit_exc is not None:
            raise _exit_failure(
                exit_exc, exit_exc.code, name, config, timeout_s, memory_size, stderr
            ) from exit_exc
        if written > config.max_message_bytes:
            raise _too_large(name, written, config.max_message_bytes)
        return response

    def _wasi_config(
        self, request: bytes, env: Mapping[str, str], stdout: _Capture, output: GuestOutput
    ) -> wasmtime.WasiConfig:
        wasi = wasmtime.WasiConfig()
        try:
            # A file, not a pipe: a request of any size needs no writer thread, and the
            # guest sees an ordinary end of file. wasmtime opens it right away, so the
            # name is gone before the guest runs.
            fd, path = tempfile.mkstemp(prefix="bridge-stdin-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(request)
                wasi.stdin_file = path
            finally:
                os.unlink(path)
            wasi.stdout_file = stdout.path
            if self._config.inherit_stdio:
                wasi.inherit_stderr()
            else:
                wasi.stderr_file = output.stderr_path
            if env:
                wasi.env = list(env.items())
            for host, guest in self._config.wasi_dirs.items():
                wasi.preopen_dir(host, guest)
        except BaseException:
            # Its descriptors would keep the pipes open, and the stdout reader waiting.
            wasi.close()
            raise
        return wasi

    def _failure(
        self,
        exc: Exception,
        store: wasmtime.Store,
        instance: wasmtime.Instance | None,
        output: GuestOutput,
        timeout_s: float | None,
    ) -> CallError:
        return traps.classify(
            exc,
            method=self._name,
            config=self._config,
            timeout_s=timeout_s,
            memory_size=_memory_size(store, instance),
            output=output,
        )


def _memory_size(store: wasmtime.Store, instance: wasmtime.Instance | None) -> int:
    if instance is None:
        return 0
    memory = instance.exports(store).get("memory")
    return memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0


class _Capture:
    """A pipe for the guest's stdout, read to its end by a thread of its own.

    The reader never stops reading: a guest blocked on a full pipe sits in a host call,
    where no epoch deadline can reach it. Past `limit` bytes it only counts.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self._written = 0
        self._read_fd, self._write_fd = os.pipe()
        self._thread = threading.Thread(target=self._read, name="bridge-command-stdout")
        self._thread.daemon = True
        self._thread.start()

    @property
    def path(self) -> str:
        return f"/dev/fd/{self._write_fd}"

    def writer_opened(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def result(self) -> tuple[bytes, int]:
        """What was kept (at most `limit` bytes) and how much the guest wrote in all."""
        self.writer_opened()
        self._thread.join()
        return b"".join(self._chunks), self._written

    def _read(self) -> None:
        try:
            while data := os.read(self._read_fd, 1 << 16):
                self._written += len(data)
                room = self._limit - self._kept
                if room > 0:
                    kept = data[:room]
                    self._chunks.append(kept)
                    self._kept += len(kept)
        finally:
            os.close(self._read_fd)


# --- Outcomes shared by both engines ----------------------------------------------------


def _exit_failure(
    exc: Exception,
    code: int,
    name: str,
    config: RuntimeConfig,
    timeout_s: float | None,
    memory_size: int,
    stderr: str,
) -> CallError:
    """The error for a non-zero exit status: see the module's docstring."""
    crashed = traps.panic_line(stderr) or any(
        line.startswith(_CRASH_PREFIXES) for line in stderr.splitlines()
    )
    if crashed:
        error = traps.classify(
            exc,
            method=name,
            config=config,
            timeout_s=timeout_s,
            memory_size=memory_size,
            stderr=stderr,
        )
        if isinstance(error, GuestTrap) and error.guest_exit_code is None:
            error.guest_exit_code = code
        return error
    said = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    reason = said or "it wrote nothing on stderr"
    return GuestError(
        StatusCode.UNKNOWN, f"{name} exited with status {code}: {reason}", method=name
    )


def _too_large(name: str, written: int, limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"{name}: the response ({written} bytes or more on stdout) is over the limit of "
        f"{limit} bytes",
        method=name,
    )


def _check_command(interface: ModuleInterface, name: str) -> None:
    if interface.kind is ModuleKind.WASI_COMMAND:
        return
    use = {
        ModuleKind.BRIDGE: "load it with bridge.load()",
        ModuleKind.PLAIN: "call its functions with bridge.runtime.scalar.ScalarModule",
    }[interface.kind]
    raise LoadError(f"{name} is {interface.kind.describe()}, not a WASI command: {use}", path=name)


def _check_env(name: str, env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidArguments(
                f"{name}: environment variables are str -> str, got {key!r}: {value!r}",
                method=name,
            )
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise InvalidArguments(
                f"{name}: cannot pass the environment variable {key!r}: a name is not empty "
                "and has no '=', and neither name nor value has a NUL",
                method=name,
            )


# --- Wasmer (wasmer-sdk) ----------------------------------------------------------------

_WASMER_EXTRA = "pip install 'bridge-wasm[wasmer]' (or: pip install wasmer-sdk)"
# wasmer-sdk reports its own timeout; this is only for the day it does not.
_WASMER_GRACE_S = 30.0


def _check_wasmer_config(config: RuntimeConfig) -> None:
    if config.fuel is not None:
        raise ConfigError(
            "fuel is not available on engine 'wasmer' (wasmer-sdk has no metering): "
            "unset fuel or use engine 'wasmtime'"
        )
    if config.wasi_dirs:
        raise ConfigError(
            "wasi_dirs cannot be granted on engine 'wasmer' (a wasmer-sdk sandbox maps no "
            "host directory): use engine 'wasmtime'"
        )
    _wasmer_sdk()


@functools.cache
def _wasmer_sdk() -> Any:
    try:
        return importlib.import_module("wasmer_sdk")
    except ImportError:
        raise ConfigError(
            f"engine 'wasmer' needs the wasmer-sdk package, which is not installed: {_WASMER_EXTRA}"
        ) from None


@functools.cache
def _warn_memory_limit() -> None:
    log.warning(
        "engine 'wasmer' does not enforce memory_limit_bytes, and stops a guest at its "
        "deadline only at the guest's next system call: run untrusted commands on wasmtime"
    )


class _WasmerRunner:
    def __init__(self, wasm: bytes, config: RuntimeConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._client = _wasmer_client(_wasmer_cache_root(config))
        sdk = _wasmer_sdk()
        try:
            # Compiled at the first run, then kept in the client's cache.
            self._package = _loop().run(self._client.packages.load(wasm), None)
        except sdk.WasmerError as exc:
            raise LoadError(f"wasmer cannot load {name}: {exc}", path=name) from exc
        _warn_memory_limit()

    def run(self, request: bytes, env: Mapping[str, str], timeout_s: float | None) -> bytes:
        config, name, sdk = self._config, self._name, _wasmer_sdk()
        limit = config.max_message_bytes
        wait = None if timeout_s is None else timeout_s + _WASMER_GRACE_S
        try:
            out = _loop().run(self._run(request, env, timeout_s, limit), wait)
        except concurrent.futures.TimeoutError:
            raise _deadline(name, timeout_s) from None
        except sdk.WasmerError as exc:
            if exc.code == "EXECUTION_ERROR":  # a trap: "RuntimeError: unreachable ..."
                raise traps.classify(
                    exc, method=name, config=config, timeout_s=timeout_s, memory_size=0
                ) from exc
            raise CallError(
                f"wasmer could not run {name}: {exc} ({exc.code})", method=name
            ) from exc
        stderr = out.stderr.bytes.decode("utf-8", "replace")
        self._log_stderr(out.stderr.bytes, stderr)
        reason = out.reason.value
        if reason == "timeout":
            raise _deadline(name, timeout_s)
        if reason != "exited":
            raise GuestTrap(
                f"{name} trapped: wasmer reports the process {reason} "
                f"(exit status {out.exit_code})",
                method=name,
                guest_exit_code=out.exit_code,
                guest_stderr=stderr,
            )
        if out.exit_code != 0:
            status = RuntimeError(f"the guest exited with status {out.exit_code}")
            raise _exit_failure(status, out.exit_code, name, config, timeout_s, 0, stderr)
        if out.stdout.truncated:
            raise _too_large(name, limit + 1, limit)
        return bytes(out.stdout.bytes)

    async def _run(
        self, request: bytes, env: Mapping[str, str], timeout_s: float | None, limit: int
    ) -> Any:
        # A sandbox per run: its in-memory filesystem must not carry one run's files into
        # the next. The network stays disabled (wasmer-sdk's default, said explicitly).
        sandbox = await self._client.sandboxes.create(packages=[self._package], network="disabled")
        async with sandbox:
            command = sandbox.command(self._package, env=dict(env))
            return await command.run(
                stdin=request, timeout=timeout_s, output_bytes=limit, check=False
            )

    def _log_stderr(self, raw: bytes, text: str) -> None:
        if not raw:
            return
        if self._config.inherit_stdio:
            sys.stderr.write(text)
            sys.stderr.flush()
            return
        for line in text.splitlines():
            guest_log.warning("%s stderr: %s", self._name, line)


def _deadline(name: str, timeout_s: float | None) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"{name} ran past its deadline of {timeout_s} s and was stopped",
        method=name,
        timeout_s=timeout_s if timeout_s is not None else float("inf"),
    )


def _wasmer_cache_root(config: RuntimeConfig) -> str:
    # wasmer-sdk's default is `.wasmer` in the current directory: never that.
    if config.cache_dir is not None:
        return str(config.cache_dir / "wasmer")
    return _private_cache_root()


@functools.cache
def _private_cache_root() -> str:
    path = tempfile.mkdtemp(prefix="bridge-wasmer-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def _wasmer_client(cache_root: str) -> Any:
    """One client per cache directory for the process: it owns the runtime's threads."""
    return _wasmer_sdk().Wasmer(cache_root=cache_root)


_T = TypeVar("_T")


class _Loop:
    """An asyncio loop on a daemon thread of ours: wasmer-sdk is async, `run` is not,
    and the caller may be inside a running loop of its own."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._loop.run_forever, name="bridge-wasmer")
        thread.daemon = True
        thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout_s: float | None) -> _T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


@functools.cache
def _loop() -> _Loop:
    return _Loop()
