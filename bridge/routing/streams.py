"""Plans of routes on generator functions, which answer server-streaming rpcs.

Each mode does per stream what its unary plan (plans.py) does per call:

- `wasm`, `sidecar` (StreamingBridgePlan): the backend's ResponseStream, each message
  decoded and converted as the caller iterates; closing the caller's generator closes
  the stream, which cancels the guest's.
- `canary:N` (StreamingCanaryPlan): the whole stream from one side, chosen per call.
- `shadow` (StreamingShadowPlan): Python's generator answers, its values yielded as they
  come; when it ends, the candidate's whole stream is compared with it (lengths and each
  message), off the caller's path unless inline or strict.

When things happen, as a generator function would have them: calling the routed
function binds and encodes the arguments (a bad call raises its TypeError there); the
bridge's stream opens at the first `next()`, so a generator never iterated runs nothing.

Statistics count one call per stream; its latency is the time to the end of the stream,
the caller's time between messages included (the stream is consumed as it iterates).

Fallback: a bridge failure before the first message falls back to Python, which then
answers the whole stream. After it, the failure is raised: the caller already holds the
bridge's first messages, and Python's stream would start again from its first.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from google.protobuf.message import Message

from ..errors import BridgeError, ShadowMismatch
from .experiment import Outcome, Unmappable, detached
from .plans import Args, BridgePlan, CanaryPlan, Kwargs, Plan, ShadowPlan
from .stats import Recorder

__all__ = [
    "StreamPlan",
    "StreamingBridgePlan",
    "StreamingCanaryPlan",
    "StreamingShadowPlan",
    "python_stream_outcome",
]

_now = time.perf_counter_ns
#: next()'s default when a stream ends, for iterating one from a thread.
_END: Any = object()


class StreamPlan(Plan):
    """What every streaming plan shares: the request at call time, and the bridge's
    stream as an (async) generator of the legacy function's values."""

    #: Routers and tracing tell a streaming plan apart by this.
    streaming = True

    def open(self, data: bytes, timeout_s: float | None) -> Any:
        """The backend's ResponseStream of the encoded request (the call starts; nothing
        is read)."""
        return self.slot.get().stream(self.method, data, timeout_s=timeout_s)

    def request(self, args: Args, kwargs: Kwargs, recorder: Recorder) -> bytes | None:
        """The encoded request of a call, made when the routed function is called; None
        when it does not fit the message (or lacks a proto2 required field) and Python is
        to answer (a bridge failure, as in a unary call). A bad call raises the TypeError
        the original raises."""
        started = _now()
        try:
            return self.binding.serialize(self.binding.encode(*args, **kwargs))
        except BridgeError as exc:
            recorder.call(_now() - started, error=True)
            self.failed(recorder, exc)
            return None

    def python(self, args: Args, kwargs: Kwargs) -> Any:
        """Python's stream, when it answers after a bridge failure."""
        return self.fn(*args, **kwargs)

    def value(self, data: bytes) -> Any:
        return self.binding.to_python(self.binding.decode(data))

    def messages(
        self, request: bytes, args: Args, kwargs: Kwargs, recorder: Recorder
    ) -> Iterator[Any]:
        """The bridge's answer to the encoded `request`, value by value."""
        started = _now()
        stream = None
        sent = 0
        recorded = fallback = False
        try:
            while True:
                # The bridge's work and only that is in the try: what the caller throws
                # in at `yield` is not a bridge failure.
                try:
                    if stream is None:
                        stream = self.open(request, self.timeout_s)
                    value = self.value(next(stream))
                except StopIteration:
                    break
                except Exception as exc:
                    recorder.call(_now() - started, error=True)
                    recorded = True
                    if sent:
                        self.raise_error(exc)  # the caller has messages: no fallback
                    self.failed(recorder, exc)  # raises unless Python is to answer
                    fallback = True
                    break
                sent += 1
                yield value
            if fallback:
                # Outside the except clause: Python's errors are not "during" the bridge's.
                if stream is not None:
                    stream.close()
                    stream = None
                yield from self.python(args, kwargs)
        finally:
            if stream is not None:
                stream.close()  # the caller stopped early: this cancels the guest
            if not recorded:
                recorder.call(_now() - started)

    async def messages_async(
        self, request: bytes, args: Args, kwargs: Kwargs, recorder: Recorder
    ) -> AsyncIterator[Any]:
        """messages(), for an async generator function: the event loop is not held
        while the bridge works."""
        started = _now()
        stream = None
        sent = 0
        recorded = fallback = False
        try:
            while True:
                try:
                    if stream is None:
                        stream = self.open(request, self.timeout_s)
                    value = self.value(await _next_async(stream))
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    recorder.call(_now() - started, error=True)
                    recorded = True
                    if sent:
                        self.raise_error(exc)
                    self.failed(recorder, exc)
                    fallback = True
                    break
                sent += 1
                yield value
            if fallback:
                if stream is not None:
                    stream.close()
                    stream = None
                async with contextlib.aclosing(self.python(args, kwargs)) as python:
                    async for item in python:
                        yield item
        finally:
            if stream is not None:
                stream.close()
            if not recorded:
                recorder.call(_now() - started)


