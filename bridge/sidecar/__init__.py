"""The gRPC sidecar: the same modules, served to any gRPC client, and the client side."""

from __future__ import annotations

from .client import SidecarBackend, normalize_target

__all__ = ["SidecarBackend", "normalize_target"]
