"""The call's context in-process (docs/abi.md sections 5 and 15): metadata in and out,
the deadline, compression, and error details, with the WAT guest of test_streams."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, wrappers_pb2
from google.rpc import status_pb2

import bridge
from bridge import abi
from bridge.runtime.streams import Compressed, call_info_class
from tests.runtime.test_streams import (
    COMPRESSION_CASES,
    META_CASES,
    Host,
    build_guest,
    envelope,
    load_guest,
)


@pytest.fixture(scope="module")
def guest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_guest(tmp_path_factory.mktemp("context"))


@pytest.fixture
def host() -> Host:
    return Host()


@pytest.fixture
def guest(guest_path: Path, host: Host) -> Iterator[bridge.GuestModule]:
    with load_guest(guest_path, host) as module:
        yield module


def _info(raw: bytes) -> Any:
    return call_info_class().FromString(raw)


def _entries(info: Any) -> list[tuple[str, bytes]]:
    return [(e.key, e.value) for e in info.metadata]


# --- metadata in ---------------------------------------------------------------------


def test_the_guest_reads_the_callers_metadata(guest: bridge.GuestModule) -> None:
    metadata: list[tuple[str, str | bytes]] = [
        ("x-request-id", "r-1"),
        ("X-Tenant", "acme"),  # keys arrive lowercased
        ("trace-bin", b"\x00\x01\xff"),
        ("x-request-id", "r-2"),  # repeated keys keep their order
        ("grpc-timeout", "1S"),  # gRPC's own entries are not the guest's
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("user-agent", "grpc-python/1.70"),
    ]
    info = _info(guest.call("s.v1.S/Info", b"", metadata=metadata))
    assert _entries(info) == [
        ("x-request-id", b"r-1"),
        ("x-tenant", b"acme"),
        ("trace-bin", b"\x00\x01\xff"),
        ("x-request-id", b"r-2"),
        ("user-agent", b"grpc-python/1.70"),
    ]
    assert not info.request_compressed


def test_call_info_is_exactly_the_documented_encoding(guest: bridge.GuestModule) -> None:
    raw = guest.call("s.v1.S/Info", Compressed(b"req"), metadata=[("k", "v"), ("b-bin", b"\x00")])
    # Entry{key="k", value="v"}, Entry{key="b-bin", value="\0"}, request_compressed=true
    assert raw == b"\x0a\x06\x0a\x01k\x12\x01v" + b"\x0a\x0a\x0a\x05b-bin\x12\x01\x00" + b"\x10\x01"


def test_without_metadata_call_info_is_empty(guest: bridge.GuestModule) -> None:
    assert guest.call("s.v1.S/Info", b"") == b""  # the hot path: no context at all
    assert guest.invoke("s.v1.S/Info", b"").response == b""
    assert guest.call("s.v1.S/Info", b"", metadata=[]) == b""


def test_streams_read_their_metadata(guest: bridge.GuestModule) -> None:
    with guest.stream(
        "s.v1.S/InfoStream", Compressed(b"x"), metadata=[("tenant", "t1")]
    ) as responses:
        info = _info(next(responses))
    assert _entries(info) == [("tenant", b"t1")] and info.request_compressed


@pytest.mark.parametrize(
    ("metadata", "complaint"),
    [
        ([("x y", "v")], "metadata key 'x y' is not"),
        ([("text", "caf\u00e9\n")], "not printable ASCII"),
        ([("text", 3)], "has a int value"),
        ([("k",)], r"metadata is \(key, value\) pairs"),
        ([(b"k", "v")], "a metadata key is a str"),
    ],
)
def test_metadata_that_is_not_metadata_is_refused(
    guest: bridge.GuestModule, metadata: Any, complaint: str
) -> None:
    with pytest.raises(bridge.InvalidArguments, match=complaint):
        guest.invoke("s.v1.S/Info", b"", metadata=metadata)


# --- metadata out, compression -------------------------------------------------------


def test_headers_trailers_and_refused_keys(guest: bridge.GuestModule) -> None:
    reply = guest.invoke("s.v1.S/Meta", b"")
    answers = struct.unpack(f"<{len(reply.response) // 4}i", reply.response)
    expected = [answer for *_, answer in META_CASES] + [a for _, a in COMPRESSION_CASES]
    assert list(answers) == expected
    assert reply.headers == (("x-h", "v1"), ("x-bin", b"\x00\xff\n"))
    assert reply.trailers == (("x-t", "t1"), ("x-t", "t2"), ("k" * 255, ""))
    assert reply.compression == "gzip"
    assert abi.METADATA_REFUSED == -1


def test_plain_calls_take_metadata_and_drop_it(guest: bridge.GuestModule) -> None:
    # call() answers bytes only; the guest's answers are the same as in invoke()
    assert guest.call("s.v1.S/Meta", b"") == guest.invoke("s.v1.S/Meta", b"").response


def test_headers_are_refused_once_the_first_message_left(guest: bridge.GuestModule) -> None:
    with guest.stream("s.v1.S/MetaStream", b"") as responses:
        before = struct.unpack("<2i", next(responses))
        assert responses.headers() == (("x-h", "a"),)
        assert responses.compression == "gzip"
        after = struct.unpack("<3i", next(responses))
        assert responses.trailers() == (("x-t", "a"),)
    assert before == (0, 0)  # set_compression(2), the header
    assert after == (abi.METADATA_REFUSED, abi.METADATA_REFUSED, 0)  # header, compression, trailer


def test_headers_of_a_stream_without_messages(guest: bridge.GuestModule) -> None:
    with guest.stream("s.v1.S/Count", struct.pack("<I", 0)) as responses:
        assert responses.headers() == ()  # known at the end of the call
        assert responses.compression is None


def test_metadata_ranges_outside_memory_break_the_abi(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.AbiViolation, match="the key .* lies outside"):
        guest.call("s.v1.S/MetaOutside", b"")


def test_a_failed_call_carries_its_metadata(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.GuestError) as info:
        guest.invoke("s.v1.S/UnaryFail", b"")
    assert info.value.headers == () and info.value.trailers == ()
    error = bridge.CallError("x")
    assert (error.headers, error.trailers) == ((), ())


# --- deadline -------------------------------------------------------------------------


def _deadline(answer: bytes) -> int:
    value: int = struct.unpack("<q", answer)[0]
    return value


def test_deadline_values(guest_path: Path) -> None:
    with load_guest(guest_path) as guest:  # no deadline configured
        assert _deadline(guest.call("s.v1.S/Deadline", b"")) == abi.NO_DEADLINE
        assert _deadline(guest.invoke("s.v1.S/Deadline", b"").response) == abi.NO_DEADLINE
        left = _deadline(guest.call("s.v1.S/Deadline", b"", timeout_s=5))
        assert 4e9 < left <= 5e9
        left = _deadline(guest.invoke("s.v1.S/Deadline", b"", timeout_s=2).response)
        assert 1e9 < left <= 2e9
        with guest.stream("s.v1.S/DeadlineStream", b"", timeout_s=3) as responses:
            assert 2e9 < _deadline(next(responses)) <= 3e9
        with guest.stream("s.v1.S/DeadlineStream", b"") as responses:
            assert _deadline(next(responses)) == abi.NO_DEADLINE
    with load_guest(guest_path, call_timeout_s=2.0) as guest:
        for _ in range(3):  # the hot path, with its deadline armed once for close calls
            assert 1e9 < _deadline(guest.call("s.v1.S/Deadline", b"")) <= 2e9
        assert 0.5e9 < _deadline(guest.call("s.v1.S/Deadline", b"", timeout_s=1)) <= 1e9


# --- error details ------------------------------------------------------------------------


def test_guest_error_details_in_process(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.GuestError) as info:
        guest.call("s.v1.S/UnaryFail", b"")
    error = info.value
    assert error.code is bridge.StatusCode.FAILED_PRECONDITION
    assert error.status == envelope()
    (detail,) = error.details
    value = wrappers_pb2.StringValue()
    assert detail.Unpack(value) and value.value == "why"


def test_an_error_without_details_has_a_status_too() -> None:
    error = bridge.GuestError(bridge.StatusCode.NOT_FOUND, "gone")
    assert error.details == ()
    assert error.status == status_pb2.Status(code=5, message="gone")


class _GrpcStatus(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Any) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def test_host_abort_with_status_reaches_the_guest_whole(
    guest: bridge.GuestModule, host: Host
) -> None:
    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.Int64Value(value=42))
    sent = status_pb2.Status(code=8, message="quota", details=[detail])
    host.fail_with = sent
    with pytest.raises(bridge.GuestError) as info:
        guest.call("s.v1.S/Relay", b"")
    assert info.value.status == sent
    # grpc's own shape (what grpc_status.rpc_status.to_status makes) works the same
    host.fail_with = _GrpcStatus(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "quota",
        (("grpc-status-details-bin", sent.SerializeToString()),),
    )
    with pytest.raises(bridge.GuestError) as info:
        guest.call("s.v1.S/Relay", b"")
    assert info.value.status == sent
    host.fail_with = _GrpcStatus(grpc.StatusCode.NOT_FOUND, "no such thing", None)
    with pytest.raises(bridge.GuestError) as info:
        guest.call("s.v1.S/Relay", b"")
    assert info.value.status == status_pb2.Status(code=5, message="no such thing")


def test_host_abort_with_a_status_that_is_not_an_error(
    guest: bridge.GuestModule, host: Host
) -> None:
    host.fail_with = status_pb2.Status(code=0, message="fine")
    with pytest.raises(bridge.GuestError) as info:
        guest.call("s.v1.S/Relay", b"")
    assert info.value.code is bridge.StatusCode.INTERNAL
    assert "which is not an error" in info.value.status_message
