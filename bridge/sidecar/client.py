"""The client side of a sidecar: `connect(target)` and the Backend that sidecar mode uses.

One channel per target, shared; gRPC's own machinery does the rest: the `round_robin`
policy spreads calls over every address behind a target (`ipv4:a:1,b:2`, a `dns:` name
with several records), the retry policy in the channel's service config retries
UNAVAILABLE for idempotent calls, and its `timeout` gives every call a deadline.
Requests and responses stay bytes in `call` (the caller already encoded them; the
sidecar hands the bytes to the guest), and gRPC statuses come back as the same errors
an in-process call raises.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

import grpc

from ..errors import (
    AbiViolation,
    CallError,
    DeadlineExceeded,
    GuestError,
    GuestTrap,
    ResourceExhausted,
    SidecarUnavailable,
    StatusCode,
)
from ..runtime.closing import Closing

__all__ = ["Connection", "SidecarBackend", "connect", "normalize_target"]

S = TypeVar("S")
_SCHEMES = ("unix:", "unix-abstract:", "ipv4:", "ipv6:", "dns:", "vsock:")


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


def service_config(*, timeout_s: float, retry: bool, wait_for_ready: bool = False) -> str:
    """The channel's service config: round_robin, a default deadline, (for idempotent
    calls) retries of UNAVAILABLE with backoff, and whether a call waits, up to its
    deadline, for a sidecar that is (re)starting instead of failing at once."""
    method: dict[str, Any] = {"name": [{}], "timeout": f"{timeout_s:.3f}s"}
    if wait_for_ready:
        method["waitForReady"] = True
    if retry:
        method["retryPolicy"] = {
            "maxAttempts": 5,
            "initialBackoff": "0.1s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": [method]})


class Connection(Closing):
    """A channel to a sidecar (or any gRPC server), and bytes-level calls over it.

    >>> with Connection("unix:/run/bridge/pricing.sock") as sidecar:  # doctest: +SKIP
    ...     pricing = sidecar.stub(pricing_pb2_grpc.PricingStub)
    ...     reply = pricing.Quote(pricing_pb2.QuoteRequest(sku="pear", quantity=2))
    """

    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = 10.0,
        retry: bool = True,
        wait_for_ready: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.target = normalize_target(target)
        self.timeout_s = timeout_s
        channel_options = [
            (
                "grpc.service_config",
                service_config(timeout_s=timeout_s, retry=retry, wait_for_ready=wait_for_ready),
            ),
            ("grpc.enable_retries", 1 if retry else 0),
            # A local sidecar that restarts is back within a second: look again soon
            # (gRPC's defaults wait 1 s, then up to 120 s, before reconnecting).
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            *options,
        ]
        if credentials is None:
            self.channel = grpc.insecure_channel(self.target, options=channel_options)
        else:
            self.channel = grpc.secure_channel(self.target, credentials, options=channel_options)
        self._calls: dict[str, grpc.UnaryUnaryMultiCallable[bytes, bytes]] = {}
        self._lock = threading.Lock()
        self.closed = False

    def stub(self, stub_class: Callable[[grpc.Channel], S]) -> S:
        """A generated stub (`*_pb2_grpc.<Service>Stub`) on this connection's channel."""
        return stub_class(self.channel)

    def call(self, method: str, request: bytes, *, timeout_s: float | None = None) -> bytes:
        """Call `method` (`pkg.Service/Method`) with an encoded request; its encoded answer."""
        stub = self._calls.get(method) or self._stub(method)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            response: bytes = stub(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise status_error(exc, method, self.target, timeout) from None
        return response

    def close(self) -> None:
        """Close the channel; safe to call twice."""
        self.closed = True
        self.channel.close()

    def _stub(self, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
        with self._lock:
            stub = self._calls.get(method)
            if stub is None:
                stub = self.channel.unary_unary(f"/{method}")
                self._calls[method] = stub
            return stub


#: What sidecar mode calls through: a Connection is a bridge Backend.
SidecarBackend = Connection

_shared: dict[tuple[str, float, bool, bool], Connection] = {}
_shared_lock = threading.Lock()


@overload
def connect(
    target: str,
    stub_class: None = None,
    *,
    timeout_s: float = ...,
    idempotent: bool = ...,
    wait_for_ready: bool = ...,
) -> Connection: ...


@overload
def connect(
    target: str,
    stub_class: Callable[[grpc.Channel], S],
    *,
    timeout_s: float = ...,
    idempotent: bool = ...,
    wait_for_ready: bool = ...,
) -> S: ...


def connect(
    target: str,
    stub_class: Callable[[grpc.Channel], S] | None = None,
    *,
    timeout_s: float = 10.0,
    idempotent: bool = True,
    wait_for_ready: bool = False,
) -> Connection | S:
    """A connection to the sidecar at `target` (a socket path, `host:port`, or any gRPC
    target), shared by every caller that asks for the same one; with `stub_class` (a
    generated `*Stub`), that stub on it.

    >>> import bridge
    >>> pricing = bridge.connect("/run/bridge/pricing.sock", PricingStub)  # doctest: +SKIP
    >>> pricing.Quote(QuoteRequest(sku="pear", quantity=2))  # doctest: +SKIP

    Every call gets a `timeout_s` deadline unless it passes its own; `idempotent` calls
    are retried (gRPC's retry policy, with backoff) when the sidecar is UNAVAILABLE;
    with `wait_for_ready`, a call waits (up to its deadline) for a sidecar that is
    starting or restarting, as a managed one does, instead of failing at once.
    """
    key = (normalize_target(target), timeout_s, idempotent, wait_for_ready)
    with _shared_lock:
        connection = _shared.get(key)
        if connection is None or connection.closed:
            connection = Connection(
                key[0], timeout_s=timeout_s, retry=idempotent, wait_for_ready=wait_for_ready
            )
            _shared[key] = connection
    return connection if stub_class is None else connection.stub(stub_class)


def status_error(exc: grpc.RpcError, method: str, target: str, timeout_s: float) -> CallError:
    """The bridge error for a failed gRPC call."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return SidecarUnavailable(f"sidecar {target} is unavailable: {details}", method=method)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(
            f"{method} ran past its {timeout_s:g} s deadline at {target}",
            method=method,
            timeout_s=timeout_s,
        )
    kind = _error_kind(exc)
    if kind in ("GuestTrap", "AbiViolation"):
        error = GuestTrap if kind == "GuestTrap" else AbiViolation
        return error(f"{method} at {target}: {details}", method=method)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and kind != "GuestError":
        return ResourceExhausted(f"{method} at {target}: {details}", method=method)
    return GuestError(StatusCode(code.value[0]), details, method=method)


def _error_kind(exc: grpc.RpcError) -> str | None:
    """The bridge error a sidecar names in its trailing metadata (server.ERROR_KIND_KEY)."""
    if not isinstance(exc, grpc.Call):
        return None
    for key, value in exc.trailing_metadata() or ():
        if key == "bridge-error":
            return str(value)
    return None
