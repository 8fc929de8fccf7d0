"""Streaming calls and the call context, in-process (docs/abi.md sections 14 and 15).

A call that needs more than bytes in and bytes out (a stream either way, metadata, a
compression request) carries a `CallState`: the instance's `bridge` imports read and
change it while the guest runs. Plain unary calls carry none (`GuestModule.call` stays
a copy in, one export call and a copy out).

- `invoke` runs unary and client-streaming methods in the caller's thread; the guest's
  `stream_recv` pulls the caller's request iterable in that thread.
- `stream` runs server-streaming and bidirectional methods on a worker thread that holds
  one pooled instance for the call. Responses pass through a window of
  STREAM_WINDOW_MESSAGES messages or STREAM_WINDOW_BYTES bytes: the guest blocks in
  `stream_send` while the caller has not taken them. A bidirectional call's requests
  are pulled, one each time the guest asks, by a feeder thread, so that the guest's
  wait can end when the caller cancels or the deadline passes even while the caller's
  iterator blocks.

Every wait in an import wakes when the call's deadline passes or the caller cancels;
the import then answers `ERROR` / `STREAM_CLOSED`, and the guest should return: its
instance is reused when it does. Told that its deadline passed, it has CLOSE_GRACE_S
to do so; a guest that goes on computing is stopped by its deadline (or that grace),
and its instance discarded. The host never calls into the guest during an import.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import os
import re
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from time import monotonic_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from google.rpc import status_pb2

from .. import abi
from ..errors import (
    CallError,
    Cancelled,
    DeadlineExceeded,
    InvalidArguments,
    ResourceExhausted,
    StatusCode,
)
from ..schema.model import MethodKind
from .closing import Closing

if TYPE_CHECKING:
    from .instance import Instance
    from .pool import InstancePool

__all__ = [
    "CANCELLED",
    "CLOSE_GRACE_S",
    "DEADLINE",
    "RECV_CLOSED",
    "RECV_ENDED",
    "CallState",
    "Compressed",
    "Metadata",
    "MetadataTuple",
    "Reply",
    "ResponseStream",
    "call_info_class",
    "guest_metadata",
    "valid_metadata",
]

Metadata = Sequence[tuple[str, str | bytes]]
"""gRPC's shape of metadata: (key, value) pairs; a `-bin` key's value is bytes."""
MetadataTuple = tuple[tuple[str, str | bytes], ...]

#: How long a guest told that its deadline passed may take to return (and keep its
#: instance) before it is stopped, and its instance discarded.
CLOSE_GRACE_S = 1.0

_KEY = re.compile(r"[0-9a-z_.\-]{1,255}")
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
# What gRPC sends of its own, never given to a guest (docs/abi.md section 15).
_TRANSPORT_KEYS = frozenset({"content-type", "te"})


class Compressed(bytes):
    """A request, or a request message of a stream, that arrived compressed: the guest
    is told so (`call_info`'s `request_compressed`, `stream_recv`'s COMPRESSED flag) by
    `invoke` and `stream` (`call` without metadata is the bytes-only fast path: it
    gives the guest no context). The sidecar wraps what grpc tells it; in-process
    requests are plain bytes."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """What `GuestModule.invoke` answers: the response and the call's metadata."""

    response: bytes
    headers: MetadataTuple = ()
    trailers: MetadataTuple = ()
    #: "gzip" when the guest asked for its responses to be compressed (in-process,
    #: nothing is compressed: this only records the request).
    compression: str | None = None


# --- Metadata ------------------------------------------------------------------------


def valid_metadata(key: bytes, value: bytes) -> bool:
    """Whether a guest may set this response header or trailer (docs/abi.md 15)."""
    try:
        text = key.decode("ascii")
    except UnicodeDecodeError:
        return False
    if not _KEY.fullmatch(text) or text.startswith("grpc-"):
        return False
    return text.endswith("-bin") or _PRINTABLE.fullmatch(value) is not None


