"""Shadow mode's experiment: Python is the control, the bridge the candidate.

After github/scientist (and laboratory, its Python port): the control always answers
and its exceptions propagate unchanged; the candidate's value or exception is only
recorded; comparing and publishing never raise into the caller (strict mode aside).
What scientist's users miss, done here: the request is captured before the control
runs (so a control that mutates its arguments cannot skew the candidate), the
candidate has its own deadline, off-thread candidates are bounded (dropped and counted
when the queue is full, never piling up), and a mismatch keeps the request so it can
be replayed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from ..errors import ShadowMismatch
from ..schema.jsonable import message_json, message_to_dict
from .compare import Comparison
from .stats import Recorder

__all__ = ["Experiment", "Mismatch", "Outcome", "Unmappable", "Workers", "detached"]

logger = logging.getLogger("bridge.route")

#: How many mismatch records each route keeps (the newest).
RECORDS_KEPT = 100
#: How many differences a stream's mismatch lists (as compare.py's for one message).
_MAX_STREAM_DIFFERENCES = 20


def detached(exc: BaseException) -> BaseException:
    """`exc` without the tracebacks of its chain, for keeping in a record.

    A traceback keeps every frame it passed through alive, and a failed guest call's
    frames hold the instance, with the guest's whole memory: a route's records of
    candidate errors pinned up to a hundred dead instances.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return exc


#: How many messages of a stream a mismatch's description shows.
_MESSAGES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one side did: a response message, or the exception it raised. A stream's
    side (a server-streaming route) has `values`, its messages in order: all of them, or
    those before `error`."""

    value: Message | None = None
    error: BaseException | None = None
    values: tuple[Message, ...] | None = None

    def describe(self) -> str:
        error = None if self.error is None else f"{type(self.error).__name__}: {self.error}"
        if self.values is not None:
            shown = [message_json(v) for v in self.values[:_MESSAGES_SHOWN]]
            if len(self.values) > _MESSAGES_SHOWN:
                shown.append(f"... {len(self.values) - _MESSAGES_SHOWN} more")
            stream = f"[{', '.join(shown)}]"
            return stream if error is None else f"{stream} then {error}"
        if error is not None:
            return error
        if self.value is None:
            return "(nothing)"
        return message_json(self.value)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One shadow call whose candidate disagreed with Python, with its request kept for
    replay (`Route.replay`), after the route's `redact` function if it has one.

    `kind` is `value` (both answered, differently), `candidate-error` (only the
    candidate failed), `control-error` (only Python raised), `unmappable` (Python's
    answer does not fit the response message) or `compare-error` (a user comparator,
    rule or redact function raised). `port` is the candidate's side: wasm or sidecar.
    """

    method: str
    kind: str
    request: Message | None
    control: Outcome
    candidate: Outcome
    differences: tuple[str, ...] = ()
    time: float = field(default_factory=time.time)
    port: str = "bridge"

    def __str__(self) -> str:
        return self.summary()

    def summary(self, *, request: bool = True) -> str:
        """One line: the method, what differs with each side named, and the request
        (left out of log lines: a log is kept longer and read more widely than a report)."""
        port = f"the port ({self.port})"
        python, answer = self.control.describe(), self.candidate.describe()
        differences = "; ".join(self.differences)
        if self.kind == "value" and differences:
            detail = f"python and {port} differ (python != port): {differences}"
        elif self.kind == "value":
            detail = f"the compare function rejects {port}: python {python}, port {answer}"
        elif self.kind == "candidate-error":
            detail = f"{port} failed where python answered: port {answer}, python {python}"
        elif self.kind == "control-error":
            detail = f"python raised where {port} answered: python {python}, port {answer}"
        elif self.kind == "unmappable":
            detail = f"python's answer does not fit the response message: {differences}"
        else:
            detail = f"comparing python and {port} failed: {differences}"
        if not request:
            return f"{self.method}: {detail}"
        shown = "(not kept)" if self.request is None else message_json(self.request)
        return f"{self.method}: {detail}; request {shown}"

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "method": self.method,
            "kind": self.kind,
            "port": self.port,
            "request": None if self.request is None else message_to_dict(self.request),
            "python": self.control.describe(),
            "bridge": self.candidate.describe(),
            "differences": list(self.differences),
        }


