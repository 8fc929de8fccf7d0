"""Every kind of method through `bridge serve`, with metadata, status details and
cancellation, called by the sidecar's own client (`Connection.invoke`, `.stream`) and
by plain grpcio.

The guest is tests/guests/stream-go (stream.v1.Numbers: unary Add, server-streaming
Count, client-streaming Sum, bidirectional Echo, and Inspect, which reports its call's
context and shapes its answer); gRPC's own interop clients are tests/interop's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2

from bridge import Reply, ResponseStream
from bridge.backend import Backend
from bridge.errors import Cancelled, DeadlineExceeded, GuestError, StatusCode
from bridge.sidecar import Connection
from tests.guests.conftest import (  # noqa: F401 (stream_go_wasm is a fixture)
    NUMBER_URL,
    Chat,
    CountRequest,
    InspectReply,
    InspectRequest,
    Number,
    Total,
    number,
    stream_go_wasm,
    values,
)
from tests.sidecar.conftest import Served, serving

S = "stream.v1.Numbers/"


@pytest.fixture(scope="module")
def served(
    stream_go_wasm: Path,  # noqa: F811 (the fixture imported above)
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """`bridge serve` of the guest with one worker, so one instance: each call finds
    what the previous one left (Inspect's count of calls that were over)."""
    folder = tmp_path_factory.mktemp("streaming")
    with serving(str(stream_go_wasm), "--no-watch", "--workers", "1", folder=folder) as running:
        yield running


@pytest.fixture
def sidecar(served: Served) -> Iterator[Connection]:
    with Connection(served.target, timeout_s=30) as connection:
        yield connection


def inspect(sidecar: Connection, request: Any = None, **kwargs: Any) -> tuple[Any, Reply]:
    body = (request or InspectRequest()).SerializeToString()
    reply = sidecar.invoke(S + "Inspect", body, **kwargs)
    return InspectReply.FromString(reply.response), reply


def closed_count(sidecar: Connection) -> int:
    return int(inspect(sidecar)[0].closed)


def test_a_connection_is_a_backend(sidecar: Connection) -> None:
    assert isinstance(sidecar, Backend)


def test_metadata_reaches_the_guest_and_its_headers_and_trailers_come_back(
    sidecar: Connection,
) -> None:
    metadata = (("x-tenant", "acme"), ("x-blob-bin", b"\x00\xff"))
    answer, reply = inspect(sidecar, metadata=metadata)
    seen = {entry.key: entry.value for entry in answer.metadata}
    assert seen["x-tenant"] == b"acme" and seen["x-blob-bin"] == b"\x00\xff"
    assert "user-agent" in seen
    assert not [key for key in seen if key.startswith(("grpc-", ":"))]
    assert ("x-inspected", "yes") in reply.headers
    assert ("x-raw-bin", b"\x00\x01\xff") in reply.trailers
    assert ("x-keys", str(len(seen))) in reply.trailers
    assert answer.refused == ["bad key", "grpc- key", "non-ASCII text", "deflate"]


def test_the_guest_sees_the_clients_deadline(sidecar: Connection) -> None:
    answer, _ = inspect(sidecar, timeout_s=5)
    assert answer.has_deadline and 3_000 < answer.deadline_ms <= 5_100  # grpc rounds up
    # capped by the sidecar's own call timeout (BRIDGE_CALL_TIMEOUT_S, 10 s by default)
    answer, _ = inspect(sidecar, timeout_s=60)
    assert answer.has_deadline and 8_000 < answer.deadline_ms <= 10_000


def test_status_details_go_to_the_client_as_grpc_status_details_bin(
    sidecar: Connection, served: Served
) -> None:
    request = InspectRequest(fail_code=StatusCode.FAILED_PRECONDITION.value)
    with pytest.raises(GuestError, match="asked to fail") as raised:
        inspect(sidecar, request)
    error = raised.value
    assert error.code is StatusCode.FAILED_PRECONDITION
    [detail] = error.details
    assert detail.type_url == NUMBER_URL and Number.FromString(detail.value).value == 42
    assert ("x-keys", "1") in error.trailers  # set before it failed: with the error
    assert ("x-inspected", "yes") in error.headers

    # gRPC's rich error model, as any gRPC client reads it (grpcio-status does this)
    with grpc.insecure_channel(served.target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{S}Inspect")
        with pytest.raises(grpc.RpcError) as failed:
            call(request.SerializeToString(), timeout=30)
    error_call: Any = failed.value  # a grpc.Call too
    trailers: dict[str, Any] = {key: value for key, value in error_call.trailing_metadata()}
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == error_call.code().value[0] == StatusCode.FAILED_PRECONDITION
    assert status.message == error_call.details() == "asked to fail"
    assert [d.type_url for d in status.details] == [NUMBER_URL]
    assert trailers["bridge-error"] == "GuestError"


def test_a_server_stream(sidecar: Connection) -> None:
    request = CountRequest(**{"from": 3, "to": 8, "headers": True}).SerializeToString()
    with sidecar.stream(S + "Count", request) as stream:
        assert isinstance(stream, ResponseStream)
        assert values(list(stream)) == [3, 4, 5, 6, 7]
        assert stream.headers() == (("x-count-from", "3"),)
        assert ("x-sent", "5") in stream.trailers()
        assert ("x-late-header", "refused") in stream.trailers()


def test_a_server_stream_that_fails_after_some_messages(sidecar: Connection) -> None:
    request = CountRequest(**{"from": 0, "to": 10, "fail_after": 3}).SerializeToString()
    stream = sidecar.stream(S + "Count", request)
    assert values([next(stream) for _ in range(3)]) == [0, 1, 2]
    with pytest.raises(GuestError, match="failed after 3 messages") as raised:
        next(stream)
    assert raised.value.code is StatusCode.ABORTED
    assert [d.type_url for d in raised.value.details] == [NUMBER_URL]


def test_compressed_responses_arrive_whole(served: Served) -> None:
    """gzip responses, every other one sent uncompressed (grpcio's client cannot tell
    which: test_interop.py counts the bytes on the wire)."""
    request = CountRequest(**{"from": 0, "to": 6, "compress": True}).SerializeToString()
    with grpc.insecure_channel(served.target) as channel:
        count: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(f"/{S}Count")
        assert values(list(count(request, timeout=30))) == list(range(6))


def test_a_client_stream(sidecar: Connection) -> None:
    reply = sidecar.invoke(S + "Sum", iter([number(1), number(2), number(39)]))
    total = Total.FromString(reply.response)
    assert (total.sum, total.count, total.compressed) == (42, 3, 0)
    with pytest.raises(GuestError, match="negative number -1") as raised:
        sidecar.invoke(S + "Sum", iter([number(1), number(-1)]))
    assert raised.value.code is StatusCode.INVALID_ARGUMENT


def test_bidirectional_ping_pong(sidecar: Connection) -> None:
    requests: queue.Queue[bytes | None] = queue.Queue()

    def sent() -> Iterator[bytes]:
        while (item := requests.get()) is not None:
            yield item

    with sidecar.stream(S + "Echo", sent()) as stream:
        for text in ("ping", "pong", "done"):
            requests.put(Chat(text=text).SerializeToString())
            assert Chat.FromString(next(stream)).text == text.upper()
        requests.put(None)
        assert list(stream) == []


def test_a_client_that_cancels_a_stream_ends_the_guests_call(sidecar: Connection) -> None:
    before = closed_count(sidecar)
    request = CountRequest(**{"from": 0, "to": 1 << 40}).SerializeToString()
    stream = sidecar.stream(S + "Count", request)
    assert values([next(stream)]) == [0]
    stream.cancel()
    with pytest.raises(Cancelled):
        next(stream)
    # The guest's next send said the call was over, and it returned: the one instance
    # is free again, and counted it.
    deadline = time.monotonic() + 20
    while closed_count(sidecar) == before:
        assert time.monotonic() < deadline, "the guest never heard of the cancellation"
        time.sleep(0.05)


def test_a_cancelled_client_stream(sidecar: Connection) -> None:
    before = closed_count(sidecar)
    cancelled = threading.Event()
    release = threading.Event()

    def sent() -> Iterator[bytes]:
        yield number(1)
        release.wait(20)  # the client has more to send, and cancels meanwhile

    threading.Timer(0.2, cancelled.set).start()
    with pytest.raises(Cancelled):
        sidecar.invoke(S + "Sum", sent(), cancelled=cancelled)
    release.set()
    deadline = time.monotonic() + 20
    while closed_count(sidecar) == before:
        assert time.monotonic() < deadline, "the guest never heard of the cancellation"
        time.sleep(0.05)


def test_a_stream_past_its_deadline(sidecar: Connection) -> None:
    release = threading.Event()

    def sent() -> Iterator[bytes]:
        yield Chat(text="one").SerializeToString()
        release.wait(20)

    try:
        stream = sidecar.stream(S + "Echo", sent(), timeout_s=0.5)
        assert Chat.FromString(next(stream)).text == "ONE"
        with pytest.raises(DeadlineExceeded):
            next(stream)
    finally:
        release.set()
    assert Number.FromString(sidecar.invoke(S + "Add", b"\x08\x01\x10\x02").response).value == 3
