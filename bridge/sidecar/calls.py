"""What the sidecar does around each guest call: gRPC's context in, the guest's out.

- Requests: grpcio's server does not say whether a message came compressed (it strips
  `grpc-encoding` and decompresses before a handler sees it), yet a guest may ask
  (docs/abi.md section 15). So the sidecar turns grpcio's decompression off
  (`SERVER_OPTIONS`) and gets compressed messages as they came: a gzip stream begins
  with 1f 8b, which no protobuf message can (0x1f would be field 3 of wire type 7, which
  does not exist). `inflate` decompresses those, within the message limit, and marks
  them `Compressed` for the guest.
- Request metadata: what the client sent, less gRPC's own keys.
- Failures: the gRPC status of each bridge error, with the guest's trailers, the error's
  kind (ERROR_KIND_KEY) and, when the guest gave details, its `google.rpc.Status` as
  `grpc-status-details-bin` (gRPC's rich error model).
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import NoReturn

import grpc

from ..errors import (
    AbiViolation,
    BridgeError,
    Cancelled,
    DeadlineExceeded,
    GuestError,
    GuestTrap,
    ModuleClosed,
    ResourceExhausted,
    UnknownMethod,
)
from ..runtime.streams import Compressed

__all__ = [
    "DETAILS_KEY",
    "ERROR_KIND_KEY",
    "SERVER_OPTIONS",
    "Refused",
    "fail",
    "inflate",
    "inflated",
    "request_metadata",
    "status_of",
]

#: Trailing metadata that names the bridge error behind a status, so that a client can
#: raise the same exception an in-process call would (a trap is not a guest's answer).
ERROR_KIND_KEY = "bridge-error"
#: The trailer of gRPC's rich error model: a serialized google.rpc.Status.
DETAILS_KEY = "grpc-status-details-bin"

#: grpcio server options for compression. Messages reach handlers as they came (see the
#: module's docstring); and only gzip is accepted besides identity, the one `inflate`
#: knows, so a client that would send deflate is told so by gRPC itself.
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.per_message_decompression", 0),
    ("grpc.compression_enabled_algorithms_bitset", 0b101),  # identity (1) | gzip (4)
)

#: How long the end of a client's request stream waits for grpcio to report a
#: cancellation (see `inflated`): 0.2 ms caught every one of 200 in a measurement.
END_GRACE_S = 0.0005

_GZIP_MAGIC = b"\x1f\x8b"
# gRPC's own metadata, never the guest's business: grpcio already leaves out the
# pseudo-headers, content-type, te and grpc-*; these are dropped should any come.
_RESERVED = ("grpc-", ":")
_RESERVED_KEYS = frozenset({"content-type", "te", "content-length"})


class Refused(Exception):
    """A request the sidecar refuses before the guest sees it (a bad compressed
    message): the gRPC status to answer with."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def inflate(message: bytes, limit: int) -> bytes:
    """`message` as the guest gets it: a gzip-compressed one decompressed (to at most
    `limit` bytes: a small message must not inflate into a huge one) and marked
    `Compressed`; any other as it is.

    >>> import gzip
    >>> request = inflate(gzip.compress(b"\\x08\\x01"), 1024)
    >>> request, type(request).__name__
    (b'\\x08\\x01', 'Compressed')
    >>> inflate(b"\\x08\\x01", 1024)
    b'\\x08\\x01'
    """
    if message[:2] != _GZIP_MAGIC:
        return message
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip's framing
    try:
        data = inflater.decompress(message, limit + 1)
    except zlib.error as exc:
        # gRPC's spec: a message that does not decompress is INTERNAL
        why = f"a gzip request does not decompress: {exc}"
        raise Refused(grpc.StatusCode.INTERNAL, why) from None
    if len(data) > limit:
        raise Refused(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"a gzip request decompresses to more than the {limit}-byte message limit",
        )
    if not inflater.eof or inflater.unused_data:
        raise Refused(grpc.StatusCode.INTERNAL, "a gzip request is truncated or has extra bytes")
    return Compressed(data)


def inflated(messages: Iterable[bytes], limit: int, cancelled: threading.Event) -> Iterator[bytes]:
    """A client's stream of requests, each through `inflate`; its end, unless the call
    was cancelled (`cancelled`: set when gRPC says the call ended).

    grpcio's request iterator sometimes ends (about one time in five, measured) when the
    client cancels, a moment before grpcio reports the cancellation. Told of an end, the
    guest would answer a call that is gone; so the end waits up to END_GRACE_S for the
    cancellation to show, and ends the stream as cancelled when it does.
    """
    for message in messages:
        yield inflate(message, limit)
    if cancelled.wait(END_GRACE_S):
        raise Refused(grpc.StatusCode.CANCELLED, "the client cancelled the call")


def request_metadata(context: grpc.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    """The client's metadata, in its order, without gRPC's own keys; `-bin` values are
    bytes (grpcio decodes their base64)."""
    return tuple(
        (key, value)
        for key, value in context.invocation_metadata()
        if not key.startswith(_RESERVED) and key not in _RESERVED_KEYS
    )


def status_of(exc: BridgeError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status of a failed call, and the error's kind for the trailing metadata."""
    if isinstance(exc, GuestError):
        code = next(c for c in grpc.StatusCode if c.value[0] == exc.code)
        return code, "GuestError"
    for kind, code in _STATUS_OF:
        if isinstance(exc, kind):
            return code, kind.__name__
    return grpc.StatusCode.INTERNAL, type(exc).__name__


_STATUS_OF: tuple[tuple[type[BridgeError], grpc.StatusCode], ...] = (
    # a module closed under a call (a reload retired it): another sidecar, or a retry, can
    (ModuleClosed, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Cancelled, grpc.StatusCode.CANCELLED),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnknownMethod, grpc.StatusCode.UNIMPLEMENTED),
    (GuestTrap, grpc.StatusCode.INTERNAL),
    (AbiViolation, grpc.StatusCode.INTERNAL),
)


def fail(context: grpc.ServicerContext, exc: BridgeError) -> NoReturn:
    """End the call with `exc`'s status: the guest's headers (if none left yet) and
    trailers, the error's kind, and the guest's details."""
    code, kind = status_of(exc)
    headers: tuple[tuple[str, str | bytes], ...] = getattr(exc, "headers", ())
    trailers: list[tuple[str, str | bytes]] = [
        *getattr(exc, "trailers", ()),
        (ERROR_KIND_KEY, kind),
    ]
    if isinstance(exc, GuestError):
        message = exc.status_message
        if exc.details:
            trailers.append((DETAILS_KEY, exc.status.SerializeToString()))
    else:
        message = str(exc)
    if headers:
        # grpcio's ValueError: the headers have left already, with a message
        with contextlib.suppress(ValueError):
            context.send_initial_metadata(headers)
    context.set_trailing_metadata(tuple(trailers))
    context.abort(code, message)
