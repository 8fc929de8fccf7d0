"""Turn what wasmtime raises during a guest call into bridge's typed errors.

One place decides what a trap means (deadline, fuel, memory, a plain trap or a WASI
exit), for bridge modules, plain-export modules and WASI commands alike.
"""

from __future__ import annotations

from collections.abc import Callable

import wasmtime

from ..config import RuntimeConfig
from ..errors import (
    CallError,
    DeadlineExceeded,
    FuelExhausted,
    GuestTrap,
    MemoryLimitExceeded,
)
from ._fastcall import trap_code
from .output import GuestOutput

__all__ = ["classify", "first_line", "panic_line"]

# What allocators print when memory runs out (Go's runtime, Rust's std on WASI).
_OOM_WORDS = ("out of memory", "memory allocation of")


def classify(
    exc: Exception,
    *,
    method: str,
    config: RuntimeConfig,
    timeout_s: float | None,
    memory_size: int | Callable[[], int],
    output: GuestOutput | None = None,
    stderr: str = "",
    deadline: bool = False,
) -> CallError:
    """The error for `exc`, raised by wasmtime while `method` ran.

    `timeout_s` is the call's own deadline, if it had one (else the config's).
    `memory_size` is the guest's memory after the failure (or a callable that reads
    it); `output` (taken and cleared) or `stderr` is what the guest wrote on stderr
    lately. wasmtime refuses a memory grow past the limit without saying so, and the
    guest then aborts, so a trap with memory at half the limit or more (allocators
    double) or with an allocator's out-of-memory message counts as the limit.

    `deadline` says the call ran into its deadline whatever `exc` is (the native call's
    epoch-deadline callback fails it with an error, not wasmtime's trap).

    A deadline or fuel trap needs neither memory nor stderr: they are not read then.
    Reading them gives up the GIL (a C call, a read() of the pipe), and beside CPU-busy
    threads each such release delays the caller by a switch interval or more.
    """
    code = trap_code(exc) if isinstance(exc, wasmtime.Trap) else None
    if deadline:
        code = wasmtime.TrapCode.INTERRUPT
    if code is wasmtime.TrapCode.INTERRUPT or code is wasmtime.TrapCode.OUT_OF_FUEL:
        if output is not None:
            output.clear()  # the pump still logs what is left in the pipe
    elif output is not None:
        stderr = output.tail()
        output.clear()
    if timeout_s is None:
        timeout_s = config.call_timeout_s
    if code is wasmtime.TrapCode.INTERRUPT:
        return DeadlineExceeded(
            f"{method} ran past its deadline of {timeout_s} s and was stopped",
            method=method,
            timeout_s=timeout_s if timeout_s is not None else float("inf"),
        )
    if code is wasmtime.TrapCode.OUT_OF_FUEL:
        return FuelExhausted(
            f"{method} used up its fuel ({config.fuel}) and was stopped", method=method
        )
    limit = config.memory_limit_bytes
    if callable(memory_size):
        memory_size = memory_size()
    if memory_size * 2 >= limit or any(word in stderr for word in _OOM_WORDS):
        return MemoryLimitExceeded(
            f"{method} ran out of memory: the guest's memory is at {memory_size >> 20} MiB "
            f"of its {limit >> 20} MiB limit",
            method=method,
        )
    panic = panic_line(stderr)
    suffix = f" ({panic})" if panic else ""
    if isinstance(exc, wasmtime.ExitTrap):
        return GuestTrap(
            f"{method} trapped: the guest exited with status {exc.code}{suffix}",
            method=method,
            guest_exit_code=exc.code,
            guest_stderr=stderr,
        )
    return GuestTrap(
        f"{method} trapped: {_reason(exc)}{suffix}",
        method=method,
        trap_code=code.name.lower() if code is not None else None,
        backtrace=str(exc).strip(),
        guest_stderr=stderr,
    )


def panic_line(stderr: str) -> str:
    """The line where Go (`panic: ...`) or Rust on WASI (`... panicked at ...`) says why."""
    return next(
        (ln for ln in stderr.splitlines() if ln.startswith("panic:") or "panicked at" in ln), ""
    )


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _reason(exc: Exception) -> str:
    # wasmtime's text starts with the backtrace and ends with "wasm trap: <reason>".
    text = str(exc)
    marker = "wasm trap: "
    if marker in text:
        return text[text.rindex(marker) + len(marker) :].strip().splitlines()[0]
    return first_line(exc)
