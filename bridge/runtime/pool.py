"""A bounded, thread-safe pool of instances of one module.

Each call takes an instance for its duration and gives it back. Instances are made by a
filler thread, ahead of need: at least `min_idle` stay ready, up to `size` in all, so no
caller waits for the ~0.6 ms a Go instance takes to start (or the compile of a fresh
one) in steady state. An instance that broke (trap, deadline, memory) is closed, and the
filler makes its replacement off the caller's path.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ..errors import BridgeError, PoolExhausted

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
        self._live = 0  # idle + in use + being made
        self._waiting = 0
        self._closed = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._need = threading.Event()
        self._last_error: BridgeError | None = None
        # The first instance is made here, on the loader's path: a module whose start-up
        # fails then fails at load, with the guest's own error.
        self._idle.append(factory())
        self._live = 1
        self._filler = threading.Thread(target=self._fill, name=f"bridge-pool-{name}", daemon=True)
        self._filler.start()
        self._need.set()

    @property
    def live(self) -> int:
        """Instances alive now: idle, in use, or being made."""
        return self._live

    @property
    def idle(self) -> int:
        return len(self._idle)

    def stats(self) -> dict[str, int]:
        """Instances alive and idle, and the largest memory among the idle ones.

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
            return {"instances": self._live, "idle": len(taken), "max_memory_bytes": memory}

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
        if self._waiting:
            with self._changed:
                self._changed.notify()

    def close(self) -> None:
        """Close every idle instance now; instances in use close when released."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._need.set()
        while self._idle:
            self._discard(self._idle.pop())

    def _acquire_slow(self) -> T:
        deadline = time.monotonic() + self._wait_s
        with self._changed:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise ValueError(f"the pool of {self.name} was closed")
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
        instance.close()
        with self._changed:
            self._live -= 1
        self._need.set()

    def _wanted(self) -> bool:
        with self._lock:
            if self._closed or self._live >= self._size:
                return False
            return len(self._idle) < self._min_idle or self._waiting > 0

    def _fill(self) -> None:
        backoff = _MIN_BACKOFF_S
        while True:
            self._need.wait()
            self._need.clear()
            while self._wanted():
                with self._lock:
                    self._live += 1  # the slot is taken while the instance is made
                try:
                    instance = self._factory()
                except BridgeError as exc:
                    with self._lock:
                        self._live -= 1
                    self._last_error = exc
                    log.warning("%s: cannot make an instance: %s", self.name, exc)
                    time.sleep(backoff)  # a guest whose start-up fails must not spin us
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                    continue
                backoff = _MIN_BACKOFF_S
                with self._changed:
                    if self._closed:
                        self._live -= 1
                        instance.close()
                        return
                    self._idle.append(instance)
                    self._changed.notify()
            if self._closed:
                return
