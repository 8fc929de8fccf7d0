"""A bounded, thread-safe pool of instances of one module.

Each call takes an instance for its duration and gives it back. Instances are made by a
filler thread, ahead of need: at least `min_idle` stay ready, up to `size` in all, so no
caller waits for the ~0.6 ms a Go instance takes to start (or the compile of a fresh
one) in steady state. An instance that broke (trap, deadline, memory) is handed to the
filler, which closes it and makes its replacement, both off the caller's path.

The filler survives whatever making an instance raises (a guest's failing start-up, a
shortage of file descriptors or memory): it logs, counts (`stats()["failures"]`), backs
off and tries again, so the pool recovers once the cause is gone. It holds no reference
to the module, only to the pool, and ends when the pool is closed.

After fork() the child's pools start fillers of their own and leave the parent's
instances alone (their output pipes are shared with the parent, and those in use
belonged to threads the child does not have): the child makes its own.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ..errors import BridgeError, ModuleClosed, PoolExhausted
from . import output
from .engine import fork_guard

__all__ = ["InstancePool"]

log = logging.getLogger("bridge.runtime")


class Poolable(Protocol):
    broken: bool

    def close(self) -> None: ...

    def memory_size(self) -> int: ...


T = TypeVar("T", bound=Poolable)

# A waiter re-checks this often, so that a release between its check and its wait is
# never missed for long (the release path only notifies when someone waits).
_WAIT_SLICE_S = 0.05
_MIN_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 5.0


class InstancePool(Generic[T]):
    """Instances made by `factory`: `acquire()` one, `release()` it when the call ends."""

    def __init__(
        self, factory: Callable[[], T], *, name: str, size: int, min_idle: int, wait_s: float
    ) -> None:
        self.name = name
        self._factory = factory
        self._size = size
        self._min_idle = min_idle
        self._wait_s = wait_s
        # deque.append/pop are atomic in CPython: the hot path takes no lock.
        self._idle: collections.deque[T] = collections.deque()
        # Broken instances, no longer counted in _live, that the filler closes.
        self._discarded: collections.deque[T] = collections.deque()
        self._live = 0  # idle + in use + being made
        self._waiting = 0
        self._closed = False
        self._failures = 0  # attempts to make an instance that raised, ever
        self._last_error: BridgeError | None = None
        self._init_threading()
        # The first instance is made here, on the loader's path: a module whose start-up
        # fails then fails at load, with the guest's own error.
        self._idle.append(self._make())
        self._live = 1
        self._start_filler()
        _pools.add(self)

    def _init_threading(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._need = threading.Event()
        self._stopping = threading.Event()  # set by close(): cuts the filler's back-off

    def _start_filler(self) -> None:
        # A thread per pool; its target holds the pool, never the module that owns it.
        self._filler = threading.Thread(
            target=self._fill, name=f"bridge-pool-{self.name}", daemon=True
        )
        self._filler.start()
        self._need.set()

    @property
    def live(self) -> int:
        """Instances alive now: idle, in use, or being made."""
        return self._live

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> dict[str, int]:
        """Instances alive and idle, the largest memory among the idle ones, and how many
        attempts to make an instance failed since the pool was made.

        Idle instances are taken out of the pool while they are measured: a store may
        be touched by one thread at a time, and an instance in use is never looked at.
        """
        # Under the lock: the filler, which decides under it too, must not take the
        # instances out for measuring as a sign that more are needed.
        with self._lock:
            taken: list[T] = []
            try:
                while True:
                    taken.append(self._idle.pop())
            except IndexError:
                pass
            try:
                memory = max((i.memory_size() for i in taken), default=0)
            finally:
                self._idle.extend(taken)
                if self._waiting:
                    self._changed.notify_all()
            return {
                "instances": self._live,
                "idle": len(taken),
                "max_memory_bytes": memory,
                "failures": self._failures,
            }

    def acquire(self) -> T:
        """An idle instance; waits up to `wait_s` for one, then PoolExhausted."""
        try:
            instance = self._idle.pop()
        except IndexError:
            return self._acquire_slow()
        if len(self._idle) < self._min_idle and self._live < self._size:
            self._need.set()
        return instance

    def release(self, instance: T) -> None:
        """Give an instance back after a call; a broken one is closed and replaced."""
        if instance.broken or self._closed:
            self._discard(instance)
            return
        self._idle.append(instance)
        # close() may have emptied the pool between the check above and the append:
        # it set _closed first, so one of the two sees the other's instance.
        if self._closed:
            self._close_idle()
        elif self._waiting:
            with self._changed:
                self._changed.notify()

    def close(self) -> None:
        """Close every idle instance now; instances in use close when released."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._stopping.set()
        self._need.set()
        self._close_idle()

    def _acquire_slow(self) -> T:
        deadline = time.monotonic() + self._wait_s
        with self._changed:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise ModuleClosed(f"{self.name} was closed", path=self.name)
                    try:
                        return self._idle.pop()
                    except IndexError:
                        pass
                    if self._live < self._size:
                        self._need.set()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise self._exhausted()
                    self._changed.wait(min(remaining, _WAIT_SLICE_S))
            finally:
                self._waiting -= 1

    def _exhausted(self) -> BridgeError:
        if self._last_error is not None and self._live == 0:
            # Nothing is alive because making instances fails: that is the real news.
            return self._last_error
        return PoolExhausted(
            f"{self.name}: all {self._live} instances stayed busy for {self._wait_s} s "
            f"(pool size {self._size}); raise pool_size or pool_wait_s"
        )

    def _discard(self, instance: T) -> None:
        with self._changed:
            self._live -= 1
        # Closing takes syscalls that give up the GIL, each a wait for it again while
        # other threads run: the filler does it, not the caller whose call failed.
        self._discarded.append(instance)
        self._need.set()
        if self._closed:  # the filler may be gone: nobody else would close it
            self._close_idle()

    def _close_idle(self) -> None:
        """After close(): close the idle and discarded instances (each exactly once)."""
        while True:
            try:
                instance = self._idle.pop()
            except IndexError:
                break
            with self._changed:
                self._live -= 1
            self._close(instance)
        self._close_discarded()

    def _close_discarded(self) -> None:
        while True:
            try:
                instance = self._discarded.pop()
            except IndexError:
                return
            self._close(instance)

    def _close(self, instance: T) -> None:
        try:
            instance.close()
        except Exception:  # one instance that fails to close must not stop the others
            log.exception("%s: cannot close an instance", self.name)

    def _make(self) -> T:
        with fork_guard():
            return self._factory()

    def _wanted(self) -> bool:
        with self._lock:
            if self._closed or self._live >= self._size:
                return False
            return len(self._idle) < self._min_idle or self._waiting > 0

    def _fill(self) -> None:
        backoff = _MIN_BACKOFF_S
        while not self._closed:
            self._need.wait()
            self._need.clear()
            self._close_discarded()
            while self._wanted():
                with self._lock:
                    self._live += 1  # the slot is taken while the instance is made
                try:
                    instance = self._make()
                except Exception as exc:  # anything: a filler that dies wedges the pool
                    with self._lock:
                        self._live -= 1
                    self._failed(exc)
                    self._stopping.wait(backoff)  # a failing start-up must not spin us
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                    continue
                backoff = _MIN_BACKOFF_S
                with self._changed:
                    if not self._closed:
                        self._idle.append(instance)
                        self._changed.notify()
                        continue
                    self._live -= 1
                self._close(instance)
        self._close_idle()

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        if isinstance(exc, BridgeError):
            self._last_error = exc
        else:
            error = PoolExhausted(f"{self.name}: cannot make an instance: {exc}")
            error.__cause__ = exc
            self._last_error = error
        log.warning(
            "%s: cannot make an instance (failure %d, retrying): %s",
            self.name,
            self._failures,
            exc,
        )

    def _after_fork_in_child(self) -> None:
        # Every other thread is gone, and may have held the lock or waited on it.
        self._init_threading()
        self._waiting = 0
        # The parent's instances are the parent's (see the module's docstring).
        self._discarded.extend(self._idle)
        self._idle.clear()
        self._live = 0
        if self._closed:
            self._close_discarded()
        else:
            self._start_filler()


_pools: weakref.WeakSet[InstancePool[Any]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    output.after_fork_in_child()  # before any filler closes an inherited instance
    for pool in list(_pools):
        pool._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
