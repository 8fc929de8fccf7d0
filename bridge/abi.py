"""ABI v1 between the bridge host and a guest module, as pure constants and functions.

docs/abi.md is the specification; guest-go/abi.go and guest-rust/src/abi.rs mirror the
constants here, and tests/unit/test_abi_agreement.py keeps the three in step. Nothing in
this module does I/O, so it is testable without wasm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ABI_VERSION",
    "BORROWED_BIT",
    "COMPRESSION_GZIP",
    "COMPRESSION_NONE",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ERROR_BIT",
    "EXPORT_FREE",
    "EXPORT_INITIALIZE",
    "EXPORT_MALLOC",
    "EXPORT_MEMORY",
    "EXPORT_SERVED",
    "HOST_MODULE",
    "HOST_RESULT_FAILED",
    "IMPORT_HOST_CALL",
    "IMPORT_HOST_RESULT",
    "IMPORT_CALL_INFO",
    "IMPORT_DEADLINE",
    "IMPORT_SET_COMPRESSION",
    "IMPORT_SET_METADATA",
    "IMPORT_STREAM_RECV",
    "IMPORT_STREAM_SEND",
    "LEN_BITS",
    "LEN_SHIFT",
    "MAX_MESSAGE_LEN",
    "MAX_STATUS_CODE",
    "MARKER_PREFIX",
    "METADATA_HEADER",
    "METADATA_REFUSED",
    "METADATA_TRAILER",
    "NO_DEADLINE",
    "RECV_COMPRESSED",
    "RECV_END",
    "SEND_UNCOMPRESSED",
    "STREAM_CLOSED",
    "STREAM_WINDOW_BYTES",
    "STREAM_WINDOW_MESSAGES",
    "Result",
    "marker_name",
    "marker_version",
    "method_export_name",
    "is_method_export",
    "pack",
    "unpack",
]

ABI_VERSION = 1
MARKER_PREFIX = "bridge_abi_v"

EXPORT_MEMORY = "memory"
EXPORT_MALLOC = "malloc"
EXPORT_FREE = "free"
EXPORT_INITIALIZE = "_initialize"
#: Optional: the method exports that have a server behind them (docs/abi.md section 13).
EXPORT_SERVED = "bridge_served"

PTR_MASK = 0xFFFF_FFFF
LEN_SHIFT = 32
LEN_BITS = 30
MAX_MESSAGE_LEN = (1 << LEN_BITS) - 1
BORROWED_BIT = 62
ERROR_BIT = 63

# The host's own limit on a request or response; lower than the ABI's on purpose.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# google.rpc.Status codes a guest may return in an error envelope (gRPC 1..16).
MAX_STATUS_CODE = 16

# Host calls (docs/abi.md section 12): the guest's imports from this module.
HOST_MODULE = "bridge"
IMPORT_HOST_CALL = "host_call"
IMPORT_HOST_RESULT = "host_result"
HOST_RESULT_FAILED = -1

# Streaming methods (docs/abi.md section 14).
IMPORT_STREAM_RECV = "stream_recv"
IMPORT_STREAM_SEND = "stream_send"
#: stream_recv's flags (the low 32 bits of its result).
RECV_END = 1
RECV_COMPRESSED = 2
#: stream_send's flags.
SEND_UNCOMPRESSED = 1
#: stream_send's answer when the call is over (0: the message was taken).
STREAM_CLOSED = 1
#: The host's window: stream_send blocks while this many messages, or bytes, sent by
#: the guest are not yet taken by the caller (host only; guests do not need it).
STREAM_WINDOW_MESSAGES = 64
STREAM_WINDOW_BYTES = 4 * 1024 * 1024

# The call's context (docs/abi.md section 15).
IMPORT_CALL_INFO = "call_info"
IMPORT_DEADLINE = "deadline"
IMPORT_SET_METADATA = "set_metadata"
IMPORT_SET_COMPRESSION = "set_compression"
METADATA_HEADER = 0
METADATA_TRAILER = 1
#: set_metadata's and set_compression's answer when they add or change nothing.
METADATA_REFUSED = -1
#: set_compression's algorithms (gRPC's numbering of grpc_compression_algorithm).
COMPRESSION_NONE = 0
COMPRESSION_GZIP = 2
#: deadline()'s answer when the call has no deadline.
NO_DEADLINE = -1

_MARKER = re.compile(rf"^{MARKER_PREFIX}([0-9]+)$")


@dataclass(frozen=True, slots=True)
class Result:
    """A method export's i64 result, unpacked."""

    ptr: int
    length: int
    borrowed: bool
    error: bool


def marker_name(version: int = ABI_VERSION) -> str:
    """The export that declares ABI `version`: `bridge_abi_v1`."""
    return f"{MARKER_PREFIX}{version}"


def marker_version(export_name: str) -> int | None:
    """The ABI version an export name declares, or None when it is not a marker."""
    match = _MARKER.match(export_name)
    return int(match.group(1)) if match else None


def method_export_name(package: str, service: str, method: str) -> str:
    """The export name of an RPC method: its full gRPC name without the leading slash.

    >>> method_export_name("pricing.v1", "Pricing", "Quote")
    'pricing.v1.Pricing/Quote'
    >>> method_export_name("", "Echo", "Say")
    'Echo/Say'
    """
    qualified = f"{package}.{service}" if package else service
    return f"{qualified}/{method}"


def is_method_export(export_name: str) -> bool:
    """True for names of the form `pkg.Service/Method`; only methods have a slash."""
    service, sep, method = export_name.partition("/")
    return bool(sep and service and method and "/" not in method)


def pack(ptr: int, length: int, *, borrowed: bool = False, error: bool = False) -> int:
    """Pack a result the way a guest does, as an unsigned 64-bit integer.

    >>> hex(pack(0x10, 3, error=True))
    '0x8000000300000010'
    """
    if not 0 <= ptr <= PTR_MASK:
        raise ValueError(f"ptr {ptr} does not fit in 32 bits")
    if not 0 <= length <= MAX_MESSAGE_LEN:
        raise ValueError(f"length {length} does not fit in {LEN_BITS} bits")
    return (error << ERROR_BIT) | (borrowed << BORROWED_BIT) | (length << LEN_SHIFT) | ptr


def unpack(raw: int) -> Result:
    """Unpack a method export's result; accepts the signed i64 wasm hands back.

    >>> unpack(-0x7FFFFFFCFFFFFFF0)
    Result(ptr=16, length=3, borrowed=False, error=True)
    """
    value = raw & 0xFFFF_FFFF_FFFF_FFFF
    return Result(
        ptr=value & PTR_MASK,
        length=(value >> LEN_SHIFT) & MAX_MESSAGE_LEN,
        borrowed=bool((value >> BORROWED_BIT) & 1),
        error=bool((value >> ERROR_BIT) & 1),
    )
