"""What one routed call does in each mode, as a small object made when the mode is set.

`python` mode has no plan at all (the wrapper calls the original directly). The others:
BridgePlan (`wasm` and `sidecar`), CanaryPlan and ShadowPlan. Each has a sync and an
async entry point; only the way the legacy function is called differs between them.
A plan never changes: a flag flip builds a new one and swaps it in.

A failure of the bridge side is anything the encode-call-decode path raises except the
guest's own answer (GuestError) and a bad call (the TypeError the original would raise):
a BridgeError, or any other exception (a closed module, a bug), since with `fallback`
Python is to answer whenever the bridge could not.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from google.protobuf.message import DecodeError, EncodeError, Message

from ..backend import Backend
from ..errors import BridgeError, GuestError, LoadError
from .binding import Binding, identity
from .experiment import Experiment, Outcome, Workers, control_outcome, detached
from .stats import Recorder

__all__ = ["FALL_BACK", "BackendSlot", "BridgePlan", "CanaryPlan", "Plan", "ShadowPlan"]

logger = logging.getLogger("bridge.route")
_now = time.perf_counter_ns
_RETRY_LOAD_S = 5.0

Args = tuple[Any, ...]
Kwargs = Mapping[str, Any]
#: What Plan.answer returns when the bridge failed and Python is to answer instead.
FALL_BACK: Any = object()


class BackendSlot:
    """A backend made on first use (loading a module is not import-time work), shared
    by the routes it serves. A failed load is remembered for a few seconds, so a broken
    module costs one attempt, not one per call."""

    def __init__(self, name: str, make: Callable[[], Backend]) -> None:
        self.name = name
        self._make = make
        self._backend: Backend | None = None
        self._failure: tuple[float, Exception] | None = None
        self._closed = False
        self._lock = threading.Lock()

    def get(self) -> Backend:
        backend = self._backend
        if backend is not None:
            return backend
        with self._lock:
            if self._backend is None:
                if self._closed:
                    raise LoadError(f"{self.name} was closed with its router")
                if self._failure and time.monotonic() - self._failure[0] < _RETRY_LOAD_S:
                    raise self._failure[1]
                try:
                    self._backend = self._make()
                except Exception as exc:
                    self._failure = (time.monotonic(), exc)
                    raise
            return self._backend

    def close(self) -> None:
        """Close the backend for good: it is kept, so a call after this fails as a call
        on a closed backend does (and falls back, with fallback on) instead of quietly
        making a new one that nobody would close."""
        with self._lock:
            self._closed = True
            if self._backend is not None:
                self._backend.close()

    def after_fork(self) -> None:
        """In a forked child: a new lock (a parent thread may have held the old one)."""
        self._lock = threading.Lock()


class Plan:
    """The bridge side of a route: encode, call the backend, decode."""

    def __init__(
        self,
        fn: Callable[..., Any],
        binding: Binding,
        slot: BackendSlot,
        *,
        timeout_s: float | None,
        fallback: bool,
        errors: Mapping[int, type[Exception]],
    ) -> None:
        self.fn = fn
        self.errors = errors
        self.binding = binding
        self.method = binding.method
        self.slot = slot
        self.timeout_s = timeout_s
        self.fallback = fallback
        # Sidecar calls wait on the network: async callers do not hold their loop for it.
        self.offload = slot.name.startswith("sidecar")

    def bridge(self, request: Message, timeout_s: float | None) -> Message:
        """The backend's answer to `request`; raises BridgeError."""
        data = self.binding.serialize(request)  # before the backend is loaded or called
        data = self.slot.get().call(self.method, data, timeout_s=timeout_s)
        return self.binding.decode(data)

    def answer(self, args: Args, kwargs: Kwargs, recorder: Recorder) -> Any:
        """The bridge's answer as the legacy function's value, or FALL_BACK when it
        failed and Python is to answer; raises what failed() raises."""
        started = _now()
        request = None
        try:
            request = self.binding.encode(*args, **kwargs)
            response = self.bridge(request, self.timeout_s)
            value = self.binding.to_python(response)
        except Exception as exc:
            if request is None and not isinstance(exc, BridgeError):
                raise  # a bad call: what the original raises too, not a bridge failure
            recorder.call(_now() - started, error=True)
            self.failed(recorder, exc)
            return FALL_BACK
        recorder.call(_now() - started)
        return value

    async def answer_async(self, args: Args, kwargs: Kwargs, recorder: Recorder) -> Any:
        if self.offload:
            return await asyncio.to_thread(self.answer, args, kwargs, recorder)
        return self.answer(args, kwargs, recorder)

    def failed(self, recorder: Recorder, exc: Exception) -> None:
        """After a bridge failure: raise, unless Python is to answer instead.

        A guest's application error is an answer, not a failure: it is raised (as the
        exception the route maps its code to, if any) and never falls back.
        """
        if isinstance(exc, GuestError) or not self.fallback:
            self.raise_error(exc)
        recorder.count("fallbacks")
        logger.warning("%s: python answered instead of %s: %s", self.method, self.slot.name, exc)

    def raise_error(self, exc: Exception) -> NoReturn:
        """Raise `exc`; a GuestError as the exception the route maps its code to, if any."""
        if isinstance(exc, GuestError):
            mapped = self.errors.get(exc.code)
            if mapped is not None:
                raise mapped(exc.status_message) from exc
        raise exc


