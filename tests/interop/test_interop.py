"""gRPC's own interop test cases against `bridge serve`.

The guest (tests/interop/testservice-go) implements grpc.testing.TestService from the
official, unmodified test.proto, messages.proto and empty.proto, its glue written by
`bridge gen`; `bridge serve` serves it over loopback TCP and a unix socket; and gRPC's
official interop clients run each case against it: grpc-go's (the Go module proxy) and
grpc-java's (Maven Central), both installed by scripts/install_test_clients.py. Every
case a client implements must pass. The cases a client does not implement, and the
transports it cannot dial, are listed below with the client's own words, which each
run checks again before it skips.
"""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bridge.abi import DEFAULT_MAX_MESSAGE_BYTES
from tests.interop.conftest import Done, run_client, server_flags
from tests.sidecar.conftest import Served

#: The cases of the issue (docs/deploy.md, "Streaming, metadata and compression").
CASES = (
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "custom_metadata",
    "timeout_on_sleeping_server",
    "cancel_after_begin",
    "cancel_after_first_response",
)

#: grpc-go's interop client (v1.85.0) has no compressed cases; it says, e.g.:
#: `FATAL: [interop] Unsupported test case:  client_compressed_unary`.
GO_LACKS = {
    "client_compressed_unary",
    "server_compressed_unary",
    "client_compressed_streaming",
    "server_compressed_streaming",
}
GO_LACKS_WORDS = "Unsupported test case: "

#: grpc-java's interop client (1.70.0) builds its channel with NettyChannelBuilder, which
#: takes no unix socket target; it fails before any call with:
JAVA_NO_UNIX_WORDS = "Address types of NameResolver 'unix' for 'unix://"
JAVA_NO_UNIX_MORE = "not supported by transport"


def check(done: Done, client: str, case: str, served: Served) -> None:
    assert done.returncode == 0, (
        f"{client} failed {case} over {served.handshake.network}:\n"
        f"{done.stdout}\n{done.stderr}\nbridge serve said:\n{served.stderr()[-3000:]}"
    )


@pytest.mark.parametrize("case", CASES)
def test_grpc_go_client(case: str, go_client: list[str], sidecar: Served) -> None:
    done = run_client([*go_client, *server_flags(sidecar), f"--test_case={case}"])
    if case in GO_LACKS:
        said = done.stdout + done.stderr
        assert done.returncode != 0 and GO_LACKS_WORDS in said and case in said, said
        words = said[said.index(GO_LACKS_WORDS) :].strip()
        pytest.skip(f"grpc-go's interop client does not implement {case}: {words}")
    check(done, "grpc-go's interop client", case, sidecar)


@pytest.mark.parametrize("case", CASES)
def test_grpc_java_client(case: str, java_client: list[str], sidecar: Served) -> None:
    if sidecar.handshake.network == "unix":
        # test_grpc_java_client_cannot_dial_a_unix_socket runs it once to show why
        pytest.skip(
            "grpc-java's interop client cannot dial a unix socket: "
            f"{JAVA_NO_UNIX_WORDS}...' {JAVA_NO_UNIX_MORE}"
        )
    done = run_client([*java_client, *server_flags(sidecar), f"--test_case={case}"])
    check(done, "grpc-java's interop client", case, sidecar)


def test_grpc_java_client_cannot_dial_a_unix_socket(
    java_client: list[str], sidecar: Served
) -> None:
    if sidecar.handshake.network != "unix":
        pytest.skip("about unix sockets")
    done = run_client([*java_client, *server_flags(sidecar), "--test_case=empty_unary"])
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert JAVA_NO_UNIX_WORDS in said and JAVA_NO_UNIX_MORE in said, said


# --- compression on the wire ------------------------------------------------------------