class StreamingBridgePlan(StreamPlan, BridgePlan):
    """`wasm` and `sidecar` modes for a generator function."""

    def __call__(self, args: Args, kwargs: Kwargs) -> Any:
        request = self.request(args, kwargs, self.recorder)
        if request is None:
            return self.fn(*args, **kwargs)
        return self.messages(request, args, kwargs, self.recorder)

    def call_async(self, args: Args, kwargs: Kwargs) -> Any:
        request = self.request(args, kwargs, self.recorder)
        if request is None:
            return self.fn(*args, **kwargs)
        return self.messages_async(request, args, kwargs, self.recorder)


class StreamingCanaryPlan(StreamPlan, CanaryPlan):
    """`canary:N` for a generator function: N% of the streams from the bridge."""

    def __call__(self, args: Args, kwargs: Kwargs) -> Any:
        if self.to_bridge(args, kwargs):
            request = self.request(args, kwargs, self.bridge_recorder)
            if request is not None:
                return self.messages(request, args, kwargs, self.bridge_recorder)
        return self.python(args, kwargs)

    def call_async(self, args: Args, kwargs: Kwargs) -> Any:
        if self.to_bridge(args, kwargs):
            request = self.request(args, kwargs, self.bridge_recorder)
            if request is not None:
                return self.messages_async(request, args, kwargs, self.bridge_recorder)
        return self.python(args, kwargs)

    def python(self, args: Args, kwargs: Kwargs) -> Any:
        """Python's stream, counted on Python's side (a fallback's too, as in unary)."""
        stream = self.fn(*args, **kwargs)  # binds the arguments now, as the original does
        if hasattr(stream, "__anext__"):
            return self._timed_async(stream)
        return self._timed(stream)

    def _timed(self, stream: Iterator[Any]) -> Iterator[Any]:
        started = _now()
        error = False
        try:
            yield from stream
        except Exception:
            error = True
            raise
        finally:
            self.python_recorder.call(_now() - started, error=error)

    async def _timed_async(self, stream: Any) -> AsyncIterator[Any]:
        started = _now()
        error = False
        try:
            async with contextlib.aclosing(stream):
                async for value in stream:
                    yield value
        except Exception:
            error = True
            raise
        finally:
            self.python_recorder.call(_now() - started, error=error)