class BridgePlan(Plan):
    """`wasm` and `sidecar` modes: the bridge answers; Python only as a fallback."""

    def __init__(self, *args: Any, recorder: Recorder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = recorder
        binding = self.binding
        self._encode = binding.encode
        self._parse = binding.response_class.FromString
        to_python = binding.to_python
        self._to_python = None if to_python is identity else to_python
        self._samples = recorder.samples
        self._backend: Backend | None = None

    def __call__(self, args: Args, kwargs: Kwargs) -> Any:
        # The budget is <= 1 us over the module call (docs/performance.md, "Budgets"):
        # the steps of answer() are inlined, and the duration goes straight to the
        # recorder's deque.
        started = _now()
        request = None
        try:
            request = self._encode(*args, **kwargs)
            try:
                data = request.SerializeToString()  # Binding.serialize, inlined
            except EncodeError as exc:
                raise self.binding.unencodable(request, exc) from None
            backend = self._backend or self._load()
            data = backend.call(self.method, data, timeout_s=self.timeout_s)
            try:
                value = self._parse(data)
            except DecodeError:
                value = self.binding.decode(data)  # raises the AbiViolation
            if self._to_python is not None:
                value = self._to_python(value)
        except Exception as exc:
            if request is None and not isinstance(exc, BridgeError):
                raise  # a bad call: what the original raises too, not a bridge failure
            self.recorder.call(_now() - started, error=True)
            self.failed(self.recorder, exc)
            return self.fn(*args, **kwargs)
        samples = self._samples
        samples.append(_now() - started)
        if len(samples) > Recorder.FOLD_AT:
            self.recorder.fold()
        return value

    async def call_async(self, args: Args, kwargs: Kwargs) -> Any:
        value = await self.answer_async(args, kwargs, self.recorder)
        if value is not FALL_BACK:
            return value
        return await self.fn(*args, **kwargs)

    def _load(self) -> Backend:
        self._backend = self.slot.get()
        return self._backend


class CanaryPlan(Plan):
    """`canary:N`: N% of calls answered by the bridge, the rest by Python. With a key
    function, the same key always lands on the same side (a stable hash, not hash())."""

    def __init__(
        self,
        *args: Any,
        percent: float,
        key: Callable[..., object] | None,
        bridge_recorder: Recorder,
        python_recorder: Recorder,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.threshold = percent * 100  # out of 10,000
        self.key = key
        self.bridge_recorder = bridge_recorder
        self.python_recorder = python_recorder

    def to_bridge(self, args: Args, kwargs: Kwargs) -> bool:
        if self.key is None:
            return random.random() * 10_000 < self.threshold
        key = str(self.key(*args, **kwargs)).encode()
        return zlib.crc32(key) % 10_000 < self.threshold

    def __call__(self, args: Args, kwargs: Kwargs) -> Any:
        if self.to_bridge(args, kwargs):
            value = self.answer(args, kwargs, self.bridge_recorder)
            if value is not FALL_BACK:
                return value
        started = _now()
        try:
            value = self.fn(*args, **kwargs)
        except Exception:
            self.python_recorder.call(_now() - started, error=True)
            raise
        self.python_recorder.call(_now() - started)
        return value

    async def call_async(self, args: Args, kwargs: Kwargs) -> Any:
        if self.to_bridge(args, kwargs):
            value = await self.answer_async(args, kwargs, self.bridge_recorder)
            if value is not FALL_BACK:
                return value
        started = _now()
        try:
            value = await self.fn(*args, **kwargs)
        except Exception:
            self.python_recorder.call(_now() - started, error=True)
            raise
        self.python_recorder.call(_now() - started)
        return value


class ShadowPlan(Plan):
    """`shadow`: Python answers; the bridge runs too and is compared (experiment.py)."""

    def __init__(
        self,
        *args: Any,
        experiment: Experiment,
        workers: Workers,
        inline: bool,
        candidate_timeout_s: float,
        sample_percent: float,
        queue_size: int,
        bridge_recorder: Recorder,
        python_recorder: Recorder,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.experiment = experiment
        self.workers = workers
        self.inline = inline
        self.candidate_timeout_s = candidate_timeout_s
        self.sample_percent = sample_percent
        self.queue_size = queue_size
        self.bridge_recorder = bridge_recorder
        self.python_recorder = python_recorder
        self._dropped = functools.partial(bridge_recorder.count, "dropped")

    def __call__(self, args: Args, kwargs: Kwargs) -> Any:
        if self.sample_percent < 100 and random.random() * 100 >= self.sample_percent:
            return self.fn(*args, **kwargs)
        # Encoded before the control runs: the candidate sees the arguments as given.
        request, encode_error = self._encode(args, kwargs)
        candidate: Outcome | None = None
        if self.inline and random.random() < 0.5:
            candidate = self.candidate(request, encode_error)
        started = _now()
        try:
            value = self.fn(*args, **kwargs)
        except Exception as exc:
            self.python_recorder.call(_now() - started, error=True)
            self._judge(request, encode_error, Outcome(error=exc), candidate)
            raise
        self.python_recorder.call(_now() - started)
        self._judge(
            request, encode_error, control_outcome(value, self.binding.to_message), candidate
        )
        return value

    async def call_async(self, args: Args, kwargs: Kwargs) -> Any:
        if self.sample_percent < 100 and random.random() * 100 >= self.sample_percent:
            return await self.fn(*args, **kwargs)
        request, encode_error = self._encode(args, kwargs)
        candidate: Outcome | None = None
        if self.inline and random.random() < 0.5:
            candidate = await self._candidate_async(request, encode_error)
        started = _now()
        try:
            value = await self.fn(*args, **kwargs)
        except Exception as exc:
            self.python_recorder.call(_now() - started, error=True)
            control = Outcome(error=exc)
            if self.inline and candidate is None:
                candidate = await self._candidate_async(request, encode_error)
            self._judge(request, encode_error, control, candidate)
            raise
        self.python_recorder.call(_now() - started)
        control = control_outcome(value, self.binding.to_message)
        if self.inline and candidate is None:
            candidate = await self._candidate_async(request, encode_error)
        self._judge(request, encode_error, control, candidate)
        return value

    def candidate(self, request: Message | None, encode_error: BridgeError | None) -> Outcome:
        """Run the bridge side; its answer or error, never raised."""
        if request is None:
            return Outcome(error=encode_error)
        started = _now()
        try:
            response = self.bridge(request, self.candidate_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the candidate's errors are only recorded
            self.bridge_recorder.call(_now() - started, error=True)
            return Outcome(error=detached(exc))  # recorded, never raised: no frames kept
        self.bridge_recorder.call(_now() - started)
        return Outcome(value=response)

    async def _candidate_async(
        self, request: Message | None, encode_error: BridgeError | None
    ) -> Outcome:
        if self.offload:
            return await asyncio.to_thread(self.candidate, request, encode_error)
        return self.candidate(request, encode_error)

    def _encode(self, args: Args, kwargs: Kwargs) -> tuple[Message | None, BridgeError | None]:
        try:
            return self.binding.encode(*args, **kwargs), None
        except BridgeError as exc:
            return None, exc

    def _judge(
        self,
        request: Message | None,
        encode_error: BridgeError | None,
        control: Outcome,
        candidate: Outcome | None,
    ) -> None:
        if candidate is not None:
            self.experiment.judge(request, control, candidate)
        elif self.inline:
            self.experiment.judge(request, control, self.candidate(request, encode_error))
        else:

            def job() -> None:
                self.experiment.judge(request, control, self.candidate(request, encode_error))

            # A job close() discards is counted as dropped too: it was never compared.
            if not self.workers.submit(self.method, self.queue_size, job, dropped=self._dropped):
                self.bridge_recorder.count("dropped")