class Experiment:
    """Judges one shadow call: compare, apply known-mismatch rules, record, publish."""

    def __init__(
        self,
        method: str,
        comparison: Comparison,
        *,
        recorder: Recorder,
        records: deque[Mismatch],
        compare: Callable[[Message, Message], bool] | None = None,
        ignore: Sequence[Callable[[Mismatch], bool]] = (),
        redact: Callable[[Message], Message] | None = None,
        strict: bool = False,
    ) -> None:
        self.method = method
        self.comparison = comparison
        self.recorder = recorder
        self.records = records
        self.compare = compare
        self.ignore = tuple(ignore)
        self.redact = redact
        self.strict = strict

    def judge(self, request: Message | None, control: Outcome, candidate: Outcome) -> None:
        """Record a mismatch if there is one; raise only in strict mode."""
        try:
            mismatch = self.compare_outcomes(request, control, candidate)
        except Exception as exc:  # noqa: BLE001 - a user comparator must not fail the call
            logger.exception("%s: the shadow comparison failed", self.method)
            mismatch = Mismatch(
                self.method,
                "compare-error",
                request,
                control,
                candidate,
                (repr(exc),),
                port=self.recorder.side,
            )
        if mismatch is None:
            return
        try:
            known = any(rule(mismatch) for rule in self.ignore)
        except Exception:  # noqa: BLE001
            logger.exception("%s: a known-mismatch rule failed", self.method)
            known = False
        if known:
            self.recorder.count("ignored")
            return
        self.recorder.count("mismatches")
        record = self._redacted(mismatch)
        self.records.append(record)
        if logger.isEnabledFor(logging.INFO):
            logger.info("shadow mismatch: %s", record.summary(request=False))
        if self.strict:
            # The route's wrapper re-raises it without these frames (router.py).
            raise ShadowMismatch(str(record), mismatch=record)

    def compare_outcomes(
        self, request: Message | None, control: Outcome, candidate: Outcome
    ) -> Mismatch | None:
        """The mismatch between two outcomes, if any; records nothing."""

        def found(kind: str, differences: Sequence[str] = ()) -> Mismatch:
            return Mismatch(
                self.method,
                kind,
                request,
                control,
                candidate,
                tuple(differences),
                port=self.recorder.side,
            )

        if control.values is not None or candidate.values is not None:
            return self._compare_streams(control, candidate, found)
        if control.error is not None:
            if isinstance(control.error, Unmappable):
                return found("unmappable", [str(control.error)])
            # Both failing is agreement: the caller gets Python's exception either way.
            return None if candidate.error is not None else found("control-error")
        if candidate.error is not None:
            return found("candidate-error")
        assert control.value is not None and candidate.value is not None
        if self.compare is not None:
            return None if self.compare(control.value, candidate.value) else found("value")
        differences = self.comparison.differences(control.value, candidate.value)
        return found("value", differences) if differences else None

    def _compare_streams(
        self, control: Outcome, candidate: Outcome, found: Callable[..., Mismatch]
    ) -> Mismatch | None:
        """Two streams: their lengths and each message. Messages before an error count
        too, so both sides failing agrees only if they sent the same messages first."""
        if isinstance(control.error, Unmappable):
            return found("unmappable", [str(control.error)])
        if control.error is not None and candidate.error is None:
            return found("control-error")
        if candidate.error is not None and control.error is None:
            return found("candidate-error")
        python, port = control.values or (), candidate.values or ()
        differences: list[str] = []
        if len(python) != len(port):
            differences.append(f"messages: {len(python)} != {len(port)}")
        for index, (a, b) in enumerate(zip(python, port, strict=False)):
            if len(differences) >= _MAX_STREAM_DIFFERENCES:
                break
            if self.compare is not None:
                if not self.compare(a, b):
                    differences.append(f"[{index}]: the compare function rejects the port's")
                continue
            differences.extend(f"[{index}].{d}" for d in self.comparison.differences(a, b))
        return found("value", differences[:_MAX_STREAM_DIFFERENCES]) if differences else None

    def _redacted(self, mismatch: Mismatch) -> Mismatch:
        if self.redact is None or mismatch.request is None:
            return mismatch
        copy = type(mismatch.request)()
        copy.CopyFrom(mismatch.request)
        try:
            redacted: Message | None = self.redact(copy)
        except Exception:  # noqa: BLE001
            logger.exception(
                "%s: redact failed; the mismatch is kept without its request", self.method
            )
            redacted = None
        return Mismatch(
            mismatch.method,
            mismatch.kind,
            redacted,
            mismatch.control,
            mismatch.candidate,
            mismatch.differences,
            mismatch.time,
            mismatch.port,
        )


