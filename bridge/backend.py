"""The one protocol every way of running a guest implements: bytes in, bytes out.

`GuestModule` (in-process) and `SidecarBackend` (a gRPC sidecar) both satisfy it, so
routed functions know only this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterable

    from .runtime.streams import Metadata, Reply, ResponseStream

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """Calls `pkg.Service/Method` with an encoded request; the encoded response.

    Raises a CallError: GuestError with the guest's gRPC code, DeadlineExceeded past
    `timeout_s`, and so on (see bridge.errors). `invoke` and `stream` take every kind of
    method and the call's metadata (see GuestModule's, docs/abi.md sections 14, 15).
    """

    def call(self, method: str, request: bytes, *, timeout_s: float | None = None) -> bytes: ...

    def invoke(
        self,
        method: str,
        request: bytes | Iterable[bytes],
        *,
        timeout_s: float | None = None,
        metadata: Metadata | None = None,
        cancelled: threading.Event | None = None,
    ) -> Reply: ...

    def stream(
        self,
        method: str,
        request: bytes | Iterable[bytes],
        *,
        timeout_s: float | None = None,
        metadata: Metadata | None = None,
    ) -> ResponseStream: ...

    def close(self) -> None: ...