def guest_metadata(method: str, metadata: Metadata) -> tuple[tuple[str, bytes], ...]:
    """The caller's metadata as the guest gets it: keys lowercased, values bytes, gRPC's
    own entries (`grpc-*`, `:authority`, `content-type`, `te`) left out. InvalidArguments
    for a key or value that is not metadata."""
    out: list[tuple[str, bytes]] = []
    for entry in metadata:
        try:
            key, value = entry
        except (TypeError, ValueError):
            raise InvalidArguments(
                f"{method}: metadata is (key, value) pairs, not {entry!r}", method=method
            ) from None
        if not isinstance(key, str):
            raise InvalidArguments(
                f"{method}: a metadata key is a str, not {type(key).__name__}", method=method
            )
        key = key.lower()
        if key.startswith(("grpc-", ":")) or key in _TRANSPORT_KEYS:
            continue
        if not _KEY.fullmatch(key):
            raise InvalidArguments(
                f"{method}: metadata key {key!r} is not 1 to 255 characters of 0-9 a-z - _ .",
                method=method,
            )
        if isinstance(value, str):
            data = value.encode("utf-8" if key.endswith("-bin") else "ascii", "replace")
        elif isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
        else:
            raise InvalidArguments(
                f"{method}: metadata {key!r} has a {type(value).__name__} value, not str or bytes",
                method=method,
            )
        if not key.endswith("-bin") and not _PRINTABLE.fullmatch(data):
            raise InvalidArguments(
                f"{method}: metadata {key!r} is a text key and its value is not printable "
                "ASCII (binary values take a key ending in -bin)",
                method=method,
            )
        out.append((key, data))
    return tuple(out)


@functools.cache
def call_info_class() -> type[Message]:
    """The message class of `CallInfo` (docs/abi.md section 15), made from a descriptor
    written here: there is no .proto for it."""
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="bridge/call_info.proto", package="bridge.abi", syntax="proto3"
    )
    info = file.message_type.add(name="CallInfo")
    entry = info.nested_type.add(name="Entry")
    entry.field.add(name="key", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=field.TYPE_BYTES, label=field.LABEL_OPTIONAL)
    info.field.add(
        name="metadata",
        number=1,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".bridge.abi.CallInfo.Entry",
    )
    info.field.add(
        name="request_compressed", number=2, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("bridge.abi.CallInfo"))
    _kept.append(pool)  # upb holds pools weakly: the class's descriptors need it alive
    return cls


_kept: list[object] = []


# --- The state of one call -------------------------------------------------------------

_EMPTY: Final = object()  # nothing there (yet)
_END: Final = object()  # the request iterable ended


class _Raised:
    """What the request iterable raised, handed from the feeder thread."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Unshared:
    """The `cond` of a call that one thread runs: nothing to lock, nobody to wake."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def notify_all(self) -> None:
        return None

    def wait(self, timeout: float | None = None) -> bool:
        raise RuntimeError("a call that one thread runs has nothing to wait for")


_UNSHARED = _Unshared()

CANCELLED, DEADLINE = "cancelled", "deadline"  # CallState.ended_by
#: CallState.recv's answers besides a message.
RECV_ENDED, RECV_CLOSED = "ended", "closed"


