"""SidecarBackend: a bridge Backend over a gRPC channel to a sidecar (or any server).

Requests and responses stay bytes (identity serializers): the caller already holds the
encoded request, and the sidecar hands the bytes straight to the guest. gRPC statuses
come back as the same errors an in-process call raises.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

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

__all__ = ["SidecarBackend", "normalize_target"]


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


_SCHEMES = ("unix:", "unix-abstract:", "ipv4:", "ipv6:", "dns:", "vsock:")


class SidecarBackend(Closing):
    """Calls methods of a sidecar at `target` over one reused channel.

    Several addresses behind the target (`ipv4:127.0.0.1:7001,127.0.0.1:7002`, or a
    `dns:` name with several records) are balanced by gRPC's own round_robin policy.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = 10.0,
        options: Sequence[tuple[str, object]] = (),
    ) -> None:
        self.target = normalize_target(target)
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(
            self.target, options=[("grpc.lb_policy_name", "round_robin"), *options]
        )
        self._calls: dict[str, grpc.UnaryUnaryMultiCallable[bytes, bytes]] = {}
        self._lock = threading.Lock()

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
        self._channel.close()

    def _stub(self, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
        with self._lock:
            stub = self._calls.get(method)
            if stub is None:
                stub = self._channel.unary_unary(f"/{method}")
                self._calls[method] = stub
            return stub


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
    """The bridge error a sidecar names in its trailing metadata (ERROR_KIND_KEY)."""
    if not isinstance(exc, grpc.Call):
        return None
    for key, value in exc.trailing_metadata() or ():
        if key == "bridge-error":
            return str(value)
    return None
