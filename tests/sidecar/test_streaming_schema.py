"""A schema that mixes unary and streaming RPCs is accepted: its unary RPCs migrate, and
its streaming ones answer UNIMPLEMENTED (guests do not serve them yet), instead of the
whole file being refused by every command."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

import bridge
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


def test_gen_accepts_it_and_says_what_guests_leave_out(tmp_path: Path) -> None:
    proto = tmp_path / "route.proto"
    proto.write_text(SCHEMA)
    ran = run("gen", str(proto), "--python-out", str(tmp_path / "py"),
              "--go-out", str(tmp_path / "go"), "--rust-out", str(tmp_path / "rs"))  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    for name in ("Watch", "Record", "Chat"):
        assert f"route.v1.Routes/{name} is a streaming RPC" in ran.stderr
    stubs = (tmp_path / "py" / "route_pb2_grpc.py").read_text()
    assert "def Watch(" in stubs and "def Chat(" in stubs  # Python's stubs have them all
    go = (tmp_path / "go" / "services.bridge.go").read_text()
    assert "//go:wasmexport route.v1.Routes/Mirror" in go
    assert "Watch" not in go


def test_its_unary_rpc_is_served_and_the_streaming_ones_are_unimplemented(
    tmp_path: Path,
) -> None:
    module, said = go_guest(tmp_path, SCHEMA, "route.v1.Routes", MIRROR)
    assert "route.v1.Routes/Watch is a streaming RPC" in said
    with bridge.load(module) as loaded:
        assert loaded.methods == ("route.v1.Routes/Mirror",)

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
        with pytest.raises(grpc.RpcError) as raised:
            list(watch(b"", timeout=30))
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
