"""The one protocol every way of running a guest implements: bytes in, bytes out.

`GuestModule` (in-process) and `SidecarBackend` (a gRPC sidecar) both satisfy it, so
routed functions know only this.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """Calls `pkg.Service/Method` with an encoded request; the encoded response.

    Raises a CallError: GuestError with the guest's gRPC code, DeadlineExceeded past
    `timeout_s`, and so on (see bridge.errors).
    """

    def call(self, method: str, request: bytes, *, timeout_s: float | None = None) -> bytes: ...

    def close(self) -> None: ...
