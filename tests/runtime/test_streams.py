"""Streaming methods in-process (docs/abi.md section 14): GuestModule.invoke and .stream
against a hand-written WAT guest whose schema declares every kind of method.

The guest's `s.v1.S/Stats` answers counters it keeps across calls (calls made, sends
answered STREAM_CLOSED, receives answered ERROR and the last such status code): with a
pool of one instance, they show what the guest saw, and that an instance was reused
(the counters go on) or replaced (they start again).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import queue
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, wrappers_pb2
from google.rpc import status_pb2

import bridge
from bridge import abi
from bridge.config import RuntimeConfig
from bridge.runtime import streams
from bridge.runtime.hostcalls import HostContext
from bridge.schema.compile import compile_protos
from bridge.schema.embed import embed
from tests.wat import wat_module

SCHEMA = """syntax = "proto3";
package s.v1;
message Msg { bytes data = 1; }
service S {
  rpc Stats(Msg) returns (Msg);
  rpc Info(Msg) returns (Msg);
  rpc Deadline(Msg) returns (Msg);
  rpc Meta(Msg) returns (Msg);
  rpc MetaOutside(Msg) returns (Msg);
  rpc UnaryFail(Msg) returns (Msg);
  rpc SendInUnary(Msg) returns (Msg);
  rpc RecvInUnary(Msg) returns (Msg);
  rpc Count(Msg) returns (stream Msg);
  rpc CountReport(Msg) returns (stream Msg);
  rpc InfoStream(Msg) returns (stream Msg);
  rpc DeadlineStream(Msg) returns (stream Msg);
  rpc MetaStream(Msg) returns (stream Msg);
  rpc TrapAfter(Msg) returns (stream Msg);
  rpc FailAfter(Msg) returns (stream Msg);
  rpc Stubborn(Msg) returns (stream Msg);
  rpc SendOutside(Msg) returns (stream Msg);
  rpc SendFlags(Msg) returns (stream Msg);
  rpc ReturnsPayload(Msg) returns (stream Msg);
  rpc Relay(Msg) returns (Msg);
  rpc Sum(stream Msg) returns (Msg);
  rpc SendInClientStream(stream Msg) returns (Msg);
  rpc Echo(stream Msg) returns (stream Msg);
}
service Host { rpc Sent(Msg) returns (Msg); rpc Fail(Msg) returns (Msg); }
"""

SENT = b"s.v1.Host/Sent"
HOST_FAIL = b"s.v1.Host/Fail"
SENT_AT, HOST_FAIL_AT, ENVELOPE_AT, STRINGS_AT = 1024, 1056, 1100, 1600


def envelope() -> status_pb2.Status:
    """The error envelope UnaryFail and FailAfter return, with one detail."""
    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.StringValue(value="why"))
    return status_pb2.Status(code=9, message="boom", details=[detail])


ENVELOPE = envelope().SerializeToString()

# (kind, key, value, expected answer) for s.v1.S/Meta, then its set_compression calls.
META_CASES: list[tuple[int, bytes, bytes, int]] = [
    (abi.METADATA_HEADER, b"x-h", b"v1", 0),
    (abi.METADATA_TRAILER, b"x-t", b"t1", 0),
    (abi.METADATA_HEADER, b"x-bin", b"\x00\xff\n", 0),
    (abi.METADATA_TRAILER, b"x-t", b"t2", 0),  # a key may come twice
    (abi.METADATA_HEADER, b"Bad", b"v", abi.METADATA_REFUSED),  # uppercase
    (abi.METADATA_HEADER, b"grpc-x", b"v", abi.METADATA_REFUSED),  # gRPC's own
    (abi.METADATA_HEADER, b"x-h", b"a\nb", abi.METADATA_REFUSED),  # a text value, not printable
    (abi.METADATA_HEADER, b"x h", b"v", abi.METADATA_REFUSED),
    (7, b"x-h", b"v", abi.METADATA_REFUSED),  # neither header nor trailer
    (abi.METADATA_HEADER, b"", b"v", abi.METADATA_REFUSED),
    (abi.METADATA_HEADER, b"k" * 256, b"v", abi.METADATA_REFUSED),
    (abi.METADATA_TRAILER, b"k" * 255, b"", 0),
]
COMPRESSION_CASES = [(5, abi.METADATA_REFUSED), (abi.COMPRESSION_GZIP, 0)]

IMPORTS = """
  (import "bridge" "stream_recv" (func $recv (result i64)))
  (import "bridge" "stream_send" (func $send (param i32 i32 i32) (result i32)))
  (import "bridge" "host_result" (func $result (param i32 i32) (result i32)))
  (import "bridge" "call_info" (func $info (result i64)))
  (import "bridge" "deadline" (func $deadline (result i64)))
  (import "bridge" "set_metadata" (func $setmd (param i32 i32 i32 i32 i32) (result i32)))
  (import "bridge" "set_compression" (func $setcomp (param i32) (result i32)))
  (import "bridge" "host_call" (func $host_call (param i32 i32 i32 i32) (result i64)))
