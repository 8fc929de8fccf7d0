"""The Go and the Rust guest of every kind of RPC, on the generated glue, called
in-process: the same checks on both, so that the two SDKs answer alike.

tests/guests/stream-go and tests/guests/stream-rust implement stream.v1.Numbers of one
schema (stream-go's proto/stream/v1/numbers.proto; tests/guests/conftest.py builds both).
Where the languages differ (an error's wording, the order of the metadata), the expected
value is the language's. The Rust guest's own unit tests, on in-memory streams, run from
tests/guests/test_stream_rust.py.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

import bridge
from bridge import abi
from bridge.config import RuntimeConfig
from bridge.errors import CallError, DeadlineExceeded, GuestError, StatusCode
from bridge.runtime.streams import Compressed
from bridge.schema.model import MethodKind
from tests.guests.conftest import (
    NUMBER_URL,
    AddRequest,
    Chat,
    CountRequest,
    InspectRequest,
    Number,
    Oracle,
    S,
    Total,
    inspect,
    number,
    values,
)

#: What the SDKs import for streams and the call context (docs/abi.md, sections 14, 15).
NEW_IMPORTS = {"stream_recv", "stream_send", "call_info", "deadline", "set_metadata"}
#: What each guest says of a request that does not decode, given the message's name.
UNDECODABLE = {"go": "malformed {}", "rust": "cannot decode request"}
#: The metadata Inspect reports: the Go guest sorts its map's keys, Rust keeps the order
#: it came in.
METADATA_SEEN = {
    "go": [("trace-bin", b"\x00\xff"), ("x-tenant", b"acme"), ("x-tenant", b"other")],
    "rust": [("x-tenant", b"acme"), ("trace-bin", b"\x00\xff"), ("x-tenant", b"other")],
}


@pytest.fixture(scope="module", params=["go", "rust"], ids=["go", "rust"])
def lang(request: pytest.FixtureRequest) -> str:
    """Each guest in turn: the Go one, then the Rust one."""
    return str(request.param)


@pytest.fixture(scope="module")
def stream_wasm(lang: str, request: pytest.FixtureRequest) -> Path:
    """The guest of `lang`, built once (tests/guests/conftest.py)."""
    return request.getfixturevalue(f"stream_{lang}_wasm")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cache(lang: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compile cache of this guest's loads (it compiles once)."""
    return tmp_path_factory.mktemp(f"stream-{lang}-cache")


@pytest.fixture(scope="module")
def guest(stream_wasm: Path, cache: Path) -> Iterator[bridge.GuestModule]:
    """One instance at most, so that each call finds what the previous one left."""
    config = RuntimeConfig(cache_dir=cache, pool_size=1, call_timeout_s=30)
    with bridge.load(stream_wasm, config, host={"stream.v1.Oracle": Oracle()}) as module:
        yield module


# ---- the module ----


def imports(module: Path) -> set[str]:
    """The names the module imports from `bridge`."""
    compiled = wasmtime.Module.from_file(wasmtime.Engine(), str(module))
    return {i.name for i in compiled.imports if i.module == abi.HOST_MODULE and i.name}


def test_only_a_guest_that_streams_imports_the_stream_functions(
    stream_wasm: Path, lang: str, request: pytest.FixtureRequest
) -> None:
    """The linker keeps an import only when the guest uses it: a unary guest is the ABI
    v1 module it always was."""
    assert imports(stream_wasm) >= NEW_IMPORTS | {"set_compression", "host_call"}
    assert imports(request.getfixturevalue(f"{lang}_pricing_wasm")) == set()


# ---- kinds ----


def test_every_kind_is_served(guest: bridge.GuestModule) -> None:
    assert set(guest.methods) == {S + m for m in ("Add", "Count", "Sum", "Echo", "Inspect")}
    assert guest.kind(S + "Add") is MethodKind.UNARY
    assert guest.kind(S + "Count") is MethodKind.SERVER_STREAMING
    assert guest.kind(S + "Sum") is MethodKind.CLIENT_STREAMING
    assert guest.kind(S + "Echo") is MethodKind.BIDI_STREAMING
    assert guest.kind(S + "Inspect") is MethodKind.UNARY


def test_unary(guest: bridge.GuestModule) -> None:
    answer = guest.call(S + "Add", AddRequest(a=40, b=2).SerializeToString())
    assert Number.FromString(answer).value == 42
    assert Number.FromString(guest.invoke(S + "Add", b"").response).value == 0
    with pytest.raises(CallError, match="server-streaming"):
        guest.call(S + "Count", b"")


# ---- server-streaming ----


def test_server_streaming(guest: bridge.GuestModule) -> None:
    request = CountRequest(**{"from": 5, "to": 205}).SerializeToString()
    with guest.stream(S + "Count", request) as responses:
        assert values(responses) == list(range(5, 205))
    # An empty stream, and the instance is ready for the next call.
    assert values(guest.stream(S + "Count", b"")) == []


