"""The sidecar's call pool: START threads for calls that keep up, more (up to the limit)
while calls wait, fewer again after."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bridge.sidecar import callpool
from bridge.sidecar.callpool import START, CallPool

WAIT_S = 10.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


class Gate:
    """Calls that wait until `release()`, counting how many wait at once."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._lock = threading.Lock()
        self.inside = 0
        self.most = 0

    def call(self, value: int) -> int:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            assert self._open.wait(WAIT_S), "the gate was never opened"
        finally:
            with self._lock:
                self.inside -= 1
        return value

    def release(self) -> None:
        self._open.set()


@pytest.fixture
def pool() -> Iterator[CallPool]:
    made = CallPool(4, thread_name_prefix="test-call")
    yield made
    made.shutdown(wait=True)


def test_calls_that_keep_up_run_on_start_threads(
    pool: CallPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A call may wait (this machine is busy) without a thread being added.
    monkeypatch.setattr(callpool, "GROW_S", 60.0)
    threads: set[int] = set()

    def work(index: int) -> int:
        threads.add(threading.get_ident())
        return index * 2

    results: list[int] = []

    def submitter(first: int) -> None:
        futures = [pool.submit(work, i) for i in range(first, first + 100)]
        results.extend(f.result(WAIT_S) for f in futures)

    submitters = [threading.Thread(target=submitter, args=(100 * i,)) for i in range(8)]
    for thread in submitters:
        thread.start()
    for thread in submitters:
        thread.join(WAIT_S)
    assert sorted(results) == [2 * i for i in range(800)]
    assert 1 <= len(threads) <= START
    wait_until(lambda: pool.running == 0, "the threads to give up")


def test_waiting_calls_get_threads_up_to_the_limit(pool: CallPool) -> None:
    gate = Gate()
    futures = [pool.submit(gate.call, i) for i in range(6)]
    # START at once, then one more every GROW_S while calls wait: the limit, 4.
    wait_until(lambda: gate.inside == 4, "4 calls inside the gate")
    time.sleep(20 * callpool.GROW_S)
    assert gate.most == 4 and pool.running == 4
    gate.release()
    assert [f.result(WAIT_S) for f in futures] == list(range(6))
    wait_until(lambda: pool.running == 0, "the threads to give up")
    # After the burst, calls that keep up start from START threads again.
    assert pool.submit(int, "7").result(WAIT_S) == 7
    assert pool.running <= START


def test_errors_and_cancelled_calls(pool: CallPool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callpool, "GROW_S", 60.0)
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 // 0).result(WAIT_S)
    gate = Gate()
    busy = [pool.submit(gate.call, i) for i in range(START)]
    wait_until(lambda: gate.inside == START, "the first calls inside the gate")
    ran = threading.Event()
    queued = pool.submit(ran.set)
    assert queued.cancel()  # it waits for a thread: it can still be cancelled
    later = pool.submit(gate.call, 99)
    gate.release()
    assert [f.result(WAIT_S) for f in busy] == list(range(START))
    assert later.result(WAIT_S) == 99
    assert queued.cancelled() and not ran.is_set()


def test_shutdown_refuses_new_calls_and_finishes_the_waiting_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(callpool, "GROW_S", 60.0)
    pool = CallPool(4)
    gate = Gate()
    futures = [pool.submit(gate.call, i) for i in range(START + 2)]
    wait_until(lambda: gate.inside == START, "the first calls inside the gate")
    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(int, "1")
    gate.release()
    assert [f.result(WAIT_S) for f in futures] == list(range(START + 2))
    pool.shutdown(wait=True)


def test_a_call_behind_calls_that_wait_gets_a_thread(
    pool: CallPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """START threads held by calls that wait (a stream, a sleeping guest) do not hold up a
    short call: it gets a thread of its own, which leaves once no call waits."""
    monkeypatch.setattr(callpool, "GROW_S", 0.05)
    gate = Gate()
    held = [pool.submit(gate.call, i) for i in range(START)]
    wait_until(lambda: gate.inside == START, "the first calls inside the gate")
    time.sleep(2 * callpool.GROW_S)  # long enough to count as waiting
    assert pool.submit(int, "5").result(WAIT_S) == 5  # while the gate is still closed
    wait_until(lambda: pool.running == START, "the added thread to leave")
    gate.release()
    assert [f.result(WAIT_S) for f in held] == list(range(START))
