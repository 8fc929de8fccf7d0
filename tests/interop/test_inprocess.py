"""The interop cases' checks, ported to Python, against the same TestService guest
called in-process (GuestModule.invoke and GuestModule.stream): the same answers as
through `bridge serve` (test_interop.py).

Where gRPC's clients check something the in-process API shows differently, the port
checks what stands for it: a compressed request is a `Compressed` (what the sidecar
hands the guest), a compressed response is the Reply's (or stream's) `compression`
and each message's send_uncompressed flag, an unimplemented service is UnknownMethod
(the sidecar's UNIMPLEMENTED), a client's cancellation is `ResponseStream.cancel` or
the `cancelled` event of `invoke`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import GuestModule
from bridge.errors import Cancelled, DeadlineExceeded, GuestError, StatusCode, UnknownMethod
from bridge.runtime.streams import Compressed
from bridge.schema.model import MethodKind

SERVICE = "grpc.testing.TestService"
# The sizes of gRPC's interop cases (grpc-go's interop/test_utils.go).
REQUEST_SIZES = (27182, 8, 1828, 45904)
RESPONSE_SIZES = (31415, 9, 2653, 58979)
LARGE_REQUEST, LARGE_RESPONSE = 271828, 314159
ECHO_INITIAL, ECHO_TRAILING = "x-grpc-test-echo-initial", "x-grpc-test-echo-trailing-bin"
INITIAL_VALUE, TRAILING_VALUE = "test_initial_metadata_value", b"\x0a\x0b\x0a\x0b\x0a\x0b"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"


@pytest.fixture(scope="module")
def module(testservice_wasm: Path) -> Iterator[GuestModule]:
    with GuestModule(testservice_wasm) as loaded:
        yield loaded


def method(name: str) -> str:
    return f"{SERVICE}/{name}"


class Requests:
    """A request stream fed as the test goes, as a client sends: `send`, then `close`."""

    _END = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()

    def send(self, message: Any) -> None:
        self._queue.put(message.SerializeToString())

    def close(self) -> None:
        self._queue.put(self._END)

    def __iter__(self) -> Iterator[bytes]:
        while (item := self._queue.get()) is not self._END:
            assert isinstance(item, bytes)
            yield item


def payload_sizes(messages: Any, answers: list[bytes]) -> list[int]:
    return [len(messages.StreamingOutputCallResponse.FromString(a).payload.body) for a in answers]


def test_the_guest_serves_every_kind(module: GuestModule) -> None:
    assert module.kind(method("UnaryCall")) == MethodKind.UNARY
    assert module.kind(method("StreamingOutputCall")) == MethodKind.SERVER_STREAMING
    assert module.kind(method("StreamingInputCall")) == MethodKind.CLIENT_STREAMING
    assert module.kind(method("FullDuplexCall")) == MethodKind.BIDI_STREAMING
    assert module.kind(method("HalfDuplexCall")) == MethodKind.BIDI_STREAMING


def test_empty_unary(module: GuestModule) -> None:
    assert module.invoke(method("EmptyCall"), b"").response == b""


def test_large_unary(module: GuestModule, messages: Any) -> None:
    request = messages.SimpleRequest(response_size=LARGE_RESPONSE)
    request.payload.body = bytes(LARGE_REQUEST)
    reply = module.invoke(method("UnaryCall"), request.SerializeToString())
    answer = messages.SimpleResponse.FromString(reply.response)
    assert answer.payload.type == 0  # COMPRESSABLE
    assert answer.payload.body == bytes(LARGE_RESPONSE)


def test_client_compressed_unary(module: GuestModule, messages: Any) -> None:
    expect = messages.SimpleRequest(response_size=LARGE_RESPONSE)
    expect.expect_compressed.value = True
    expect.payload.body = bytes(LARGE_REQUEST)
    # the probe: an uncompressed request that says it is compressed
    with pytest.raises(GuestError) as refused:
        module.invoke(method("UnaryCall"), expect.SerializeToString())
    assert refused.value.code == StatusCode.INVALID_ARGUMENT
    reply = module.invoke(method("UnaryCall"), Compressed(expect.SerializeToString()))
    assert messages.SimpleResponse.FromString(reply.response).payload.body == bytes(LARGE_RESPONSE)
    expect.expect_compressed.value = False
    reply = module.invoke(method("UnaryCall"), expect.SerializeToString())
    assert messages.SimpleResponse.FromString(reply.response).payload.body == bytes(LARGE_RESPONSE)


def test_server_compressed_unary(module: GuestModule, messages: Any) -> None:
    for compressed in (True, False):
        request = messages.SimpleRequest(response_size=LARGE_RESPONSE)
        request.response_compressed.value = compressed
        request.payload.body = bytes(LARGE_REQUEST)
        reply = module.invoke(method("UnaryCall"), request.SerializeToString())
        assert reply.compression == ("gzip" if compressed else None)
        answer = messages.SimpleResponse.FromString(reply.response)
        assert answer.payload.body == bytes(LARGE_RESPONSE)


def test_client_streaming(module: GuestModule, messages: Any) -> None:
    requests = []
    for size in REQUEST_SIZES:
        request = messages.StreamingInputCallRequest()
        request.payload.body = bytes(size)
        requests.append(request.SerializeToString())
    reply = module.invoke(method("StreamingInputCall"), iter(requests))
    answer = messages.StreamingInputCallResponse.FromString(reply.response)
    assert answer.aggregated_payload_size == sum(REQUEST_SIZES)


def test_client_compressed_streaming(module: GuestModule, messages: Any) -> None:
    expect = messages.StreamingInputCallRequest()
    expect.expect_compressed.value = True
    expect.payload.body = bytes(27182)
    plain = messages.StreamingInputCallRequest()
    plain.expect_compressed.value = False
    plain.payload.body = bytes(45904)
    # the probe: an uncompressed message that says it is compressed, and no end yet
    probe = Requests()
    probe.send(expect)
    with pytest.raises(GuestError) as refused:
        module.invoke(method("StreamingInputCall"), probe)
    assert refused.value.code == StatusCode.INVALID_ARGUMENT
    stream = [Compressed(expect.SerializeToString()), plain.SerializeToString()]
    reply = module.invoke(method("StreamingInputCall"), iter(stream))
    assert (
        messages.StreamingInputCallResponse.FromString(reply.response).aggregated_payload_size
        == 73086
    )


def test_server_streaming(module: GuestModule, messages: Any) -> None:
    request = messages.StreamingOutputCallRequest()
    for size in RESPONSE_SIZES:
        request.response_parameters.add(size=size)
    with module.stream(method("StreamingOutputCall"), request.SerializeToString()) as stream:
        assert payload_sizes(messages, list(stream)) == list(RESPONSE_SIZES)
        assert stream.compression is None


def test_server_compressed_streaming(module: GuestModule, messages: Any) -> None:
    request = messages.StreamingOutputCallRequest()
    request.response_parameters.add(size=31415).compressed.value = True
    request.response_parameters.add(size=92653).compressed.value = False
    with module.stream(method("StreamingOutputCall"), request.SerializeToString()) as stream:
        first, second, end = stream.read(), stream.read(), stream.read()
        assert stream.compression == "gzip"
    assert first is not None and second is not None and end is None
    assert payload_sizes(messages, [first[0], second[0]]) == [31415, 92653]
    assert (first[1], second[1]) == (False, True)  # the second is sent uncompressed


def test_ping_pong(module: GuestModule, messages: Any) -> None:
    requests = Requests()
    with module.stream(method("FullDuplexCall"), requests) as stream:
        for request_size, response_size in zip(REQUEST_SIZES, RESPONSE_SIZES, strict=True):
            request = messages.StreamingOutputCallRequest()
            request.response_parameters.add(size=response_size)
            request.payload.body = bytes(request_size)
            requests.send(request)
            assert payload_sizes(messages, [next(stream)]) == [response_size]
        requests.close()
        assert list(stream) == []


def test_empty_stream(module: GuestModule) -> None:
    with module.stream(method("FullDuplexCall"), iter(())) as stream:
        assert list(stream) == []


@pytest.mark.parametrize("message", ["test status message", SPECIAL_MESSAGE])
def test_status_code_and_message(module: GuestModule, messages: Any, message: str) -> None:
    """status_code_and_message, and special_status_message (its unary half)."""
    request = messages.SimpleRequest()
    request.response_status.code = 2
    request.response_status.message = message
    with pytest.raises(GuestError) as unary:
        module.invoke(method("UnaryCall"), request.SerializeToString())
    assert (unary.value.code, unary.value.status_message) == (StatusCode.UNKNOWN, message)

    streaming = messages.StreamingOutputCallRequest()
    streaming.response_status.code = 2
    streaming.response_status.message = message
    with (
        module.stream(method("FullDuplexCall"), iter([streaming.SerializeToString()])) as stream,
        pytest.raises(GuestError) as bidi,
    ):
        list(stream)
    assert (bidi.value.code, bidi.value.status_message) == (StatusCode.UNKNOWN, message)


def test_unimplemented_method(module: GuestModule) -> None:
    with pytest.raises(GuestError) as raised:
        module.invoke(method("UnimplementedCall"), b"")
    assert raised.value.code == StatusCode.UNIMPLEMENTED


def test_unimplemented_service(module: GuestModule) -> None:
    with pytest.raises(UnknownMethod):
        module.invoke("grpc.testing.UnimplementedService/UnimplementedCall", b"")


def test_custom_metadata(module: GuestModule, messages: Any) -> None:
    metadata = ((ECHO_INITIAL, INITIAL_VALUE), (ECHO_TRAILING, TRAILING_VALUE))
    request = messages.SimpleRequest(response_size=LARGE_RESPONSE)
    request.payload.body = bytes(LARGE_REQUEST)
    reply = module.invoke(method("UnaryCall"), request.SerializeToString(), metadata=metadata)
    assert messages.SimpleResponse.FromString(reply.response).payload.body == bytes(LARGE_RESPONSE)
    assert reply.headers == ((ECHO_INITIAL, INITIAL_VALUE),)
    assert reply.trailers == ((ECHO_TRAILING, TRAILING_VALUE),)

    streaming = messages.StreamingOutputCallRequest()
    streaming.response_parameters.add(size=LARGE_RESPONSE)
    streaming.payload.body = bytes(LARGE_REQUEST)
    requests = iter([streaming.SerializeToString()])
    with module.stream(method("FullDuplexCall"), requests, metadata=metadata) as stream:
        assert payload_sizes(messages, list(stream)) == [LARGE_RESPONSE]
        assert stream.headers() == ((ECHO_INITIAL, INITIAL_VALUE),)
        assert stream.trailers() == ((ECHO_TRAILING, TRAILING_VALUE),)


def test_timeout_on_sleeping_server(module: GuestModule, messages: Any) -> None:
    requests = Requests()
    request = messages.StreamingOutputCallRequest()
    request.payload.body = bytes(27182)
    requests.send(request)  # and nothing more: the guest waits for the next one
    try:
        with (
            module.stream(method("FullDuplexCall"), requests, timeout_s=0.05) as stream,
            pytest.raises(DeadlineExceeded),
        ):
            list(stream)
    finally:
        requests.close()  # lets the stream's feeder thread go


def test_cancel_after_begin(module: GuestModule) -> None:
    cancelled = threading.Event()

    def requests() -> Iterator[bytes]:
        # a client that has begun and sent nothing when it cancels
        cancelled.wait(10)
        yield b""

    threading.Timer(0.05, cancelled.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        module.invoke(method("StreamingInputCall"), requests(), cancelled=cancelled)
    assert time.monotonic() - started < 5


def test_cancel_after_first_response(module: GuestModule, messages: Any) -> None:
    requests = Requests()
    request = messages.StreamingOutputCallRequest()
    request.response_parameters.add(size=31415)
    request.payload.body = bytes(27182)
    try:
        with module.stream(method("FullDuplexCall"), requests) as stream:
            requests.send(request)
            assert payload_sizes(messages, [next(stream)]) == [31415]
            stream.cancel()
            with pytest.raises(Cancelled):
                next(stream)
    finally:
        requests.close()
    # the guest returned, and its instance serves the next call
    assert module.invoke(method("EmptyCall"), b"").response == b""