def test_server_streaming_request_that_does_not_decode(
    guest: bridge.GuestModule, lang: str
) -> None:
    with pytest.raises(
        GuestError, match=UNDECODABLE[lang].format("stream.v1.CountRequest")
    ) as raised:
        list(guest.stream(S + "Count", b"\x0a\x05"))
    assert raised.value.code is StatusCode.INVALID_ARGUMENT


def test_server_streaming_headers_and_trailers(guest: bridge.GuestModule) -> None:
    request = CountRequest(**{"from": 1, "to": 4, "headers": True}).SerializeToString()
    responses = guest.stream(S + "Count", request)
    assert responses.headers() == (("x-count-from", "1"),)
    assert values(responses) == [1, 2, 3]
    # A header after the first message is refused; trailers go until the end.
    assert responses.trailers() == (("x-late-header", "refused"), ("x-sent", "3"))


def test_server_streaming_error_after_messages(guest: bridge.GuestModule) -> None:
    request = CountRequest(**{"from": 0, "to": 10, "fail_after": 3}).SerializeToString()
    got = []
    with pytest.raises(GuestError) as raised:
        for message in guest.stream(S + "Count", request):
            got.append(message)
    assert values(got) == [0, 1, 2]  # the messages first, then the error
    assert raised.value.code is StatusCode.ABORTED
    assert "failed after 3 messages" in str(raised.value)
    [detail] = raised.value.details  # the type URL of the message's full name
    assert detail.type_url == NUMBER_URL and Number.FromString(detail.value).value == 42
    assert raised.value.status.code == StatusCode.ABORTED.value


def test_server_streaming_compression(guest: bridge.GuestModule) -> None:
    request = CountRequest(**{"from": 0, "to": 4, "compress": True}).SerializeToString()
    responses = guest.stream(S + "Count", request)
    responses.headers()
    assert responses.compression == "gzip"
    read = [responses.read() for _ in range(5)]
    assert read[4] is None
    assert [(Number.FromString(m).value, flag) for m, flag in read[:4]] == [  # type: ignore[misc]
        (0, False),
        (1, True),  # every other one sent uncompressed
        (2, False),
        (3, True),
    ]


def test_a_cancelled_stream_tells_the_guest(guest: bridge.GuestModule) -> None:
    request = CountRequest(**{"from": 0, "to": 10**12}).SerializeToString()
    before, _ = inspect(guest)
    with guest.stream(S + "Count", request) as responses:
        assert values(next(responses) for _ in range(5)) == [0, 1, 2, 3, 4]
    # close() cancelled it: the guest's next send said so, it returned, and its one
    # instance serves the next call.
    after, _ = inspect(guest)
    assert after.closed == before.closed + 1


def test_a_slow_consumer_holds_the_guest_back_until_the_deadline(
    guest: bridge.GuestModule,
) -> None:
    request = CountRequest(**{"from": 0, "to": 10**12}).SerializeToString()
    responses = guest.stream(S + "Count", request, timeout_s=0.5)
    time.sleep(1.0)
    got = []
    with pytest.raises(DeadlineExceeded):
        for message in responses:
            got.append(message)
    # The window held the guest back: it ran no further ahead than 64 messages.
    assert len(got) <= abi.STREAM_WINDOW_MESSAGES + 1
    assert values(got) == list(range(len(got)))
    after, _ = inspect(guest)
    assert after.closed >= 1


# ---- client-streaming ----


def test_client_streaming(guest: bridge.GuestModule) -> None:
    reply = guest.invoke(S + "Sum", (number(n) for n in range(1, 101)))
    total = Total.FromString(reply.response)
    assert (total.sum, total.count, total.compressed) == (5050, 100, 0)
    # No requests at all, and requests flagged as compressed (a sidecar's).
    assert Total.FromString(guest.invoke(S + "Sum", iter(())).response) == Total()
    flagged = [Compressed(number(2)), number(3), Compressed(b"")]
    total = Total.FromString(guest.invoke(S + "Sum", flagged).response)
    assert (total.sum, total.count, total.compressed) == (5, 3, 2)


def test_client_streaming_error(guest: bridge.GuestModule, lang: str) -> None:
    with pytest.raises(GuestError, match="negative number -1") as raised:
        guest.invoke(S + "Sum", [number(1), number(-1), number(2)])
    assert raised.value.code is StatusCode.INVALID_ARGUMENT
    # A request that does not decode: the stream gives INVALID_ARGUMENT.
    with pytest.raises(GuestError, match=UNDECODABLE[lang].format("stream.v1.Number")) as raised:
        guest.invoke(S + "Sum", [number(1), b"\x0a\x05"])
    assert raised.value.code is StatusCode.INVALID_ARGUMENT


def test_client_streaming_cancelled(guest: bridge.GuestModule) -> None:
    before, _ = inspect(guest)
    cancelled = threading.Event()

    def requests() -> Iterator[bytes]:
        yield number(1)
        cancelled.set()  # the caller went away
        yield number(2)

    with pytest.raises(CallError):
        guest.invoke(S + "Sum", requests(), cancelled=cancelled)
    after, _ = inspect(guest)
    assert after.closed == before.closed + 1


# ---- bidirectional ----