"""

# Scratch memory: received messages at 16384, sent ones at 20480, answers at 24576+.
# The host's request buffer is the skeleton's first malloc, at 4096.
BODY = """
  (global $calls (mut i32) (i32.const 0))
  (global $closed (mut i32) (i32.const 0))       ;; sends answered STREAM_CLOSED
  (global $recv_errors (mut i32) (i32.const 0))  ;; receives answered ERROR
  (global $last_code (mut i32) (i32.const 0))    ;; the status code of the last one
  (global $compressed (mut i32) (i32.const 0))   ;; requests flagged COMPRESSED

  (func $len (param $r i64) (result i32)
    (i32.wrap_i64 (i64.and (i64.shr_u (local.get $r) (i64.const 32)) (i64.const 0x3FFFFFFF))))
  (func $borrowed (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.const 0x4000000000000000)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 32))
              (i64.extend_i32_u (local.get $p)))))
  (func $called (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
  (func $closed_send (global.set $closed (i32.add (global.get $closed) (i32.const 1))))

  ;; Receive one request into 16384: its length, -1 at the end, -2 once the call is over.
  (func $recv_msg (result i32) (local $r i64) (local $n i32)
    (local.set $r (call $recv))
    (local.set $n (call $len (local.get $r)))
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then
        (drop (call $result (i32.const 16384) (local.get $n)))
        (global.set $last_code (i32.load8_u (i32.const 16385)))  ;; Status: 0x08 <code>
        (global.set $recv_errors (i32.add (global.get $recv_errors) (i32.const 1)))
        (return (i32.const -2))))
    (if (i32.wrap_i64 (i64.and (local.get $r) (i64.const 1)))
      (then (return (i32.const -1))))
    (if (i32.wrap_i64 (i64.and (local.get $r) (i64.const 2)))
      (then (global.set $compressed (i32.add (global.get $compressed) (i32.const 1)))))
    (if (local.get $n) (then (drop (call $result (i32.const 16384) (local.get $n)))))
    (local.get $n))

  (func (export "s.v1.S/Stats") (param i32 i32) (result i64)
    (call $called)
    (i32.store (i32.const 24576) (global.get $calls))
    (i32.store (i32.const 24580) (global.get $closed))
    (i32.store (i32.const 24584) (global.get $recv_errors))
    (i32.store (i32.const 24588) (global.get $last_code))
    (i32.store (i32.const 24592) (global.get $compressed))
    (call $borrowed (i32.const 24576) (i32.const 20)))

  ;; The call's CallInfo, as call_info gives it.
  (func $info_at (param $at i32) (result i32) (local $n i32)
    (local.set $n (call $len (call $info)))
    (if (local.get $n) (then (drop (call $result (local.get $at) (local.get $n)))))
    (local.get $n))
  (func (export "s.v1.S/Info") (param i32 i32) (result i64)
    (call $called)
    (call $borrowed (i32.const 32768) (call $info_at (i32.const 32768))))
  (func (export "s.v1.S/InfoStream") (param i32 i32) (result i64)
    (call $called)
    (drop (call $send (i32.const 32768) (call $info_at (i32.const 32768)) (i32.const 0)))
    (i64.const 0))

  (func (export "s.v1.S/Deadline") (param i32 i32) (result i64)
    (call $called)
    (i64.store (i32.const 24576) (call $deadline))
    (call $borrowed (i32.const 24576) (i32.const 8)))
  (func (export "s.v1.S/DeadlineStream") (param i32 i32) (result i64)
    (call $called)
    (i64.store (i32.const 20480) (call $deadline))
    (drop (call $send (i32.const 20480) (i32.const 8) (i32.const 0)))
    (i64.const 0))

  (func (export "s.v1.S/MetaOutside") (param i32 i32) (result i64)
    (drop (call $setmd (i32.const 0) (i32.const 0xFFFFFF00) (i32.const 10)
                       (i32.const 0) (i32.const 0)))
    (i64.const 0))

  (func (export "s.v1.S/UnaryFail") (param i32 i32) (result i64)
    (call $called)
    (i64.or (i64.const 0x8000000000000000)
            (call $borrowed (i32.const {envelope_at}) (i32.const {envelope_len}))))

  (func (export "s.v1.S/SendInUnary") (param i32 i32) (result i64)
    (drop (call $send (i32.const 20480) (i32.const 1) (i32.const 0)))
    (i64.const 0))
  (func (export "s.v1.S/RecvInUnary") (param i32 i32) (result i64)
    (call $called)
    (i64.store (i32.const 24576) (call $recv))
    (call $borrowed (i32.const 24576) (i32.const 8)))

  ;; Count: the request is a u32 n; sends 0, 1, ..., n - 1 (u32 each).
  (func (export "s.v1.S/Count") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $total i32)
    (call $called)
    (if (i32.ge_u (local.get $n) (i32.const 4))
      (then (local.set $total (i32.load (local.get $p)))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $total)))
        (i32.store (i32.const 20480) (local.get $i))
        (if (call $send (i32.const 20480) (i32.const 4) (i32.const 0))
          (then (call $closed_send) (br $done)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.const 0))

  ;; CountReport: the request is u32 n, u32 size; sends n messages of `size` bytes (the
  ;; first four its index) and calls the host's Sent after each one was taken.
  (func (export "s.v1.S/CountReport") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $total i32) (local $size i32) (local $pages i32)
    (call $called)
    (local.set $total (i32.load (local.get $p)))
    (local.set $size (i32.load offset=4 (local.get $p)))
    (local.set $pages (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 2)))
    (if (i32.lt_u (memory.size) (local.get $pages))
      (then (drop (memory.grow (i32.sub (local.get $pages) (memory.size))))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $total)))
        (i32.store (i32.const 65536) (local.get $i))
        (if (call $send (i32.const 65536) (local.get $size) (i32.const 0))
          (then (call $closed_send) (br $done)))
        (drop (call $host_call (i32.const {sent_at}) (i32.const {sent_len})
                               (i32.const 0) (i32.const 0)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.const 0))

  ;; TrapAfter sends 0, 1, 2 and traps; FailAfter sends 0, 1 and returns the envelope.
  (func $send_index (param $i i32) (result i32)
    (i32.store (i32.const 20480) (local.get $i))
    (call $send (i32.const 20480) (i32.const 4) (i32.const 0)))
  (func (export "s.v1.S/TrapAfter") (param i32 i32) (result i64)
    (call $called)
    (drop (call $send_index (i32.const 0)))
    (drop (call $send_index (i32.const 1)))
    (drop (call $send_index (i32.const 2)))
    unreachable)
  (func (export "s.v1.S/FailAfter") (param i32 i32) (result i64)
    (call $called)
    (drop (call $send_index (i32.const 0)))
    (drop (call $send_index (i32.const 1)))
    (i64.or (i64.const 0x8000000000000000)
            (call $borrowed (i32.const {envelope_at}) (i32.const {envelope_len}))))

  ;; Stubborn sends until told the call is over, then computes forever.
  (func (export "s.v1.S/Stubborn") (param i32 i32) (result i64) (local $i i32)
    (call $called)
    (loop $next
      (if (call $send_index (local.get $i))
        (then (loop $spin (br $spin))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))
    (i64.const 0))

  (func (export "s.v1.S/SendOutside") (param i32 i32) (result i64)
    (drop (call $send (i32.const 0xFFFF0000) (i32.const 16) (i32.const 0)))
    (i64.const 0))
  ;; SendFlags sends "a" plainly, "b" with the flags the request's first byte gives.
  (func (export "s.v1.S/SendFlags") (param $p i32) (param i32) (result i64)
    (call $called)
    (i32.store8 (i32.const 20480) (i32.const 97))
    (drop (call $send (i32.const 20480) (i32.const 1) (i32.const 0)))
    (i32.store8 (i32.const 20480) (i32.const 98))
    (drop (call $send (i32.const 20480) (i32.const 1) (i32.load8_u (local.get $p))))
    (i64.const 0))
  (func (export "s.v1.S/ReturnsPayload") (param i32 i32) (result i64)
    (call $borrowed (i32.const 20480) (i32.const 3)))

  ;; Sum: u32 requests; answers their sum, their count and how many came compressed.
  (func (export "s.v1.S/Sum") (param i32 i32) (result i64) (local $n i32) (local $sum i32)
    (local $count i32)
    (call $called)
    (global.set $compressed (i32.const 0))
    (block $done
      (loop $next
        (local.set $n (call $recv_msg))
        (br_if $done (i32.lt_s (local.get $n) (i32.const 0)))
        (if (i32.ge_u (local.get $n) (i32.const 4))
          (then (local.set $sum (i32.add (local.get $sum) (i32.load (i32.const 16384))))))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 24576) (local.get $sum))
    (i32.store (i32.const 24580) (local.get $count))
    (i32.store (i32.const 24584) (global.get $compressed))
    (call $borrowed (i32.const 24576) (i32.const 12)))
  (func (export "s.v1.S/SendInClientStream") (param i32 i32) (result i64)
    (drop (call $send (i32.const 20480) (i32.const 1) (i32.const 0)))
    (i64.const 0))

  ;; Echo: sends back each request as it comes.
  (func (export "s.v1.S/Echo") (param i32 i32) (result i64) (local $n i32)
    (call $called)
    (block $done
      (loop $next
        (local.set $n (call $recv_msg))
        (br_if $done (i32.lt_s (local.get $n) (i32.const 0)))
        (if (call $send (i32.const 16384) (local.get $n) (i32.const 0))
          (then (call $closed_send) (br $done)))
        (br $next)))
    (i64.const 0))

  ;; Relay calls the host's Fail and answers its outcome as its own error.
  (func (export "s.v1.S/Relay") (param i32 i32) (result i64) (local $r i64) (local $n i32)
    (local.set $r (call $host_call (i32.const {host_fail_at}) (i32.const {host_fail_len})
                                   (i32.const 0) (i32.const 0)))
    (local.set $n (call $len (local.get $r)))
    (drop (call $result (i32.const 40960) (local.get $n)))
    (i64.or (i64.and (local.get $r) (i64.const 0x8000000000000000))
            (call $borrowed (i32.const 40960) (local.get $n))))
"""


def _data(offset: int, data: bytes) -> str:
    escaped = "".join(f"\\{b:02x}" for b in data)
    return f'(data (i32.const {offset}) "{escaped}")'


def _meta_body() -> str:
    """s.v1.S/Meta: one set_metadata per META_CASES row, then the set_compression
    calls; answers the i32 each returned. MetaStream: the rules once headers left."""
    segments, calls, at = [], [], STRINGS_AT
    places: dict[bytes, int] = {}

    def place(data: bytes) -> int:
        nonlocal at
        if data not in places:
            places[data] = at
            segments.append(_data(at, data))
            at += len(data) + 1
        return places[data]

    for i, (kind, key, value, _) in enumerate(META_CASES):
        calls.append(
            f"(i32.store (i32.const {36864 + 4 * i}) (call $setmd (i32.const {kind}) "
            f"(i32.const {place(key)}) (i32.const {len(key)}) "
            f"(i32.const {place(value)}) (i32.const {len(value)})))"
        )
    for j, (algorithm, _) in enumerate(COMPRESSION_CASES):
        at_answer = 36864 + 4 * (len(META_CASES) + j)
        calls.append(f"(i32.store (i32.const {at_answer}) (call $setcomp (i32.const {algorithm})))")
    answers = 4 * (len(META_CASES) + len(COMPRESSION_CASES))
    h, a, late, c = place(b"x-h"), place(b"a"), place(b"x-late"), place(b"x-t")
    return (
        "\n".join(segments)
        + f"""
  (func (export "s.v1.S/Meta") (param i32 i32) (result i64)
    {" ".join(calls)}
    (call $borrowed (i32.const 36864) (i32.const {answers})))
  ;; MetaStream: compression and a header before its first message (answers in it), then
  ;; a header, compression and a trailer after it (answers in a second message).
  (func (export "s.v1.S/MetaStream") (param i32 i32) (result i64)
    (i32.store (i32.const 20480) (call $setcomp (i32.const 2)))
    (i32.store (i32.const 20484)
      (call $setmd (i32.const 0) (i32.const {h}) (i32.const 3) (i32.const {a}) (i32.const 1)))
    (drop (call $send (i32.const 20480) (i32.const 8) (i32.const 0)))
    (i32.store (i32.const 20480)
      (call $setmd (i32.const 0) (i32.const {late}) (i32.const 6) (i32.const {a}) (i32.const 1)))
    (i32.store (i32.const 20484) (call $setcomp (i32.const 0)))
    (i32.store (i32.const 20488)
      (call $setmd (i32.const 1) (i32.const {c}) (i32.const 3) (i32.const {a}) (i32.const 1)))
    (drop (call $send (i32.const 20480) (i32.const 12) (i32.const 0)))
    (i64.const 0))
"""
    )


def build_guest(tmp_path: Path) -> Path:
    """The streaming WAT guest, with SCHEMA embedded."""
    body = (
        _data(SENT_AT, SENT)
        + _data(HOST_FAIL_AT, HOST_FAIL)
        + _data(ENVELOPE_AT, ENVELOPE)
        + BODY.replace("{envelope_at}", str(ENVELOPE_AT))
        .replace("{envelope_len}", str(len(ENVELOPE)))
        .replace("{sent_at}", str(SENT_AT))
        .replace("{sent_len}", str(len(SENT)))
        .replace("{host_fail_at}", str(HOST_FAIL_AT))
        .replace("{host_fail_len}", str(len(HOST_FAIL)))
        + _meta_body()
    )
    path = wat_module(tmp_path, body, name="streams", imports=IMPORTS)
    (tmp_path / "s.proto").write_text(SCHEMA)
    path.write_bytes(embed(path.read_bytes(), compile_protos([tmp_path / "s.proto"])))
    return path


class Host:
    """s.v1.Host: counts the guest's sends (CountReport), fails on demand (Relay)."""

    def __init__(self) -> None:
        self.sent = 0
        self.fail_with: Any = None

    def Sent(self, request: Any, context: HostContext) -> bytes:  # noqa: N802 (grpc's names)
        self.sent += 1
        return b""

    def Fail(self, request: Any, context: HostContext) -> bytes:  # noqa: N802
        context.abort_with_status(self.fail_with)


def load_guest(path: Path, host: Host | None = None, **config: Any) -> bridge.GuestModule:
    settings: dict[str, Any] = {"cache_dir": None, "pool_size": 1, "call_timeout_s": None}
    settings.update(config)
    return bridge.load(path, RuntimeConfig(**settings), host={"s.v1.Host": host or Host()})


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def stats(guest: bridge.GuestModule) -> dict[str, int]:
    names = ("calls", "closed", "recv_errors", "last_code", "compressed")
    return dict(zip(names, struct.unpack("<5I", guest.call("s.v1.S/Stats", b"")), strict=True))


@pytest.fixture(scope="module")
def guest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_guest(tmp_path_factory.mktemp("streams"))


@pytest.fixture
def host() -> Host:
    return Host()


@pytest.fixture
def guest(guest_path: Path, host: Host) -> Iterator[bridge.GuestModule]:
    with load_guest(guest_path, host) as module:
        yield module


def _stream_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name.startswith(("bridge-stream-", "bridge-feeder-"))
    ]