class CallState:
    """One call's context, read and changed by the instance's `bridge` imports.

    `window=True` for `stream`: responses queue here for the consumer (the caller's
    thread reads them, the worker's guest sends them). Everything shared between those
    threads changes under `cond`, and every change wakes whoever waits on it.
    """

    def __init__(
        self,
        method: str,
        kind: MethodKind,
        *,
        timeout_s: float | None,
        metadata: tuple[tuple[str, bytes], ...] = (),
        request_compressed: bool = False,
        requests: Iterable[bytes] | None = None,
        cancelled: threading.Event | None = None,
        window: bool = False,
        max_message_bytes: int = abi.DEFAULT_MAX_MESSAGE_BYTES,
        name: str = "",
    ) -> None:
        self.method = method
        self.kind = kind
        self.timeout_s = timeout_s
        self.deadline_ns: int | None = None  # set by start()
        self.metadata = metadata
        self.request_compressed = request_compressed
        self._requests = iter(requests) if requests is not None else None
        self._event = cancelled
        self._max = max_message_bytes
        self._name = name
        # invoke() runs its call in one thread: nothing to lock (and a Condition costs
        # more to make than the rest of the state).
        self.cond: threading.Condition | _Unshared = (
            threading.Condition(threading.Lock()) if window else _UNSHARED
        )
        #: Why the call is over for the guest (CANCELLED, DEADLINE), once it is.
        self.ended_by: str | None = None
        self._why = ""
        #: What the request iterable raised: re-raised to the caller once the guest returned.
        self.request_error: BaseException | None = None
        self._recv_done = False
        self.headers: list[tuple[str, str | bytes]] = []
        self.trailers: list[tuple[str, str | bytes]] = []
        self.headers_sent = False
        self.compression: str | None = None
        self._call_info: bytes | None = None
        # stream(): the responses not yet taken, and the end of the call.
        self.window: collections.deque[tuple[bytes, bool]] | None = (
            collections.deque() if window else None
        )
        self._window_bytes = 0
        self.finished = False
        self.error: BaseException | None = None
        self._consumer_cancelled = False
        self._closed = False
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        # stream() of a bidirectional method: the feeder thread and its one-item slot.
        self._feeder: threading.Thread | None = None
        self._demand = False  # the guest asked for a request, not delivered yet
        self._slot: object = _EMPTY

    # --- the guest's side (the imports, in the thread that runs the guest) ---

    def start(self) -> float | None:
        """The call begins: its deadline counts from now. The timeout to arm."""
        if self.timeout_s is not None:
            self.deadline_ns = monotonic_ns() + int(self.timeout_s * 1e9)
        return self.timeout_s

    def time_left_ns(self) -> int:
        """deadline()'s answer: nanoseconds left (0 once passed), NO_DEADLINE without one."""
        if self.deadline_ns is None:
            return abi.NO_DEADLINE
        return max(0, self.deadline_ns - monotonic_ns())

    def call_info(self) -> bytes:
        if self._call_info is None:
            info: Any = call_info_class()()
            for key, value in self.metadata:
                info.metadata.add(key=key, value=value)
            info.request_compressed = self.request_compressed
            encoded: bytes = info.SerializeToString()
            self._call_info = encoded
        return self._call_info

    def add_metadata(self, kind: int, key: bytes, value: bytes) -> int:
        """set_metadata: 0, or METADATA_REFUSED (adding nothing)."""
        if kind not in (abi.METADATA_HEADER, abi.METADATA_TRAILER):
            return abi.METADATA_REFUSED
        if not valid_metadata(key, value):
            return abi.METADATA_REFUSED
        text = key.decode("ascii")
        entry = (text, value if text.endswith("-bin") else value.decode("ascii"))
        with self.cond:
            if kind == abi.METADATA_TRAILER:
                self.trailers.append(entry)
                return 0
            if self.headers_sent:
                return abi.METADATA_REFUSED
            self.headers.append(entry)
            return 0

    def set_compression(self, algorithm: int) -> int:
        """set_compression: 0, or METADATA_REFUSED for another algorithm or too late."""
        if algorithm not in (abi.COMPRESSION_NONE, abi.COMPRESSION_GZIP):
            return abi.METADATA_REFUSED
        with self.cond:
            if self.headers_sent:
                return abi.METADATA_REFUSED
            self.compression = "gzip" if algorithm == abi.COMPRESSION_GZIP else None
            return 0

    def over(self) -> str | None:
        """Why the call is over for the guest, deciding it now if it just became so."""
        if self.ended_by is None:
            if self._consumer_cancelled or (self._event is not None and self._event.is_set()):
                self._end(CANCELLED, "the caller cancelled the call")
            elif self.deadline_ns is not None and monotonic_ns() >= self.deadline_ns:
                self._end(DEADLINE, f"the call's deadline of {self.timeout_s} s passed")
        return self.ended_by

    def _end(self, why: str, text: str) -> None:
        self.ended_by, self._why = why, text

    def closed_status(self) -> bytes:
        """The google.rpc.Status stream_recv hands the guest once the call is over."""
        code = StatusCode.DEADLINE_EXCEEDED if self.ended_by == DEADLINE else StatusCode.CANCELLED
        status: bytes = status_pb2.Status(code=int(code), message=self._why).SerializeToString()
        return status

    def recv(self) -> tuple[bytes, bool] | str:
        """stream_recv: (message, compressed), RECV_ENDED once the requests ended, or
        RECV_CLOSED when the call is over (`ended_by` says why)."""
        if self._recv_done or self._requests is None:
            self._recv_done = True
            return RECV_ENDED
        if self.window is None:
            # invoke(): the caller's own thread pulls its iterable, as the guest asks.
            if self.over() is not None:
                return RECV_CLOSED
            try:
                item: object = next(self._requests)
            except StopIteration:
                item = _END
            except BaseException as exc:  # noqa: BLE001 (re-raised to the caller later)
                item = _Raised(exc)
        else:
            with self.cond:
                item = self._feed_one()
            if item is _EMPTY:
                return RECV_CLOSED
        return self._received(item)

    def _received(self, item: object) -> tuple[bytes, bool] | str:
        if item is _END:
            self._recv_done = True
            return RECV_ENDED
        if isinstance(item, _Raised):
            self._request_failed(item.exc)
            return RECV_CLOSED
        if not isinstance(item, bytes | bytearray | memoryview):
            self._request_failed(
                InvalidArguments(
                    f"{self.method}: request messages are bytes, not {type(item).__name__}",
                    method=self.method,
                )
            )
            return RECV_CLOSED
        if len(item) > self._max:
            self._request_failed(
                ResourceExhausted(
                    f"{self.method}: request message of {len(item)} bytes is over the limit "
                    f"of {self._max} bytes",
                    method=self.method,
                )
            )
            return RECV_CLOSED
        with self.cond:
            if self.over() is not None:  # it came too late (the caller's iterator blocked)
                return RECV_CLOSED
        return bytes(item), isinstance(item, Compressed)

    def _request_failed(self, exc: BaseException) -> None:
        self.request_error = exc
        with self.cond:
            if self.ended_by is None:
                self._end(CANCELLED, f"the client's request stream failed: {type(exc).__name__}")

    def _feed_one(self) -> object:
        """Under cond: the next item from the feeder thread, or _EMPTY once the call is
        over. Asks the feeder for it (starting it the first time) and waits."""
        while True:
            if self.over() is not None:
                return _EMPTY
            if self._slot is not _EMPTY:
                item, self._slot = self._slot, _EMPTY
                return item
            if not self._demand:
                self._demand = True
                if self._feeder is None:
                    self._feeder = threading.Thread(
                        target=self._feed, name=f"bridge-feeder-{self._name}", daemon=True
                    )
                    self._feeder.start()
                self.cond.notify_all()
            self._wait()

    def _feed(self) -> None:
        """The feeder thread: pull one request each time the guest asks for one."""
        requests = self._requests
        assert requests is not None
        while True:
            with self.cond:
                while not self._demand and not self.finished:
                    self.cond.wait()
                if self.finished:
                    return
            # The demand stays set until the item is delivered: a guest woken meanwhile
            # (every change wakes all) must not ask twice.
            try:
                item: object = next(requests)
            except StopIteration:
                item = _END
            except BaseException as exc:  # noqa: BLE001 (handed to the guest's call)
                item = _Raised(exc)
            with self.cond:
                self._slot = item
                self._demand = False
                self._wake()
            if item is _END or isinstance(item, _Raised):
                return

    def send(self, message: bytes, uncompressed: bool) -> int:
        """stream_send (stream() only): 0 once the message is in the window, or
        STREAM_CLOSED when the call is over (the message is dropped)."""
        window = self.window
        assert window is not None
        with self.cond:
            if not self.headers_sent:
                self.headers_sent = True  # the response headers leave with the first message
                self._wake()
            while True:
                if self.over() is not None:
                    return abi.STREAM_CLOSED
                if len(window) < abi.STREAM_WINDOW_MESSAGES and (
                    not window or self._window_bytes + len(message) <= abi.STREAM_WINDOW_BYTES
                ):
                    break
                self._wait()
            window.append((message, uncompressed))
            self._window_bytes += len(message)
            self._wake()
            return 0

    def _wait(self) -> None:
        """Under cond: wait for a change, or until the deadline."""
        if self.deadline_ns is None:
            self.cond.wait()
        else:
            self.cond.wait(max(0.0, (self.deadline_ns - monotonic_ns()) / 1e9))

    def _wake(self) -> None:
        """Under cond: wake every thread and coroutine that waits on the call."""
        self.cond.notify_all()
        if self._async_waiters:
            for loop, future in self._async_waiters:
                # A closed loop raises RuntimeError: nobody waits there any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, future)
            self._async_waiters.clear()

    def outcome(self) -> BaseException | None:
        """After the guest returned: what the call fails with whatever the guest did,
        when it was over before (the caller's iterator's exception, Cancelled,
        DeadlineExceeded); None when the guest's answer stands."""
        if self.request_error is not None:
            return self.request_error
        if self.ended_by == CANCELLED:
            return Cancelled(f"{self.method}: {self._why}", method=self.method)
        if self.ended_by == DEADLINE:
            return DeadlineExceeded(
                f"{self.method} ran past its deadline of {self.timeout_s} s",
                method=self.method,
                timeout_s=self.timeout_s if self.timeout_s is not None else float("inf"),
            )
        return None

    def attach(self, error: BaseException) -> None:
        """Give a failed call's error the headers and trailers set before it failed."""
        if isinstance(error, CallError):
            error.headers = tuple(self.headers)
            error.trailers = tuple(self.trailers)

    def finish(self, error: BaseException | None) -> None:
        """The worker's last word: the guest returned (or never ran)."""
        if error is not None:
            self.attach(error)
        with self.cond:
            self.finished = True
            self.headers_sent = True
            self.error = error
            self._wake()

    # --- the consumer's side (stream()) ---

    def take(self, block: bool = True) -> tuple[bytes, bool] | object | None:
        """The next (message, send_uncompressed); None at the end; raises the call's
        error; _EMPTY when not `block` and nothing is there yet."""
        window = self.window
        assert window is not None
        with self.cond:
            while True:
                if self._consumer_cancelled:
                    raise Cancelled(
                        f"{self.method}: the stream was "
                        f"{'closed' if self._closed else 'cancelled'} by its consumer",
                        method=self.method,
                    )
                if window:
                    item = window.popleft()
                    self._window_bytes -= len(item[0])
                    self._wake()  # the guest may wait for room
                    return item
                if self.finished:
                    if self.error is not None:
                        raise self.error
                    return None
                if not block:
                    return _EMPTY
                self.cond.wait()

    def wait_for(self, ready: Callable[[], bool]) -> None:
        with self.cond:
            while not ready():
                self.cond.wait()

    def add_waiter(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> bool:
        """Have `future` resolved at the next change; False when there is one already."""
        with self.cond:
            if self.window or self.finished or self._consumer_cancelled:
                return False
            self._async_waiters.append((loop, future))
            return True

    def remove_waiter(self, future: asyncio.Future[None]) -> None:
        with self.cond:
            self._async_waiters = [(lo, f) for lo, f in self._async_waiters if f is not future]

    def cancel(self, *, close: bool = False) -> None:
        """The consumer cancels (a no-op once the call ended, unless `close`): the
        guest's next stream_send/stream_recv answers that the call is over."""
        with self.cond:
            if close:
                self._closed = True
            if self.finished and not close:
                return
            if not self._consumer_cancelled:
                self._consumer_cancelled = True
                assert self.window is not None
                self.window.clear()
                self._window_bytes = 0
            self._wake()


def _abandon(state: CallState, pid: int) -> None:
    """A stream's close() and finalizer: cancel it, drop what was not read."""
    # In a forked child the call is the parent's, and its lock may have been held by a
    # thread the child does not have.
    if os.getpid() == pid:
        state.cancel(close=True)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --- stream(): the worker and the consumer's handle ------------------------------------


def _run(pool: InstancePool[Instance], state: CallState, request: bytes) -> None:
    """The worker thread: one pooled instance runs the whole call."""
    error: BaseException | None = None
    try:
        instance = pool.acquire()
    except BaseException as exc:  # noqa: BLE001 (the consumer gets it)
        state.finish(exc)
        return
    try:
        with state.cond:
            gone = state.over() == CANCELLED  # closed while an instance was awaited
        if gone:
            error = state.outcome()
        else:
            instance.run(state, request)
    except BaseException as exc:  # noqa: BLE001 (the consumer gets it)
        error = exc
    finally:
        # Back in the pool (or replaced, when broken) before the consumer sees the end.
        pool.release(instance)
    state.finish(error)


class ResponseStream(Closing, Iterator[bytes], AsyncIterator[bytes]):
    """The responses of a server-streaming or bidirectional call, as they come.

    Iterate it (`for`, `async for`); after the last message it stops, or raises the
    call's error (GuestError, GuestTrap, DeadlineExceeded, ...) once the messages sent
    before the error were read. `cancel()` ends the call early; `close()` (also on
    `with` exit, and when the stream is garbage-collected) cancels it and drops what
    was not read. Reading after either raises Cancelled.
    """

    def __init__(self, pool: InstancePool[Instance], state: CallState, request: bytes) -> None:
        self._state = state
        self._pid = os.getpid()
        # The worker holds the state, never this object: an abandoned stream is collected,
        # and its finalizer cancels the call.
        self._finalizer = weakref.finalize(self, _abandon, state, self._pid)
        self._finalizer.atexit = False
        self._thread = threading.Thread(
            target=_run, args=(pool, state, request), name=f"bridge-stream-{state.method}"
        )
        self._thread.daemon = True
        self._thread.start()

    @property
    def method(self) -> str:
        return self._state.method

    def _check_process(self) -> None:
        if os.getpid() != self._pid:
            # Its worker thread stayed in the parent: nothing would ever arrive here.
            raise CallError(
                f"{self._state.method}: this stream was opened in process {self._pid}, "
                "before a fork; a child cannot read it",
                method=self._state.method,
            )

    def read(self) -> tuple[bytes, bool] | None:
        """The next (message, send_uncompressed flag), or None at the end; raises the
        call's error like `__next__`."""
        self._check_process()
        item = self._state.take()
        assert item is not _EMPTY
        return cast("tuple[bytes, bool] | None", item)

    def __iter__(self) -> ResponseStream:
        return self

    def __next__(self) -> bytes:
        item = self.read()
        if item is None:
            raise StopIteration
        return item[0]

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        self._check_process()
        state = self._state
        while True:
            item = state.take(block=False)
            if item is None:
                raise StopAsyncIteration
            if item is not _EMPTY:
                return cast("tuple[bytes, bool]", item)[0]
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            if state.add_waiter(loop, future):
                try:
                    await future
                finally:
                    state.remove_waiter(future)

    def headers(self) -> MetadataTuple:
        """The response headers; waits until they are known (the first message, or
        the end of the call)."""
        self._check_process()
        state = self._state
        state.wait_for(lambda: state.headers_sent or state._consumer_cancelled)
        return tuple(state.headers)

    def trailers(self) -> MetadataTuple:
        """The response trailers; waits until the call has ended."""
        self._check_process()
        state = self._state
        state.wait_for(lambda: state.finished)
        return tuple(state.trailers)

    @property
    def compression(self) -> str | None:
        """ "gzip" when the guest asked for compressed responses; known once `headers()`
        returned."""
        return self._state.compression

    @property
    def done(self) -> bool:
        """The call has ended (its messages may still be unread)."""
        return self._state.finished

    def cancel(self) -> None:
        """End the call early; safe to call twice, and a no-op once it ended."""
        if os.getpid() == self._pid:  # in a forked child, the call is the parent's
            self._state.cancel()

    def close(self) -> None:
        """Cancel the call and drop what was not read; safe to call twice."""
        self._finalizer()

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ResponseStream {self._state.method} {'done' if self.done else 'open'}>"
