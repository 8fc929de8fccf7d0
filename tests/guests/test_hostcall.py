"""Real Go and Rust guests calling back into Python host services.

The guests carry the schema of tests/guests/hostcall-go/legacy.proto (bridge-schema.binpb
in each guest project), so host methods get `legacy.v1.Blob` messages; the guests relay
payloads as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime.hostcalls import HostContext
from bridge.schema.compile import compile_protos
from bridge.schema.messages import MessageTypes
from bridge.schema.model import Schema
from tests.conftest import ROOT

RELAY = "test.v1.Hosted/Relay"
GUESTS = ROOT / "tests" / "guests"
Blob: Any = MessageTypes(
    Schema.from_descriptor_set((GUESTS / "hostcall-go" / "bridge-schema.binpb").read_bytes())
).message_class("legacy.v1.Blob")


def blob(data: bytes) -> bytes:
    return bytes(Blob(data=data).SerializeToString())


class Echo:
    """legacy.v1.Echo, in the shape of a grpcio servicer."""

    def Say(self, request: Any, context: HostContext) -> Any:  # noqa: N802 (grpc's names)
        return Blob(data=b"echo:" + request.data)

    def Empty(self, request: Any, context: HostContext) -> bytes:  # noqa: N802
        return b""

    def Missing(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        context.abort(bridge.StatusCode.NOT_FOUND, "no sku " + request.data.decode())

    def Broken(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        raise ValueError("legacy code fell over")

    def Big(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        return Blob(data=bytes(range(256)) * 12_000)


def test_the_guests_schema_is_compiled_from_legacy_proto() -> None:
    """bridge-schema.binpb is legacy.proto's compile: refresh both copies after an edit with
    compile_protos([tests/guests/hostcall-go/legacy.proto])."""
    wanted = descriptor_pb2.FileDescriptorSet.FromString(
        compile_protos([GUESTS / "hostcall-go" / "legacy.proto"])
    )
    for guest in ("hostcall-go", "hostcall-rust"):
        found = (GUESTS / guest / "bridge-schema.binpb").read_bytes()
        assert descriptor_pb2.FileDescriptorSet.FromString(found) == wanted, guest


@pytest.fixture(scope="module")
def guest(hostcall_wasm: Path) -> Iterator[bridge.GuestModule]:
    with bridge.load(
        hostcall_wasm, RuntimeConfig(cache_dir=None), host={"legacy.v1.Echo": Echo()}
    ) as module:
        yield module


def _relay(guest: bridge.GuestModule, method: str, payload: bytes) -> bytes:
    """The data of the host's Blob, relayed by the guest from `method` given `payload`."""
    answer = guest.call(RELAY, method.encode() + b"\n" + blob(payload))
    return bytes(Blob.FromString(answer).data)


def test_responses(guest: bridge.GuestModule) -> None:
    assert _relay(guest, "legacy.v1.Echo/Say", b"hi") == b"echo:hi"
    assert _relay(guest, "legacy.v1.Echo/Say", b"") == b"echo:"
    assert _relay(guest, "legacy.v1.Echo/Empty", b"x") == b""
    assert _relay(guest, "legacy.v1.Echo/Big", b"") == bytes(range(256)) * 12_000


@pytest.mark.parametrize(
    ("method", "code", "message"),
    [
        ("legacy.v1.Echo/Missing", bridge.StatusCode.NOT_FOUND, "no sku 42"),
        (
            "legacy.v1.Echo/Broken",
            bridge.StatusCode.INTERNAL,
            "legacy.v1.Echo/Broken: ValueError: legacy code fell over",
        ),
        (
            "legacy.v1.Nope/Never",
            bridge.StatusCode.UNIMPLEMENTED,
            "the host does not implement legacy.v1.Nope/Never",
        ),
    ],
)
def test_host_errors_reach_the_caller_with_their_code(
    guest: bridge.GuestModule, method: str, code: bridge.StatusCode, message: str
) -> None:
    with pytest.raises(bridge.GuestError) as info:
        _relay(guest, method, b"42")
    assert info.value.code is code
    assert info.value.status_message == message
    assert _relay(guest, "legacy.v1.Echo/Say", b"after") == b"echo:after"


def test_two_host_calls_in_one_export_many_times(guest: bridge.GuestModule) -> None:
    for i in range(300):
        payload = blob(b"x" * (i % 97))
        echoed = blob(b"echo:" + b"x" * (i % 97))
        assert guest.call("test.v1.Hosted/Twice", payload) == echoed + echoed
