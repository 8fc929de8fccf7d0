"""The gRPC sidecar: the same modules served to any gRPC client, and the client side."""

from __future__ import annotations

from .client import Connection, SidecarBackend, connect, normalize_target
from .handshake import Handshake
from .process import ManagedSidecar

__all__ = [
    "Connection",
    "Handshake",
    "ManagedSidecar",
    "SidecarBackend",
    "connect",
    "normalize_target",
]