def test_bidi_ping_pong(guest: bridge.GuestModule) -> None:
    requests: queue.Queue[bytes | None] = queue.Queue()

    def pull() -> Iterator[bytes]:
        while (item := requests.get(timeout=30)) is not None:
            yield item

    with guest.stream(S + "Echo", pull()) as responses:
        for word in ("ping", "pong", "", "uncompressed"):
            requests.put(Chat(text=word, uncompressed=word == "uncompressed").SerializeToString())
            read = responses.read()
            assert read is not None
            message, uncompressed = read
            assert Chat.FromString(message).text == word.upper()  # one answer per request
            assert uncompressed is (word == "uncompressed")
        requests.put(None)
        assert responses.read() is None


def test_bidi_error(guest: bridge.GuestModule) -> None:
    chats = [Chat(text=t).SerializeToString() for t in ("a", "b", "fail", "never")]
    got = []
    with pytest.raises(GuestError, match="asked to fail") as raised:
        for message in guest.stream(S + "Echo", chats):
            got.append(Chat.FromString(message).text)
    assert got == ["A", "B"]
    assert raised.value.code is StatusCode.FAILED_PRECONDITION


def test_bidi_deadline_while_waiting_for_requests(guest: bridge.GuestModule) -> None:
    """The guest waits in recv for a request that never comes: the deadline wakes it."""
    never = threading.Event()

    def stalled() -> Iterator[bytes]:
        yield Chat(text="one").SerializeToString()
        never.wait(30)

    before, _ = inspect(guest)
    got = []
    with pytest.raises(DeadlineExceeded):
        for message in guest.stream(S + "Echo", stalled(), timeout_s=0.5):
            got.append(Chat.FromString(message).text)
    never.set()
    assert got == ["ONE"]
    after, _ = inspect(guest)
    assert after.closed == before.closed + 1


# ---- the call's context ----


def test_metadata_in_and_out(guest: bridge.GuestModule, lang: str) -> None:
    metadata = [("x-tenant", "acme"), ("trace-bin", b"\x00\xff"), ("x-tenant", "other")]
    reply, answer = inspect(guest, metadata=metadata)
    assert [(e.key, e.value) for e in reply.metadata] == METADATA_SEEN[lang]
    assert list(reply.refused) == ["bad key", "grpc- key", "non-ASCII text", "deflate"]
    assert answer.headers == (("x-inspected", "yes"),)
    assert answer.trailers == (("x-keys", "2"), ("x-raw-bin", b"\x00\x01\xff"))
    assert answer.compression is None
    assert not reply.request_compressed


def test_the_context_is_the_calls_own(guest: bridge.GuestModule) -> None:
    """The SDK reads the metadata once per call: the next call on the same instance
    does not see the previous call's."""
    first, _ = inspect(guest, metadata=[("x-first", "1")])
    second, _ = inspect(guest)
    third, _ = inspect(guest, metadata=[("x-third", "3")])
    assert [e.key for e in first.metadata] == ["x-first"]
    assert list(second.metadata) == []
    assert [e.key for e in third.metadata] == ["x-third"]
    # Streaming calls start afresh too.
    assert values(guest.stream(S + "Count", CountRequest(to=2).SerializeToString())) == [0, 1]
    fourth, _ = inspect(guest)
    assert list(fourth.metadata) == []


def test_deadline(guest: bridge.GuestModule, stream_wasm: Path, cache: Path) -> None:
    reply, _ = inspect(guest, timeout_s=5)
    assert reply.has_deadline and 0 < reply.deadline_ms <= 5000
    with bridge.load(stream_wasm, RuntimeConfig(cache_dir=cache, call_timeout_s=None)) as free:
        reply, _ = inspect(free)
    assert not reply.has_deadline


def test_compression_and_compressed_requests(guest: bridge.GuestModule) -> None:
    reply, answer = inspect(guest, request=InspectRequest(compress=True).SerializeToString())
    assert answer.compression == "gzip"
    reply, answer = inspect(guest, request=Compressed(b""))
    assert reply.request_compressed and answer.compression is None


def test_status_details_and_trailers_of_an_error(guest: bridge.GuestModule) -> None:
    request = InspectRequest(fail_code=StatusCode.FAILED_PRECONDITION.value).SerializeToString()
    with pytest.raises(GuestError, match="asked to fail") as raised:
        guest.invoke(S + "Inspect", request)
    error = raised.value
    assert error.code is StatusCode.FAILED_PRECONDITION
    [detail] = error.details
    assert detail.type_url == NUMBER_URL and Number.FromString(detail.value).value == 42
    assert list(error.status.details) == [detail]
    # Set before it failed, its headers and trailers come with the error.
    assert ("x-keys", "0") in error.trailers
    assert ("x-inspected", "yes") in error.headers + error.trailers


def test_a_host_status_reaches_the_guest_with_its_details(guest: bridge.GuestModule) -> None:
    request = InspectRequest(ask_host=True).SerializeToString()
    with pytest.raises(GuestError, match="ask later") as raised:
        guest.invoke(S + "Inspect", request)
    assert raised.value.code is StatusCode.ABORTED
    [detail] = raised.value.details
    assert detail.type_url == NUMBER_URL and Number.FromString(detail.value).value == 42