class StreamingShadowPlan(StreamPlan, ShadowPlan):
    """`shadow` for a generator function: Python's stream answers; the candidate's is
    compared with it when it ends. A caller that stops early saw only the first messages:
    those are compared with the candidate's first as many (and strict mode records a
    mismatch then, without raising out of close())."""

    def __call__(self, args: Args, kwargs: Kwargs) -> Any:
        if self.sample_percent < 100 and random.random() * 100 >= self.sample_percent:
            return self.fn(*args, **kwargs)
        # Encoded before Python runs: the candidate sees the arguments as given.
        request, encode_error = self._encode(args, kwargs)
        return self._shadow(self.fn(*args, **kwargs), request, encode_error)

    def call_async(self, args: Args, kwargs: Kwargs) -> Any:
        if self.sample_percent < 100 and random.random() * 100 >= self.sample_percent:
            return self.fn(*args, **kwargs)
        request, encode_error = self._encode(args, kwargs)
        return self._shadow_async(self.fn(*args, **kwargs), request, encode_error)

    def candidate(
        self,
        request: Message | None,
        encode_error: BridgeError | None,
        limit: int | None = None,
    ) -> Outcome:
        """Run the bridge's stream (its first `limit` messages); its messages and
        error, never raised."""
        if request is None:
            return Outcome(values=(), error=encode_error)
        started = _now()
        values: list[Message] = []
        stream = None
        try:
            stream = self.open(self.binding.serialize(request), self.candidate_timeout_s)
            for data in stream:
                values.append(self.binding.decode(data))
                if limit is not None and len(values) >= limit:
                    break
        except Exception as exc:  # noqa: BLE001 - the candidate's errors are only recorded
            self.bridge_recorder.call(_now() - started, error=True)
            return Outcome(values=tuple(values), error=detached(exc))
        finally:
            if stream is not None:
                stream.close()
        self.bridge_recorder.call(_now() - started)
        return Outcome(values=tuple(values))

    def _shadow(
        self, python: Any, request: Message | None, encode_error: BridgeError | None
    ) -> Iterator[Any]:
        # Unlike a unary call's, an inline candidate never runs first: the caller would
        # wait for the port's whole stream before Python's first message.
        control = _Control(self.binding.to_message)
        started = _now()
        try:
            while True:
                try:
                    value = next(python)
                except StopIteration:
                    break
                except Exception as exc:
                    self.python_recorder.call(_now() - started, error=True)
                    try:
                        self._finish(request, encode_error, control.outcome(exc))
                    except ShadowMismatch as mismatch:
                        raise _trimmed(mismatch) from None
                    raise
                control.add(value)
                try:
                    yield value
                except BaseException:
                    # The caller closed the stream (or threw into it): compare what it took.
                    self.python_recorder.call(_now() - started)
                    with contextlib.suppress(ShadowMismatch):
                        self._finish(request, encode_error, control.outcome(), control.taken)
                    raise
        finally:
            python.close()
        self.python_recorder.call(_now() - started)
        try:
            self._finish(request, encode_error, control.outcome())
        except ShadowMismatch as mismatch:
            raise _trimmed(mismatch) from None

    async def _shadow_async(
        self, python: Any, request: Message | None, encode_error: BridgeError | None
    ) -> AsyncIterator[Any]:
        control = _Control(self.binding.to_message)
        started = _now()
        try:
            while True:
                try:
                    value = await python.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    self.python_recorder.call(_now() - started, error=True)
                    try:
                        await self._finish_async(request, encode_error, control.outcome(exc))
                    except ShadowMismatch as mismatch:
                        raise _trimmed(mismatch) from None
                    raise
                control.add(value)
                try:
                    yield value
                except BaseException:
                    self.python_recorder.call(_now() - started)
                    with contextlib.suppress(ShadowMismatch):
                        await self._finish_async(
                            request, encode_error, control.outcome(), control.taken
                        )
                    raise
        finally:
            await python.aclose()
        self.python_recorder.call(_now() - started)
        try:
            await self._finish_async(request, encode_error, control.outcome())
        except ShadowMismatch as mismatch:
            raise _trimmed(mismatch) from None

    def _finish(
        self,
        request: Message | None,
        encode_error: BridgeError | None,
        control: Outcome,
        limit: int | None = None,
    ) -> None:
        """Run the candidate (its first `limit` messages: as many as the caller took
        from Python) and judge, now (inline) or off the caller's path; strict mode
        raises ShadowMismatch here. A mismatch after an early close is recorded, not
        raised: raising it out of close() (or the garbage collector's) is only noise."""
        if self.inline:
            self.experiment.judge(request, control, self.candidate(request, encode_error, limit))
        else:
            self._submit(request, encode_error, control, limit)

    async def _finish_async(
        self,
        request: Message | None,
        encode_error: BridgeError | None,
        control: Outcome,
        limit: int | None = None,
    ) -> None:
        if self.inline:
            # A stream takes a while: it is read on a thread, not on the event loop.
            candidate = await asyncio.to_thread(self.candidate, request, encode_error, limit)
            self.experiment.judge(request, control, candidate)
        else:
            self._submit(request, encode_error, control, limit)

    def _submit(
        self,
        request: Message | None,
        encode_error: BridgeError | None,
        control: Outcome,
        limit: int | None,
    ) -> None:
        def job() -> None:
            self.experiment.judge(request, control, self.candidate(request, encode_error, limit))

        # A job close() discards is counted as dropped too: it was never compared.
        if not self.workers.submit(self.method, self.queue_size, job, dropped=self._dropped):
            self.bridge_recorder.count("dropped")


