"""The client side of a sidecar: `connect(target)` and the Backend that sidecar mode uses.

gRPC's own machinery does the work: the `round_robin` policy spreads calls over every
address behind a target (`ipv4:a:1,b:2`, a `dns:` name with several records), and the
channel's service config gives every call a deadline. Requests and responses stay bytes
in `call` (the caller already encoded them; the sidecar hands the bytes to the guest),
and gRPC statuses come back as the same errors an in-process call raises.

Sharing: `connect()` gives every caller its own Connection, a handle over one channel
per target and settings; closing a handle (or leaving its `with`) never closes the
channel under another caller: the channel closes with its last handle.

Retries are opt-in, per method: only the methods named in `retry` (safe to run twice)
are retried when the sidecar is UNAVAILABLE, since a call that failed that way may
still have run. gRPC's transparent retries (of calls that never reached a server) stay.

Errors: a status is the guest's own answer (GuestError) only when the sidecar marked it
so in its trailing metadata (`bridge-error: GuestError`, server.ERROR_KIND_KEY); any
other status is a failure of the bridge (SidecarUnavailable, SidecarCallFailed, ...),
which a routed function with fallback answers from Python. A GuestError carries the
guest's details (the `grpc-status-details-bin` trailer), and every error the headers
and trailers the call had.

`invoke` and `stream` are GuestModule's, over gRPC: every kind of method (the request
is bytes, or an iterable of messages for a client-streaming or bidirectional one),
metadata each way. gRPC's Python client does not say whether a response came
compressed, so a Reply's and a stream's `compression` is None.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import grpc

from ..abi import DEFAULT_MAX_MESSAGE_BYTES
from ..errors import (
    AbiViolation,
    CallError,
    Cancelled,
    ConfigError,
    DeadlineExceeded,
    FuelExhausted,
    GuestError,
    GuestTrap,
    InvalidArguments,
    MemoryLimitExceeded,
    PoolExhausted,
    ResourceExhausted,
    SidecarCallFailed,
    SidecarUnavailable,
    StatusCode,
    UnknownMethod,
)
from ..runtime.closing import Closing
from ..runtime.streams import Metadata, MetadataTuple, Reply, ResponseStream
from .calls import DETAILS_KEY, ERROR_KIND_KEY
from .handshake import sibling_sockets

__all__ = ["Connection", "SidecarBackend", "connect", "normalize_target", "worker_target"]

S = TypeVar("S")
_SCHEMES = ("unix:", "unix-abstract:", "ipv4:", "ipv6:", "dns:", "vsock:")
#: What `retry` takes: True (every method), or method names (`pkg.Service/Method`) and
#: service names (`pkg.Service`: all its methods).
Retry = bool | Iterable[str]


def normalize_target(target: str) -> str:
    """A gRPC target from what a user writes: a socket path becomes `unix:<abs path>`;
    `host:port`, `unix:...`, `ipv4:...`, `dns:///...` pass through.

    >>> normalize_target("/run/bridge.sock")
    'unix:/run/bridge.sock'
    >>> normalize_target("127.0.0.1:50051")
    '127.0.0.1:50051'
    """
    if target.startswith(_SCHEMES):
        return target
    if target.startswith(("/", "./", "../", "~")) or target.endswith(".sock"):
        return "unix:" + os.path.abspath(os.path.expanduser(target))
    return target


def worker_target(target: str) -> str:
    """A target of every worker of a `bridge serve --processes N` on unix sockets: the
    socket of `unix:X.sock` (or a bare path) with those of the other workers beside it
    that exist now (`X.1.sock`, `X.2.sock`, ...), as one `unix:` target that round_robin
    spreads calls over. Any other target, and a socket without siblings, as it is.

    >>> worker_target("unix:/nowhere/x.sock")
    'unix:/nowhere/x.sock'
    >>> worker_target("127.0.0.1:50051")
    '127.0.0.1:50051'
    """
    target = normalize_target(target)
    if not target.startswith("unix:") or "," in target:
        return target
    path = target[len("unix:") :]
    if path.startswith("//"):  # unix:///abs/path
        path = path[2:]
    if not path.startswith("/"):
        return target
    sockets = sibling_sockets(Path(path))
    if len(sockets) == 1:
        return target
    return "unix:" + ",".join(str(socket) for socket in sockets)


def _worker_addresses(target: str) -> list[str]:
    """The socket paths of a `unix:` target that names several (the workers of `bridge
    serve --processes N`); [] for any other target."""
    if not target.startswith("unix:"):
        return []
    return [path for path in target[len("unix:") :].split(",") if path]


def service_config(
    *,
    timeout_s: float,
    retry: Retry = (),
    wait_for_ready: bool = False,
    policy: str = "round_robin",
) -> str:
    """The channel's service config: its load-balancing `policy` (round_robin, or
    pick_first for a channel that keeps to its first address while it answers), a
    default deadline, retries of UNAVAILABLE with backoff for the methods `retry` names
    (every method if True), and whether a call waits, up to its deadline, for a sidecar
    that is (re)starting instead of failing at once.

    >>> config = json.loads(service_config(timeout_s=2, retry=["pkg.S/Get", "pkg.T"]))
    >>> [m["name"] for m in config["methodConfig"]]
    [[{}], [{'service': 'pkg.S', 'method': 'Get'}, {'service': 'pkg.T'}]]
    """
    base: dict[str, Any] = {"timeout": f"{timeout_s:.3f}s"}
    if wait_for_ready:
        base["waitForReady"] = True
    names = _retried(retry)
    methods: list[dict[str, Any]] = [{"name": [{}], **base}]
    if names:
        # gRPC applies the most specific entry: these methods' over the default above.
        methods.append(
            {
                "name": names,
                **base,
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        )
    return json.dumps({"loadBalancingConfig": [{policy: {}}], "methodConfig": methods})


def _retried(retry: Retry) -> list[dict[str, str]]:
    """`retry` as service-config names; ConfigError for a name that is not one."""
    if isinstance(retry, bool):
        return [{}] if retry else []
    names = []
    for name in sorted({retry} if isinstance(retry, str) else set(retry)):
        service, _, method = name.lstrip("/").partition("/")
        if not service or "/" in method:
            raise ConfigError(f"retry: {name!r} is not pkg.Service/Method or pkg.Service")
        names.append({"service": service, "method": method} if method else {"service": service})
    return names


class _Channel:
    """One gRPC channel and the Connections over it: closed when the last one closes.

    With `pinned` (the workers of `bridge serve --processes N` on unix sockets: one
    channel per worker, each keeping to its worker while it answers and going to the
    next one when it does not), each calling thread keeps to one of them: its calls go
    to one worker, warm, instead of alternating between processes on every call, and
    the threads are spread over the workers in turn (from the process's pid, so that
    the processes of a pre-forked app start on different workers). `channel`, a
    round_robin channel over all of them, serves generated stubs."""

    def __init__(self, channel: grpc.Channel, pinned: Sequence[grpc.Channel] = ()) -> None:
        self.channel = channel
        self.pinned = tuple(pinned)
        self.calls: dict[str, grpc.UnaryUnaryMultiCallable[bytes, bytes]] = {}
        # (kind, method) -> the multi-callable of a streaming call, or of a unary one
        # with metadata (`invoke`, `stream`)
        self.multis: dict[tuple[str, str], Any] = {}
        self.handles = 0
        self._mine = threading.local()  # the calling thread's: channel, calls, multis
        self._turns = itertools.count(os.getpid())

    def stub(self, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
        if self.pinned:
            channel, calls, _ = self._own()
        else:
            channel, calls = self.channel, self.calls
        stub = calls.get(method)
        if stub is None:
            # Racing threads may both make one: equivalent, and the last one is kept.
            stub = calls[method] = channel.unary_unary(f"/{method}")
        return stub

    def multi(self, kind: str, method: str) -> Any:
        """The channel's `kind` multi-callable (unary_unary, stream_unary, unary_stream,
        stream_stream) for `method`."""
        if self.pinned:
            channel, _, multis = self._own()
        else:
            channel, multis = self.channel, self.multis
        multi = multis.get((kind, method))
        if multi is None:
            multi = multis[(kind, method)] = getattr(channel, kind)(f"/{method}")
        return multi

    def _own(self) -> tuple[grpc.Channel, dict[str, Any], dict[tuple[str, str], Any]]:
        """The calling thread's pinned channel and its multi-callables (given on its
        first call, the next in turn)."""
        mine = self._mine
        try:
            return mine.own  # type: ignore[no-any-return]
        except AttributeError:
            channel = self.pinned[next(self._turns) % len(self.pinned)]
            mine.own = (channel, {}, {})
            return mine.own  # type: ignore[no-any-return]

    def close(self) -> None:
        self.channel.close()
        for channel in self.pinned:
            channel.close()


#: Guards every handle count (connect, close); never taken on the call path.
_handles_lock = threading.Lock()


class Connection(Closing):
    """A handle on a channel to a sidecar (or any gRPC server), with bytes-level calls.

    `Connection(target)` opens a channel of its own, closed with it; `connect(target)`
    gives a handle on a shared one.

    >>> with Connection("unix:/run/bridge/pricing.sock") as sidecar:  # doctest: +SKIP
    ...     pricing = sidecar.stub(pricing_pb2_grpc.PricingStub)
    ...     reply = pricing.Quote(pricing_pb2.QuoteRequest(sku="pear", quantity=2))

    `retry` names the methods (`pkg.Service/Method`, or `pkg.Service` for all of its
    methods; True for every method) that are safe to run twice: only they are retried
    when the sidecar is UNAVAILABLE.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = 10.0,
        retry: Retry = (),
        wait_for_ready: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        target = worker_target(target)
        channel_options = [
            (
                "grpc.service_config",
                service_config(timeout_s=timeout_s, retry=retry, wait_for_ready=wait_for_ready),
            ),
            # A local sidecar that restarts is back within a second: look again soon
            # (gRPC's defaults wait 1 s, then up to 120 s, before reconnecting).
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            # A module's answers may be as large as its requests (the runtime's message
            # limit), not grpcio's 4 MiB; the sidecar accepts as much.
            ("grpc.max_receive_message_length", DEFAULT_MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", DEFAULT_MAX_MESSAGE_BYTES),
            *options,
        ]

        def open_channel(target: str, options: Sequence[tuple[str, Any]]) -> grpc.Channel:
            if credentials is None:
                return grpc.insecure_channel(target, options=options)
            return grpc.secure_channel(target, credentials, options=options)

        channel = open_channel(target, channel_options)
        pinned = []
        workers = _worker_addresses(target)
        if len(workers) > 1:
            keep = service_config(
                timeout_s=timeout_s, retry=retry, wait_for_ready=wait_for_ready, policy="pick_first"
            )
            for first in range(len(workers)):
                # This worker first, then the others in turn, for when it does not answer.
                order = workers[first:] + workers[:first]
                options = [("grpc.service_config", keep), *channel_options[1:]]
                pinned.append(open_channel("unix:" + ",".join(order), options))
        self._attach(_Channel(channel, pinned), target, timeout_s)

    @classmethod
    def _over(cls, shared: _Channel, target: str, timeout_s: float) -> Connection:
        """Another handle on `shared` (the caller holds _handles_lock)."""
        handle = cls.__new__(cls)
        handle._attach(shared, target, timeout_s)
        return handle

    def _attach(self, shared: _Channel, target: str, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.channel = shared.channel
        self.closed = False
        self._shared = shared
        self._pinned = bool(shared.pinned)
        # The call path reads this dict; close() swaps in an empty one, so a closed
        # handle is noticed without a check on every call.
        self._calls = shared.calls
        shared.handles += 1

    def stub(self, stub_class: Callable[[grpc.Channel], S]) -> S:
        """A generated stub (`*_pb2_grpc.<Service>Stub`) on this connection's channel.
        It uses the channel, not this handle: it works until the channel's last handle
        is closed."""
        return stub_class(self.channel)

    def call(self, method: str, request: bytes, *, timeout_s: float | None = None) -> bytes:
        """Call `method` (`pkg.Service/Method`) with an encoded request; its encoded answer."""
        if self._pinned:  # a thread of its own on each worker (see _Channel)
            if self.closed:
                raise self._closed_error(method)
            stub = self._shared.stub(method)
        else:
            stub = self._calls.get(method) or self._stub(method)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            response: bytes = stub(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise status_error(exc, method, self.target, timeout) from None
        except ValueError:
            # grpc's "closed channel": this handle was closed while the call started
            if self.closed:
                raise self._closed_error(method) from None
            raise
        return response

    def invoke(
        self,
        method: str,
        request: bytes | Iterable[bytes],
        *,
        timeout_s: float | None = None,
        metadata: Metadata | None = None,
        cancelled: threading.Event | None = None,
    ) -> Reply:
        """Call a unary method (`request` is bytes) or a client-streaming one (an
        iterable of messages, sent as gRPC pulls them); the response with the headers
        and trailers the guest set. `cancelled`, set by another thread, cancels the
        call (Cancelled)."""
        multi, argument = self._multi(method, request, "unary_unary", "stream_unary")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        sent = tuple(metadata) if metadata else None
        try:
            if cancelled is None:
                response, call = multi.with_call(argument, timeout=timeout, metadata=sent)
            else:
                call = multi.future(argument, timeout=timeout, metadata=sent)
                response = _result(call, cancelled)
        except grpc.RpcError as exc:
            raise status_error(exc, method, self.target, timeout) from None
        except grpc.FutureCancelledError:
            raise Cancelled(f"{method}: the call was cancelled", method=method) from None
        except ValueError:
            if self.closed:  # grpc's "closed channel"
                raise self._closed_error(method) from None
            raise
        return Reply(
            response, _plain(call.initial_metadata()), _plain(call.trailing_metadata()), None
        )

    def stream(
        self,
        method: str,
        request: bytes | Iterable[bytes],
        *,
        timeout_s: float | None = None,
        metadata: Metadata | None = None,
    ) -> ResponseStream:
        """Call a server-streaming method (`request` is bytes) or a bidirectional one
        (an iterable of messages); its responses as they come, as a ResponseStream."""
        multi, argument = self._multi(method, request, "unary_stream", "stream_stream")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        sent = tuple(metadata) if metadata else None
        try:
            call = multi(argument, timeout=timeout, metadata=sent)
        except ValueError:
            if self.closed:
                raise self._closed_error(method) from None
            raise
        return SidecarStream(call, method, self.target, timeout)

    def _multi(
        self, method: str, request: bytes | Iterable[bytes], one: str, many: str
    ) -> tuple[Any, bytes | Iterator[bytes]]:
        """The channel's multi-callable of kind `one` for a request of bytes, or `many`
        for an iterable of messages, and the request as grpc takes it."""
        if self.closed:
            raise self._closed_error(method)
        if isinstance(request, bytes | bytearray | memoryview):
            return self._shared.multi(one, method), bytes(request)
        return self._shared.multi(many, method), iter(request)

    def close(self) -> None:
        """Close this handle, and the channel if no other handle is open; safe twice."""
        with _handles_lock:
            if self.closed:
                return
            self.closed = True
            self._calls = {}
            self._shared.handles -= 1
            last = self._shared.handles == 0
            if last:
                for key in [k for k, v in _shared.items() if v is self._shared]:
                    del _shared[key]
        if last:
            self._shared.close()

    def _stub(self, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
        if self.closed:
            raise self._closed_error(method)
        return self._shared.stub(method)

    def _closed_error(self, method: str) -> SidecarUnavailable:
        return SidecarUnavailable(
            f"{method}: this connection to {self.target} was closed", method=method
        )


#: What sidecar mode calls through: a Connection is a bridge Backend.
SidecarBackend = Connection

# How often a call with a `cancelled` event looks at it.
_CANCEL_POLL_S = 0.05


def _result(call: Any, cancelled: threading.Event) -> bytes:
    """The response of a call started as a future, cancelling it once `cancelled` is set."""
    while True:
        try:
            response: bytes = call.result(timeout=_CANCEL_POLL_S)
            return response
        except grpc.FutureTimeoutError:
            if cancelled.is_set():
                call.cancel()


def _plain(metadata: Iterable[tuple[str, str | bytes]] | None) -> MetadataTuple:
    """gRPC's metadata as plain (key, value) pairs, without the sidecar's own keys."""
    return tuple(
        (key, value) for key, value in metadata or () if key not in (ERROR_KIND_KEY, DETAILS_KEY)
    )


class SidecarStream(ResponseStream):
    """The responses of a streaming call to a sidecar: a ResponseStream over a gRPC call.
    Errors come as an in-process stream's would (status_error); messages are never
    flagged send_uncompressed (gRPC does not say)."""

    def __init__(self, call: Any, method: str, target: str, timeout_s: float) -> None:
        # Not ResponseStream's __init__: no instance, no worker; gRPC's call is both.
        self._call = call
        self._method = method
        self._target = target
        self._timeout_s = timeout_s
        self._cancelled = False
        self._ended = False

    @property
    def method(self) -> str:
        return self._method

    def read(self) -> tuple[bytes, bool] | None:
        if self._ended:
            return None
        try:
            message: bytes = next(self._call)
        except StopIteration:
            self._ended = True
            return None
        except grpc.RpcError as exc:
            self._ended = True
            if self._cancelled:
                raise Cancelled(
                    f"{self._method}: the stream was cancelled by its consumer",
                    method=self._method,
                ) from None
            raise status_error(exc, self._method, self._target, self._timeout_s) from None
        return message, False

    async def __anext__(self) -> bytes:
        # gRPC's synchronous call blocks: read on a worker thread, not the event loop.
        item = await asyncio.to_thread(self.read)
        if item is None:
            raise StopAsyncIteration
        return item[0]

    def headers(self) -> MetadataTuple:
        return _plain(self._call.initial_metadata())

    def trailers(self) -> MetadataTuple:
        return _plain(self._call.trailing_metadata())

    @property
    def compression(self) -> str | None:
        return None

    @property
    def done(self) -> bool:
        return bool(self._call.done())

    def cancel(self) -> None:
        if not self._call.done():
            self._cancelled = True
            self._call.cancel()

    def close(self) -> None:
        self.cancel()

    def __repr__(self) -> str:
        return f"<SidecarStream {self._method} at {self._target} {'done' if self.done else 'open'}>"


_shared: dict[tuple[str, float, tuple[str, ...] | bool, bool], _Channel] = {}


@overload
def connect(
    target: str,
    stub_class: None = None,
    *,
    timeout_s: float = ...,
    retry: Retry = ...,
    wait_for_ready: bool = ...,
) -> Connection: ...


@overload
def connect(
    target: str,
    stub_class: Callable[[grpc.Channel], S],
    *,
    timeout_s: float = ...,
    retry: Retry = ...,
    wait_for_ready: bool = ...,
) -> S: ...


def connect(
    target: str,
    stub_class: Callable[[grpc.Channel], S] | None = None,
    *,
    timeout_s: float = 10.0,
    retry: Retry = (),
    wait_for_ready: bool = False,
) -> Connection | S:
    """A connection to the sidecar at `target` (a socket path, `host:port`, or any gRPC
    target): each call returns a handle of its own on one channel shared by every caller
    that asks for the same target and settings; with `stub_class` (a generated `*Stub`),
    that stub on it.

    >>> import bridge
    >>> pricing = bridge.connect("/run/bridge/pricing.sock", PricingStub)  # doctest: +SKIP
    >>> pricing.Quote(QuoteRequest(sku="pear", quantity=2))  # doctest: +SKIP

    Closing a handle closes the channel only when no other handle is open (a stub holds
    an unclosed handle: its channel lives as long as the process). Every call gets a
    `timeout_s` deadline unless it passes its own. Only the methods `retry` names
    (`["pkg.Service/Method", "pkg.Other"]`, or True for all) are retried, with backoff,
    when the sidecar is UNAVAILABLE: name those safe to run twice. With
    `wait_for_ready`, a call waits (up to its deadline) for a sidecar that is starting
    or restarting, as a managed one does, instead of failing at once.
    """
    names: tuple[str, ...] | bool = (
        retry
        if isinstance(retry, bool)
        else tuple(sorted({retry} if isinstance(retry, str) else set(retry)))
    )
    key = (worker_target(target), timeout_s, names, wait_for_ready)
    with _handles_lock:
        shared = _shared.get(key)
        if shared is None or shared.handles == 0:
            # the first handle, or the previous channel's last one was closed
            first = Connection(
                key[0], timeout_s=timeout_s, retry=names, wait_for_ready=wait_for_ready
            )
            _shared[key] = first._shared
            connection = first
        else:
            connection = Connection._over(shared, key[0], timeout_s)
    return connection if stub_class is None else connection.stub(stub_class)


def _after_fork_in_child() -> None:
    # The parent's channels are gRPC's to carry over (GRPC_ENABLE_FORK_SUPPORT): a
    # child's connect() opens its own, and a lock held at the fork is not inherited.
    global _handles_lock
    _handles_lock = threading.Lock()
    _shared.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: The errors a sidecar names in its trailing metadata (server.ERROR_KIND_KEY) that are
#: raised as such; GuestError and DeadlineExceeded, which carry more, are made apart.
_KINDS: dict[str, type[CallError]] = {
    kind.__name__: kind
    for kind in (
        GuestTrap,
        AbiViolation,
        UnknownMethod,
        InvalidArguments,
        ResourceExhausted,
        MemoryLimitExceeded,
        FuelExhausted,
        PoolExhausted,
        SidecarUnavailable,
    )
}


def status_error(exc: grpc.RpcError, method: str, target: str, timeout_s: float) -> CallError:
    """The bridge error for a failed gRPC call: GuestError only for a status the sidecar
    marked as the guest's own; otherwise the bridge failure it names, or one by code."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or str(exc)
    status = StatusCode(code.value[0])
    kind = _error_kind(exc)
    error = _status_error(exc, code, details, status, kind, method, target, timeout_s)
    if isinstance(exc, grpc.Call):
        # what the guest had set when it failed, as an in-process call's error has it
        error.headers = _plain(exc.initial_metadata())
        error.trailers = _plain(exc.trailing_metadata())
    return error


def _status_error(
    exc: grpc.RpcError,
    code: grpc.StatusCode,
    details: str,
    status: StatusCode,
    kind: str | None,
    method: str,
    target: str,
    timeout_s: float,
) -> CallError:
    if kind == "GuestError":
        return GuestError(status, details, method=method, status=_rich_status(exc, status))
    if kind == "DeadlineExceeded" or code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(
            f"{method} ran past its {timeout_s:g} s deadline at {target}",
            method=method,
            timeout_s=timeout_s,
        )
    if kind == "Cancelled" or code == grpc.StatusCode.CANCELLED:
        return Cancelled(f"{method} at {target}: {details}", method=method)
    named = _KINDS.get(kind or "")
    if named is not None:
        return named(f"{method} at {target}: {details}", method=method)
    if code == grpc.StatusCode.UNAVAILABLE:
        return SidecarUnavailable(f"sidecar {target} is unavailable: {details}", method=method)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhausted(f"{method} at {target}: {details}", method=method)
    # Unmarked: gRPC's own status (a method the sidecar lacks) or a server that is not a
    # bridge sidecar. Not the guest's answer, so not a GuestError.
    return SidecarCallFailed(status, f"{method} at {target}: {details}", method=method)


def _rich_status(exc: grpc.RpcError, code: StatusCode) -> Any:
    """The guest's google.rpc.Status from the `grpc-status-details-bin` trailer, when the
    sidecar sent one that agrees with the call's code; else None."""
    if not isinstance(exc, grpc.Call):
        return None
    for key, value in exc.trailing_metadata() or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            from google.protobuf.message import DecodeError
            from google.rpc.status_pb2 import Status

            try:
                status = Status.FromString(value)
            except DecodeError:
                return None
            return status if status.code == code else None
    return None


def _error_kind(exc: grpc.RpcError) -> str | None:
    """The bridge error a sidecar names in its trailing metadata (server.ERROR_KIND_KEY)."""
    if not isinstance(exc, grpc.Call):
        return None
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_KIND_KEY:
            return str(value)
    return None
