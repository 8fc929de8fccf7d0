"""A schema that mixes unary and streaming RPCs is accepted by every command, and a Go
guest made from it by `bridge init` serves every kind: the methods it has not written
yet answer UNIMPLEMENTED through the sidecar, whatever their kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

import bridge
from bridge.schema.model import MethodKind
from tests.cli.conftest import run
from tests.sidecar.conftest import go_guest, serving

SCHEMA = """\
syntax = "proto3";
package route.v1;

message Point { int64 x = 1; int64 y = 2; }

service Routes {
  rpc Mirror(Point) returns (Point);
  rpc Watch(Point) returns (stream Point);
  rpc Record(stream Point) returns (Point);
  rpc Chat(stream Point) returns (stream Point);
}
"""

MIRROR = """\
	return &bridgegen.Point{X: req.Y, Y: req.X}, nil
"""


def test_gen_accepts_it(tmp_path: Path) -> None:
    proto = tmp_path / "route.proto"
    proto.write_text(SCHEMA)
    ran = run("gen", str(proto), "--python-out", str(tmp_path / "py"),
              "--go-out", str(tmp_path / "go"))  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    stubs = (tmp_path / "py" / "route_pb2_grpc.py").read_text()
    assert "def Watch(" in stubs and "def Chat(" in stubs  # Python's stubs have them all
    go = (tmp_path / "go" / "services.bridge.go").read_text()
    for name in ("Mirror", "Watch", "Record", "Chat"):
        assert f"//go:wasmexport route.v1.Routes/{name}" in go


def test_its_unary_rpc_is_served_and_the_unwritten_ones_are_unimplemented(
    tmp_path: Path,
) -> None:
    module, _ = go_guest(tmp_path, SCHEMA, "route.v1.Routes", MIRROR)
    with bridge.load(module) as loaded:
        assert loaded.kind("route.v1.Routes/Watch") == MethodKind.SERVER_STREAMING
        assert loaded.kind("route.v1.Routes/Record") == MethodKind.CLIENT_STREAMING
        assert loaded.kind("route.v1.Routes/Chat") == MethodKind.BIDI_STREAMING

    with (
        serving(str(module), "--no-watch", folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        mirror: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/route.v1.Routes/Mirror"
        )
        assert mirror(b"\x08\x01\x10\x02", timeout=30) == b"\x08\x02\x10\x01"  # x=1, y=2
        watch: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            "/route.v1.Routes/Watch"
        )
        record: grpc.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(
            "/route.v1.Routes/Record"
        )
        chat: grpc.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(
            "/route.v1.Routes/Chat"
        )
        calls: list[Callable[[], object]] = [
            lambda: list(watch(b"", timeout=30)),
            lambda: record(iter([b""]), timeout=30),
            lambda: list(chat(iter([b""]), timeout=30)),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "is not implemented yet" in (raised.value.details() or "")
