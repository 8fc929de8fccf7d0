"""The schema: .proto files compiled by grpcio-tools into one model every part reads."""

from __future__ import annotations

from .compile import compile_protos
from .model import Enum, Field, FieldKind, Message, Method, Schema, Service

__all__ = [
    "Enum",
    "Field",
    "FieldKind",
    "Message",
    "Method",
    "Schema",
    "Service",
    "compile_protos",
]
