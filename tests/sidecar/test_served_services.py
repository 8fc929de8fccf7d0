"""A guest serves the services it implements, not every service of its schema.

Go glue made for one service (`bridge init --service`) exports that service's methods
only, as Rust glue does; and the optional `bridge_served` export (docs/abi.md section
13) tells the host which exported services have a server registered. Before them,
health reported SERVING for a service the guest does not implement, and its methods
looked served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import bridge
from bridge.errors import AbiMismatch, UnknownMethod
from tests.sidecar.conftest import go_guest, serving
from tests.wat import wat_module

SCHEMA = """\
syntax = "proto3";
package two.v1;

message Word { string text = 1; }

service Kept { rpc Echo(Word) returns (Word); }
service Other { rpc Echo(Word) returns (Word); }
"""

ECHO = "\treturn req, nil\n"


def test_only_the_implemented_service_is_served_and_healthy(tmp_path: Path) -> None:
    module, _ = go_guest(tmp_path, SCHEMA, "two.v1.Kept", ECHO)
    with bridge.load(module) as loaded:
        assert loaded.methods == ("two.v1.Kept/Echo",)
        with pytest.raises(UnknownMethod, match="two.v1.Other/Echo"):
            loaded.call("two.v1.Other/Echo", b"")

    with (
        serving(str(module), "--no-watch", folder=tmp_path) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        health: Any = health_pb2_grpc.HealthStub(channel)
        kept = health.Check(health_pb2.HealthCheckRequest(service="two.v1.Kept"), timeout=30)
        assert kept.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="two.v1.Other"), timeout=30)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        other: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/two.v1.Other/Echo"
        )
        with pytest.raises(grpc.RpcError) as answer:
            other(b"", timeout=30)
        assert answer.value.code() == grpc.StatusCode.UNIMPLEMENTED


# A method export and a bridge_served export answering a range outside memory.
HOSTILE = """
  (func (export "a.v1.S/M") (param i32 i32) (result i64) (i64.const 0))
  (func (export "bridge_served") (result i64)
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 0x20000)))
"""
LISTED = """
  (data (i32.const 1024) "a.v1.S/M\\n")
  (func (export "a.v1.S/M") (param i32 i32) (result i64) (i64.const 0))
  (func (export "a.v1.S/N") (param i32 i32) (result i64) (i64.const 0))
  (func (export "bridge_served") (result i64)
    (i64.or (i64.shl (i64.const 9) (i64.const 32)) (i64.const 1024)))
"""


def test_a_bridge_served_answer_outside_memory_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(AbiMismatch, match="bridge_served .* outside the guest's memory"):
        bridge.load(wat_module(tmp_path, HOSTILE), bridge.RuntimeConfig(cache_dir=None))


def test_the_host_serves_what_bridge_served_lists(tmp_path: Path) -> None:
    with bridge.load(wat_module(tmp_path, LISTED), bridge.RuntimeConfig(cache_dir=None)) as guest:
        assert guest.methods == ("a.v1.S/M",)
        assert guest.call("a.v1.S/M", b"") == b""