class Unmappable(Exception):
    """Python's answer could not be made into the response message."""


def control_outcome(value: Any, to_message: Callable[[Any], Message]) -> Outcome:
    """Python's answer as an Outcome (its response message, or why there is none)."""
    try:
        return Outcome(value=to_message(value))
    except Exception as exc:  # noqa: BLE001 - recorded as an `unmappable` mismatch
        return Outcome(error=Unmappable(f"python answered {value!r}: {exc}"))


class Workers:
    """A few daemon threads that run off-thread candidates; bounded per route.

    `pending` counts a job from submit() until it has run or was dropped (by close()),
    so drain() waits for exactly the jobs that will still run.
    """

    THREADS = 2

    def __init__(self) -> None:
        self._jobs: deque[tuple[str, Callable[[], None], Callable[[], None] | None]] = deque()
        self._pending: dict[str, int] = {}
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(
        self,
        key: str,
        limit: int,
        job: Callable[[], None],
        *,
        dropped: Callable[[], None] | None = None,
    ) -> bool:
        """Queue `job` unless `key` already has `limit` jobs waiting; False if dropped.
        `dropped` is called if close() discards the job before it runs."""
        with self._cond:
            if self._closed or self._pending.get(key, 0) >= limit:
                return False
            self._pending[key] = self._pending.get(key, 0) + 1
            self._jobs.append((key, job, dropped))
            if len(self._threads) < self.THREADS:
                thread = threading.Thread(
                    target=self._work, name=f"bridge-shadow-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cond.notify()
        return True

    def drain(self, timeout_s: float) -> bool:
        """Wait until every queued job has run; False if `timeout_s` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while any(self._pending.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Discard the jobs not started (their `dropped` callbacks are called); the
        running ones finish. Safe twice."""
        with self._cond:
            self._closed = True
            discarded = list(self._jobs)
            self._jobs.clear()
            for key, _, _ in discarded:
                self._pending[key] -= 1
            self._cond.notify_all()
        for _, _, dropped in discarded:
            if dropped is not None:
                try:
                    dropped()
                except Exception:  # noqa: BLE001 - counting must not stop the close
                    logger.exception("counting a dropped shadow candidate failed")

    def after_fork(self) -> None:
        """In a forked child: the parent's threads do not exist here, and its queued jobs
        are the parent's to run; start afresh (threads start again on demand)."""
        self._cond = threading.Condition()
        self._jobs.clear()
        self._pending.clear()
        self._threads = []

    def _run(self, key: str, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - a candidate never takes a worker down
            logger.exception("shadow candidate of %s failed", key)
        finally:
            with self._cond:
                self._pending[key] -= 1
                self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key, job, _ = self._jobs.popleft()
            self._run(key, job)
