"""Real Go and Rust guests calling back into Python host services (no schema: bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime.hostcalls import HostContext

RELAY = "test.v1.Hosted/Relay"


class Echo:
    """legacy.v1.Echo, in the shape of a grpcio servicer; the module has no schema, so
    requests and responses are bytes."""

    def Say(self, request: bytes, context: HostContext) -> bytes:  # noqa: N802 (grpc's names)
        return b"echo:" + request

    def Empty(self, request: bytes, context: HostContext) -> bytes:  # noqa: N802
        return b""

    def Missing(self, request: bytes, context: HostContext) -> bytes:  # noqa: N802
        context.abort(bridge.StatusCode.NOT_FOUND, "no sku " + request.decode())

    def Broken(self, request: bytes, context: HostContext) -> bytes:  # noqa: N802
        raise ValueError("legacy code fell over")

    def Big(self, request: bytes, context: HostContext) -> bytes:  # noqa: N802
        return bytes(range(256)) * 12_000


@pytest.fixture(scope="module")
def guest(hostcall_wasm: Path) -> bridge.GuestModule:
    return bridge.load(
        hostcall_wasm, RuntimeConfig(cache_dir=None), host={"legacy.v1.Echo": Echo()}
    )


def _relay(guest: bridge.GuestModule, method: str, payload: bytes) -> bytes:
    return guest.call(RELAY, method.encode() + b"\n" + payload)


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
        payload = b"x" * (i % 97)
        assert (
            guest.call("test.v1.Hosted/Twice", payload) == b"echo:" + payload + b"echo:" + payload
        )