class _Control:
    """Python's side of a shadowed stream: its values as messages, converted as they
    are yielded (a value the caller changes afterwards is compared as it was)."""

    __slots__ = ("messages", "taken", "to_message", "unmappable")

    def __init__(self, to_message: Callable[[Any], Message]) -> None:
        self.to_message = to_message
        self.messages: list[Message] = []
        self.taken = 0
        self.unmappable: Unmappable | None = None

    def add(self, value: Any) -> None:
        self.taken += 1
        if self.unmappable is not None:
            return
        try:
            self.messages.append(self.to_message(value))
        except Exception as exc:  # noqa: BLE001 - recorded as an `unmappable` mismatch
            self.unmappable = Unmappable(
                f"python yielded {value!r} as message {self.taken - 1}: {exc}"
            )

    def outcome(self, error: BaseException | None = None) -> Outcome:
        return Outcome(values=tuple(self.messages), error=self.unmappable or error)


def python_stream_outcome(
    fn: Callable[..., Any], args: Args, kwargs: Kwargs, to_message: Callable[[Any], Message]
) -> Outcome:
    """Python's whole stream (a sync or async generator function's) as an Outcome:
    for a replay, which compares it with the candidate's."""
    control = _Control(to_message)
    try:
        stream = fn(*args, **kwargs)
        if hasattr(stream, "__anext__"):

            async def drain() -> None:
                async with contextlib.aclosing(stream):
                    async for value in stream:
                        control.add(value)

            asyncio.run(drain())
        else:
            for value in stream:
                control.add(value)
    except Exception as exc:  # noqa: BLE001 - compared, not raised
        return control.outcome(exc)
    return control.outcome()


def _trimmed(exc: ShadowMismatch) -> ShadowMismatch:
    """Strict mode's mismatch as the stream's caller gets it: without the frames of the
    comparison, nor Python's exception as its context (router.py does the same)."""
    exc.__context__ = None
    return exc.with_traceback(None)


async def _next_async(stream: Any) -> bytes:
    """The next message of a backend's stream without holding the event loop: its own
    __anext__ when it has one (ResponseStream), else next() on a thread."""
    anext = getattr(stream, "__anext__", None)
    if anext is not None:
        return await anext()  # type: ignore[no-any-return]
    data = await asyncio.to_thread(next, stream, _END)
    if data is _END:
        raise StopAsyncIteration
    return data  # type: ignore[no-any-return]