@pytest.fixture(autouse=True)
def _no_thread_left() -> Iterator[None]:
    """Every test ends with every stream's threads gone: none leaks."""
    yield
    deadline = time.monotonic() + 10
    while _stream_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _stream_threads() == []


def _wait_until(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# --- kinds ---------------------------------------------------------------------------


def test_kinds_come_from_the_schema(guest: bridge.GuestModule) -> None:
    kinds = bridge.MethodKind
    assert guest.kind("s.v1.S/Stats") is kinds.UNARY
    assert guest.kind("s.v1.S/Count") is kinds.SERVER_STREAMING
    assert guest.kind("s.v1.S/Sum") is kinds.CLIENT_STREAMING
    assert guest.kind("s.v1.S/Echo") is kinds.BIDI_STREAMING
    with pytest.raises(bridge.UnknownMethod):
        guest.kind("s.v1.S/Nope")
    assert "s.v1.S/Count" in guest.methods


@pytest.mark.parametrize(
    ("method", "use", "label"),
    [
        ("s.v1.S/Count", "stream", "server-streaming"),
        ("s.v1.S/Sum", "invoke", "client-streaming"),
        ("s.v1.S/Echo", "stream", "bidi-streaming"),
    ],
)
def test_call_refuses_streaming_methods(
    guest: bridge.GuestModule, method: str, use: str, label: str
) -> None:
    for metadata in (None, [("k", "v")]):
        with pytest.raises(bridge.WrongMethodKind, match=f"GuestModule.{use}") as info:
            guest.call(method, b"", metadata=metadata)
        assert (info.value.kind, info.value.use, info.value.method) == (label, use, method)


def test_each_kind_goes_its_own_way(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.WrongMethodKind, match=r"GuestModule\.stream"):
        guest.invoke("s.v1.S/Count", b"")
    with pytest.raises(bridge.WrongMethodKind, match=r"GuestModule\.invoke"):
        guest.stream("s.v1.S/Stats", b"")
    with pytest.raises(bridge.InvalidArguments, match="iterable of bytes"):
        guest.invoke("s.v1.S/Sum", b"\x01")
    with pytest.raises(bridge.InvalidArguments, match="its request is bytes"):
        guest.stream("s.v1.S/Count", [b"\x01"])
    with pytest.raises(bridge.UnknownMethod):
        guest.stream("s.v1.S/Nope", b"")


def test_a_module_without_a_schema_is_all_unary(tmp_path: Path) -> None:
    # An ABI v1 module of before streams: no schema, no stream imports, loads and runs.
    body = """
  (func (export "t.v1.T/Echo") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.const 0x4000000000000000)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 32))
              (i64.extend_i32_u (local.get $p)))))
"""
    with bridge.load(wat_module(tmp_path, body), RuntimeConfig(cache_dir=None)) as plain:
        assert plain.kind("t.v1.T/Echo") is bridge.MethodKind.UNARY
        assert plain.call("t.v1.T/Echo", b"hi") == b"hi"
        assert plain.invoke("t.v1.T/Echo", b"hi") == bridge.Reply(b"hi", (), (), None)
        assert plain.call("t.v1.T/Echo", b"hi", metadata=[("k", "v")]) == b"hi"


def test_the_new_imports_are_checked_at_load(tmp_path: Path) -> None:
    wrong = wat_module(
        tmp_path, imports='(import "bridge" "stream_send" (func (param i32 i32) (result i32)))'
    )
    with pytest.raises(
        bridge.AbiMismatch,
        match=r"import bridge\.stream_send has type \(i32, i32\) -> i32, ABI v1 gives "
        r"\(i32, i32, i32\) -> i32",
    ):
        bridge.load(wrong, RuntimeConfig(cache_dir=None))
    other = wat_module(tmp_path, name="other", imports='(import "bridge" "stream_peek" (func))')
    with pytest.raises(bridge.LoadError, match=r"imports bridge\.stream_peek, which this host"):
        bridge.load(other, RuntimeConfig(cache_dir=None))
    # Each import alone is enough: a guest imports only what it uses.
    for name, signature in (
        ("deadline", "(result i64)"),
        ("set_compression", "(param i32) (result i32)"),
    ):
        alone = wat_module(
            tmp_path, name=name, imports=f'(import "bridge" "{name}" (func {signature}))'
        )
        bridge.load(alone, RuntimeConfig(cache_dir=None)).close()


def test_a_streaming_guest_needs_a_schema_that_reads(tmp_path: Path) -> None:
    path = wat_module(tmp_path, imports='(import "bridge" "stream_recv" (func (result i64)))')
    path.write_bytes(embed(path.read_bytes(), b"\xff\xff"))  # not a FileDescriptorSet
    with pytest.raises(bridge.InvalidModule, match="the schema embedded in .* is broken"):
        bridge.load(path, RuntimeConfig(cache_dir=None))


# --- server-streaming -------------------------------------------------------------------


def test_server_stream_of_n_messages(guest: bridge.GuestModule) -> None:
    with guest.stream("s.v1.S/Count", u32(200)) as responses:
        assert [struct.unpack("<I", m)[0] for m in responses] == list(range(200))
        assert responses.done
        assert responses.headers() == () and responses.trailers() == ()
    assert list(guest.stream("s.v1.S/Count", u32(0))) == []
    assert guest.stats()["idle"] == 1  # the instance is back in the pool
    assert stats(guest)["calls"] == 3  # ... and it is the same one


def test_window_backpressure(guest: bridge.GuestModule, host: Host) -> None:
    """The guest runs at most the window (64 messages) ahead of what was taken."""
    responses = guest.stream("s.v1.S/CountReport", u32(200) + u32(4))
    taken = [next(responses)]
    _wait_until(lambda: host.sent >= 1 + abi.STREAM_WINDOW_MESSAGES)
    time.sleep(0.2)  # were the guest not blocked, it would be far ahead by now
    assert host.sent == 1 + abi.STREAM_WINDOW_MESSAGES
    for _ in range(10):
        taken.append(next(responses))
        _wait_until(lambda: host.sent >= len(taken) + abi.STREAM_WINDOW_MESSAGES)
        assert host.sent == len(taken) + abi.STREAM_WINDOW_MESSAGES
    taken.extend(responses)
    assert [struct.unpack("<I", m[:4])[0] for m in taken] == list(range(200))
    assert host.sent == 200


def test_window_counts_bytes_too(guest: bridge.GuestModule, host: Host) -> None:
    mib = 1 << 20
    assert abi.STREAM_WINDOW_BYTES // mib == 4
    with guest.stream("s.v1.S/CountReport", u32(12) + u32(mib)) as responses:
        first = next(responses)
        assert len(first) == mib
        _wait_until(lambda: host.sent >= 5)
        time.sleep(0.2)
        assert host.sent == 1 + 4  # four 1 MiB messages fill the window
        assert len(list(responses)) == 11


def test_trap_mid_stream_gives_the_messages_then_the_trap(guest: bridge.GuestModule) -> None:
    stats(guest)
    responses = guest.stream("s.v1.S/TrapAfter", b"")
    assert [next(responses) for _ in range(3)] == [u32(0), u32(1), u32(2)]
    with pytest.raises(bridge.GuestTrap, match="unreachable"):
        next(responses)
    with pytest.raises(bridge.GuestTrap):  # and again: the stream stays failed
        next(responses)
    _wait_until(lambda: guest.stats()["idle"] == 1)
    assert stats(guest)["calls"] == 1  # the trapped instance was replaced


def test_error_mid_stream_gives_the_messages_then_the_status(guest: bridge.GuestModule) -> None:
    with guest.stream("s.v1.S/FailAfter", b"") as responses:
        assert responses.read() == (u32(0), False)
        assert responses.read() == (u32(1), False)
        with pytest.raises(bridge.GuestError) as info:
            responses.read()
    error = info.value
    assert (error.code, error.status_message) == (bridge.StatusCode.FAILED_PRECONDITION, "boom")
    assert error.status == envelope()
    assert error.details[0].Is(wrappers_pb2.StringValue.DESCRIPTOR)
    assert stats(guest)["calls"] == 2  # an error is no fault: the instance lives on


def test_abi_violations_in_streams(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.AbiViolation, match="stream_send in a unary call"):
        guest.call("s.v1.S/SendInUnary", b"")
    with pytest.raises(bridge.AbiViolation, match="stream_send in a unary call"):
        guest.invoke("s.v1.S/SendInUnary", b"", metadata=[("k", "v")])
    with pytest.raises(bridge.AbiViolation, match="in a client-streaming call"):
        guest.invoke("s.v1.S/SendInClientStream", [])
    with pytest.raises(bridge.AbiViolation, match="the message .* lies outside"):
        list(guest.stream("s.v1.S/SendOutside", b""))
    with pytest.raises(bridge.AbiViolation, match="unknown flags 0x2"):
        list(guest.stream("s.v1.S/SendFlags", b"\x02"))
    with pytest.raises(bridge.AbiViolation, match="returned a response of 3 bytes"):
        list(guest.stream("s.v1.S/ReturnsPayload", b""))
    _wait_until(lambda: guest.stats()["idle"] == 1)
    assert stats(guest)["calls"] == 1  # each broken instance was replaced


def test_send_uncompressed_flag(guest: bridge.GuestModule) -> None:
    flag = bytes([abi.SEND_UNCOMPRESSED])
    with guest.stream("s.v1.S/SendFlags", flag) as responses:
        assert responses.read() == (b"a", False)
        assert responses.read() == (b"b", True)
        assert responses.read() is None


def test_recv_in_a_unary_call_is_the_end_at_once(guest: bridge.GuestModule) -> None:
    assert struct.unpack("<q", guest.call("s.v1.S/RecvInUnary", b"x"))[0] == abi.RECV_END
    reply = guest.invoke("s.v1.S/RecvInUnary", b"x", metadata=[])
    assert struct.unpack("<q", reply.response)[0] == abi.RECV_END


# --- cancellation, abandonment, deadlines ------------------------------------------------


def test_cancel_mid_stream(guest: bridge.GuestModule) -> None:
    responses = guest.stream("s.v1.S/Count", u32(10_000))
    assert [next(responses) for _ in range(5)] == [u32(i) for i in range(5)]
    responses.cancel()
    responses.cancel()  # idempotent
    with pytest.raises(bridge.Cancelled) as info:
        next(responses)
    assert info.value.code is bridge.StatusCode.CANCELLED
    assert responses.trailers() == ()  # waits for the guest to return
    seen = stats(guest)
    assert seen["closed"] == 1  # the guest saw STREAM_CLOSED and returned
    assert seen["calls"] == 2  # in the same instance, reused


def test_cancel_after_the_end_changes_nothing(guest: bridge.GuestModule) -> None:
    responses = guest.stream("s.v1.S/Count", u32(3))
    _wait_until(lambda: responses.done)
    responses.cancel()
    assert list(responses) == [u32(0), u32(1), u32(2)]
    responses.close()
    with pytest.raises(bridge.Cancelled, match="closed"):
        next(responses)


def test_abandoned_stream_is_cancelled_when_collected(guest: bridge.GuestModule) -> None:
    responses = guest.stream("s.v1.S/Count", u32(10_000))
    next(responses)
    del responses
    gc.collect()
    _wait_until(lambda: guest.stats()["idle"] == 1)
    assert stats(guest)["closed"] == 1


def test_close_and_with(guest: bridge.GuestModule) -> None:
    with guest.stream("s.v1.S/Count", u32(10_000)) as responses:
        next(responses)
    with pytest.raises(bridge.Cancelled):
        next(responses)
    responses.close()  # twice is fine
    _wait_until(lambda: guest.stats()["idle"] == 1)
    assert stats(guest)["closed"] == 1


def test_a_guest_that_ignores_a_cancel_is_stopped_by_its_deadline(
    guest: bridge.GuestModule,
) -> None:
    responses = guest.stream("s.v1.S/Stubborn", b"", timeout_s=0.5)
    next(responses)
    responses.cancel()
    assert responses.trailers() == ()  # the call ended: the guest was stopped
    with pytest.raises(bridge.Cancelled):
        next(responses)
    _wait_until(lambda: guest.stats()["idle"] == 1)
    assert stats(guest)["calls"] == 1  # stopped, so replaced


def test_a_guest_told_its_deadline_passed_has_a_grace_to_return(
    guest: bridge.GuestModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "CLOSE_GRACE_S", 0.2)
    responses = guest.stream("s.v1.S/Stubborn", b"", timeout_s=0.3)
    next(responses)
    time.sleep(0.4)  # the guest waits for room in the window, past its deadline
    with pytest.raises(bridge.DeadlineExceeded):
        list(responses)  # told STREAM_CLOSED, it spins: the grace ends, it is stopped
    _wait_until(lambda: guest.stats()["idle"] == 1)
    assert stats(guest)["calls"] == 1


def test_deadline_while_blocked_in_send(guest: bridge.GuestModule) -> None:
    responses = guest.stream("s.v1.S/Count", u32(10_000), timeout_s=0.3)
    assert next(responses) == u32(0)
    time.sleep(0.5)  # the guest fills the window and waits, past its deadline
    got: list[bytes] = []
    with pytest.raises(bridge.DeadlineExceeded) as info:
        got.extend(responses)
    assert info.value.timeout_s == 0.3
    # what was sent before the deadline comes first
    assert got == [u32(i) for i in range(1, 1 + abi.STREAM_WINDOW_MESSAGES)]
    seen = stats(guest)
    assert (seen["closed"], seen["calls"]) == (1, 2)  # it returned in time, and was reused


def test_deadline_while_blocked_in_recv(guest: bridge.GuestModule) -> None:
    requests: queue.Queue[bytes | None] = queue.Queue()
    started = time.monotonic()
    responses = guest.stream("s.v1.S/Echo", iter(requests.get, None), timeout_s=0.3)
    with pytest.raises(bridge.DeadlineExceeded):
        next(responses)
    assert time.monotonic() - started < 5
    seen = stats(guest)
    assert (seen["recv_errors"], seen["last_code"]) == (1, bridge.StatusCode.DEADLINE_EXCEEDED)
    assert seen["calls"] == 2
    requests.put(None)  # the feeder still waits in the caller's iterator; it ends now


# --- client-streaming --------------------------------------------------------------------


def test_client_stream_sums_requests(guest: bridge.GuestModule) -> None:
    reply = guest.invoke("s.v1.S/Sum", (u32(i) for i in range(1, 101)))
    assert struct.unpack("<3I", reply.response) == (5050, 100, 0)
    assert reply == bridge.Reply(reply.response, (), (), None)
    assert struct.unpack("<3I", guest.invoke("s.v1.S/Sum", []).response) == (0, 0, 0)
    # empty messages, and messages that arrived compressed (the sidecar says so)
    compressed: list[bytes] = [streams.Compressed(u32(5)), b"", bytes(bytearray(u32(1)))]
    assert struct.unpack("<3I", guest.invoke("s.v1.S/Sum", compressed).response) == (6, 3, 1)


def test_client_iterator_failure_ends_the_stream_and_is_raised(
    guest: bridge.GuestModule,
) -> None:
    def requests() -> Iterator[bytes]:
        yield u32(1)
        raise KeyError("gone")

    with pytest.raises(KeyError, match="gone"):
        guest.invoke("s.v1.S/Sum", requests())
    seen = stats(guest)
    assert (seen["recv_errors"], seen["last_code"]) == (1, bridge.StatusCode.CANCELLED)
    assert seen["calls"] == 2  # the guest returned: its instance was reused
    with pytest.raises(bridge.InvalidArguments, match="request messages are bytes, not int"):
        guest.invoke("s.v1.S/Sum", [u32(1), 7])  # type: ignore[list-item]


def test_client_cancels(guest: bridge.GuestModule) -> None:
    cancelled = threading.Event()

    def requests() -> Iterator[bytes]:
        yield u32(1)
        cancelled.set()  # as another thread would, when the caller goes away
        yield u32(2)

    with pytest.raises(bridge.Cancelled):
        guest.invoke("s.v1.S/Sum", requests(), cancelled=cancelled)
    seen = stats(guest)
    assert (seen["recv_errors"], seen["last_code"], seen["calls"]) == (1, 1, 2)


def test_client_stream_deadline(guest: bridge.GuestModule) -> None:
    def slow() -> Iterator[bytes]:
        yield u32(1)
        time.sleep(0.4)  # invoke pulls in the caller's thread: it waits for the iterator
        yield u32(2)

    with pytest.raises(bridge.DeadlineExceeded):
        guest.invoke("s.v1.S/Sum", slow(), timeout_s=0.2)
    seen = stats(guest)
    assert (seen["recv_errors"], seen["last_code"]) == (1, bridge.StatusCode.DEADLINE_EXCEEDED)
    assert seen["calls"] == 2  # told in time, the guest returned: reused


def test_request_message_over_the_limit(guest_path: Path) -> None:
    with load_guest(guest_path, max_message_bytes=1024) as guest:
        with pytest.raises(bridge.ResourceExhausted, match="request message of 2000 bytes"):
            guest.invoke("s.v1.S/Sum", [b"x" * 2000])
        with pytest.raises(bridge.ResourceExhausted, match="request of 2000 bytes"):
            guest.stream("s.v1.S/Count", b"x" * 2000)


# --- bidirectional -----------------------------------------------------------------------


def test_bidi_ping_pong(guest: bridge.GuestModule) -> None:
    requests: queue.Queue[bytes | None] = queue.Queue()
    with guest.stream("s.v1.S/Echo", iter(requests.get, None)) as responses:
        for i in range(20):
            requests.put(f"ping {i}".encode())
            assert next(responses) == f"ping {i}".encode()
        requests.put(None)
        assert list(responses) == []
    assert stats(guest)["calls"] == 2


def test_bidi_cancel_while_the_guest_waits_for_a_request(guest: bridge.GuestModule) -> None:
    requests: queue.Queue[bytes | None] = queue.Queue()
    responses = guest.stream("s.v1.S/Echo", iter(requests.get, None))
    requests.put(b"one")
    assert next(responses) == b"one"
    responses.cancel()
    with pytest.raises(bridge.Cancelled):
        next(responses)
    seen = stats(guest)  # the guest, woken in stream_recv, returned
    assert (seen["recv_errors"], seen["last_code"], seen["calls"]) == (1, 1, 2)
    requests.put(b"late")  # the feeder pulls it, sees the call is over, and ends


def test_bidi_request_iterator_failure(guest: bridge.GuestModule) -> None:
    def requests() -> Iterator[bytes]:
        yield b"a"
        raise ValueError("broken pipe")

    responses = guest.stream("s.v1.S/Echo", requests())
    assert next(responses) == b"a"
    with pytest.raises(ValueError, match="broken pipe"):
        next(responses)
    assert stats(guest)["last_code"] == bridge.StatusCode.CANCELLED


def test_async_iteration_does_not_block_the_loop(guest: bridge.GuestModule) -> None:
    requests: queue.Queue[bytes | None] = queue.Queue()

    def feed() -> None:
        for i in range(5):
            time.sleep(0.05)
            requests.put(u32(i))
        requests.put(None)

    async def main() -> tuple[list[bytes], int]:
        ticks = 0
        done = False

        async def heartbeat() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0.005)

        beat = asyncio.create_task(heartbeat())
        threading.Thread(target=feed).start()
        got = []
        async with guest.stream("s.v1.S/Echo", iter(requests.get, None)) as responses:
            async for message in responses:
                got.append(message)
        done = True
        await beat
        return got, ticks

    got, ticks = asyncio.run(main())
    assert got == [u32(i) for i in range(5)]
    assert ticks > 10  # the loop ran while the messages were awaited


