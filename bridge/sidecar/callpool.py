"""The threads that run a sidecar's guest calls: as few as keep up, more while calls wait.

A process's threads share one GIL. Short calls keep it busy from 2 threads; every thread
more only adds threads waiting for it at each call: with 8 clients calling a short method,
8 threads cost ~30-60% more CPU per call than 2 and served ~25-45% fewer calls (measured,
docs/performance.md). But a call may also hold its thread without using the CPU: a long
stream, a guest that sleeps or waits on a host function. So a `CallPool` keeps START
threads free to compute: a thread that has been on one call for GROW_S no longer counts
(it waits, or its call is long), and a call that finds fewer than START others takes a
thread of its own, up to the pool's limit. Should calls wait GROW_S all the same (more
work than START threads get through), one more thread is added each GROW_S. The START
threads stay for the next calls; an added thread leaves as soon as no call waits.

It is a ThreadPoolExecutor, as grpcio requires of a handler's `experimental_thread_pool`:
its threads run the loops that take calls from the pool's own queue.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GROW_S", "IDLE_S", "START", "CallPool"]

#: Threads that take calls as they come (2: one in Python while the other is in C or wasm).
START = 2
#: How long the oldest waiting call waits before another thread is added.
GROW_S = 0.005
#: How long one of the START threads waits for a next call before it goes.
IDLE_S = 1.0


@dataclass
class _Call:
    future: futures.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queued: float = field(default_factory=time.monotonic)


class CallPool(futures.ThreadPoolExecutor):
    """Runs calls on START threads, up to `limit` while calls wait (see the module)."""

    def __init__(self, limit: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers=limit, thread_name_prefix=thread_name_prefix)
        self._limit = limit
        self._waiting: deque[_Call] = deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # a call waits: for idle threads
        self._watched = threading.Condition(self._lock)  # for the watcher
        self._running = 0  # threads taking calls
        self._idle = 0  # of them, waiting for a call that no submit has claimed them for
        self._claims = 0  # idle threads woken for a call that have not woken yet
        self._since: dict[object, float] = {}  # when each busy thread took its call
        self._closed = False
        self._watcher: threading.Thread | None = None
        # Whether the watcher waits for a call to wait (and must be woken for it);
        # otherwise it looks again by itself within GROW_S.
        self._watcher_idle = True

    @property
    def running(self) -> int:
        """Threads taking calls now."""
        return self._running

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        future: futures.Future[Any] = futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            call = _Call(future, fn, args, kwargs)
            self._waiting.append(call)
            if self._idle:  # claimed: the next call finds no idle thread to count on
                self._idle -= 1
                self._claims += 1
                self._work.notify()
            elif self._running < min(START, self._limit):
                self._add(stays=True)
            elif self._running < self._limit and self._free(call.queued) < START:
                self._add(stays=False)
            elif self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name=f"{self._thread_name_prefix}-watch", daemon=True
                )
                self._watcher.start()
            elif self._watcher_idle:
                self._watched.notify()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                while self._waiting:
                    self._waiting.popleft().future.cancel()
            self._work.notify_all()
            self._watched.notify_all()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)

    def _free(self, now: float) -> int:
        """Threads taking calls that have not been on one call for GROW_S."""
        return self._running - sum(1 for since in self._since.values() if now - since >= GROW_S)

    def _add(self, *, stays: bool) -> None:
        """One more thread taking calls (with the lock held)."""
        self._running += 1
        try:
            super().submit(self._take_calls, stays)
        except BaseException:
            self._running -= 1
            raise

    def _take_calls(self, stays: bool) -> None:
        """Runs waiting calls; when none waits, a START thread waits IDLE_S for one, an
        added thread goes at once."""
        me = object()
        while True:
            with self._lock:
                self._since.pop(me, None)
                while not self._waiting:
                    if not stays or self._closed:
                        self._running -= 1
                        return
                    self._idle += 1
                    self._work.wait(IDLE_S)
                    # Each wake takes one: a claim if any (even a wake by the timeout that
                    # a notify raced with), else its own idle count.
                    claimed = self._claims > 0
                    if claimed:
                        self._claims -= 1
                    else:
                        self._idle -= 1
                    if not claimed and not self._waiting:
                        self._running -= 1
                        return
                call = self._waiting.popleft()
                self._since[me] = time.monotonic()
            if not call.future.set_running_or_notify_cancel():
                continue
            result: Any = None
            try:
                result = call.fn(*call.args, **call.kwargs)
            except BaseException as exc:  # noqa: BLE001 - the call's future carries it
                call.future.set_exception(exc)
            else:
                call.future.set_result(result)
            del call, result  # not kept alive while this thread waits for the next

    def _watch(self) -> None:
        """Adds a thread whenever the oldest waiting call has waited GROW_S, and at most
        one every GROW_S (a thread just added may not have taken its call yet)."""
        added = float("-inf")
        with self._lock:
            while not self._closed:
                if not self._waiting or self._running >= self._limit:
                    self._watcher_idle = True
                    self._watched.wait()
                    self._watcher_idle = False
                    continue
                now = time.monotonic()
                due = max(self._waiting[0].queued, added) + GROW_S
                if now < due:
                    self._watched.wait(due - now)
                    continue
                self._add(stays=False)
                added = now