class CountingProxy:
    """A TCP relay in front of the sidecar that counts the bytes it sends the client: a
    compressed response of 314,159 zero bytes is a few hundred bytes on the wire."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.to_client = 0
        self.to_server = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    if upward:
                        self.to_server += len(data)
                    else:
                        self.to_client += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def reset(self) -> None:
        with self._lock:
            self.to_client = self.to_server = 0

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(sidecar: Served) -> Iterator[CountingProxy]:
    if sidecar.handshake.network != "tcp":
        pytest.skip("the counting proxy relays TCP")
    relay = CountingProxy(sidecar.handshake.address)
    yield relay
    relay.close()


LARGE = 314159


def test_responses_are_gzip_compressed_on_the_wire_when_the_guest_asks(
    proxy: CountingProxy, messages: Any
) -> None:
    with grpc.insecure_channel(proxy.address) as channel:
        unary: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/grpc.testing.TestService/UnaryCall"
        )
        for compressed in (True, False):
            request = messages.SimpleRequest(response_size=LARGE)
            request.response_compressed.value = compressed
            proxy.reset()
            answer = messages.SimpleResponse.FromString(
                unary(request.SerializeToString(), timeout=30)
            )
            assert answer.payload.body == bytes(LARGE)
            if compressed:
                assert proxy.to_client < 20_000, proxy.to_client
            else:
                assert proxy.to_client > LARGE, proxy.to_client

        # a server stream: the first response compressed, the second sent uncompressed
        streaming: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            "/grpc.testing.TestService/StreamingOutputCall"
        )
        request = messages.StreamingOutputCallRequest()
        first = request.response_parameters.add(size=LARGE)
        first.compressed.value = True
        request.response_parameters.add(size=LARGE).compressed.value = False
        proxy.reset()
        answers = list(streaming(request.SerializeToString(), timeout=30))
        sizes = [
            len(messages.StreamingOutputCallResponse.FromString(a).payload.body) for a in answers
        ]
        assert sizes == [LARGE, LARGE]
        assert LARGE < proxy.to_client < LARGE + 20_000, proxy.to_client


def test_the_guest_is_told_whether_a_request_came_compressed(
    sidecar: Served, messages: Any
) -> None:
    """expect_compressed: the guest answers INVALID_ARGUMENT unless the request came
    as the client says; a client that compresses a request makes the guest see it so."""
    with grpc.insecure_channel(sidecar.target) as channel:
        unary: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/grpc.testing.TestService/UnaryCall"
        )
        request = messages.SimpleRequest(response_size=1)
        request.expect_compressed.value = True
        # compressible: gRPC sends a message that gzip makes no smaller as it is
        request.payload.body = bytes(1000)
        body = request.SerializeToString()
        with pytest.raises(grpc.RpcError) as refused:
            unary(body, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert unary(body, timeout=30, compression=grpc.Compression.Gzip)


def test_a_request_that_inflates_past_the_message_limit_is_refused(
    sidecar: Served, messages: Any
) -> None:
    """A small gzip request may decompress into a huge one: the sidecar stops at the
    message limit and answers RESOURCE_EXHAUSTED. (The sidecar knows a gzip message by
    its first bytes, so a client need not even flag it compressed.)"""
    bomb = gzip.compress(bytes(DEFAULT_MAX_MESSAGE_BYTES + 1), compresslevel=1)
    assert len(bomb) < 1 << 20
    with grpc.insecure_channel(sidecar.target) as channel:
        unary: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/grpc.testing.TestService/UnaryCall"
        )
        with pytest.raises(grpc.RpcError) as refused:
            unary(bomb, timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "message limit" in (refused.value.details() or "")
        with pytest.raises(grpc.RpcError) as corrupt:
            unary(bomb[:1000], timeout=30)
        assert corrupt.value.code() == grpc.StatusCode.INTERNAL
        # A health check compressed by its client is answered too (grpcio's own
        # decompression is off in the sidecar).
        health: Any = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="grpc.testing.TestService")
        answer = health.Check(request, timeout=10, compression=grpc.Compression.Gzip)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