def test_async_errors(guest: bridge.GuestModule) -> None:
    async def main() -> list[bytes]:
        got = []
        with pytest.raises(bridge.GuestError):
            async for message in guest.stream("s.v1.S/FailAfter", b""):
                got.append(message)
        return got

    assert asyncio.run(main()) == [u32(0), u32(1)]


# --- processes and threads ---------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_cannot_read_the_parents_stream(guest: bridge.GuestModule) -> None:
    responses = guest.stream("s.v1.S/Count", u32(100))
    assert next(responses) == u32(0)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        outcome: dict[str, Any] = {}
        try:
            try:
                next(responses)
            except bridge.CallError as exc:
                outcome["error"] = str(exc)
            responses.close()  # a no-op here: the call is the parent's
            outcome["fresh"] = len(list(guest.stream("s.v1.S/Count", u32(3))))
        except BaseException as exc:  # noqa: BLE001 (reported to the parent)
            outcome["crash"] = repr(exc)
        os.write(write_fd, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        outcome = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert "before a fork" in outcome["error"], outcome
    assert outcome["fresh"] == 3  # the child's own pool streams
    assert len(list(responses)) == 99  # the parent's stream went on


def test_many_streams_at_once(guest_path: Path) -> None:
    with load_guest(guest_path, pool_size=4) as guest:
        opened = [guest.stream("s.v1.S/Count", u32(50)) for _ in range(8)]
        for responses in opened:
            assert len(list(responses)) == 50
        assert guest.stats()["instances"] <= 4
