"""bridge/options.proto: the host marker, and the hand-built options_pb2 that matches it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from bridge import options_pb2
from bridge.schema import Schema
from bridge.schema.compile import bridge_include, compile_protos
from tests.cli.conftest import assert_one_line_error, run
from tests.conftest import ROOT

SHOP = ROOT / "proto" / "examples" / "shop" / "v1" / "shop.proto"
PROTO_ROOT = ROOT / "proto" / "examples"


def test_options_pb2_matches_the_proto() -> None:
    source = bridge_include() / "bridge" / "options.proto"
    compiled = descriptor_pb2.FileDescriptorSet.FromString(
        compile_protos([source], [bridge_include()])
    )
    [options] = [f for f in compiled.file if f.name == "bridge/options.proto"]
    options.ClearField("source_code_info")
    assert options == options_pb2.FILE


def test_the_marker_splits_guest_and_host_services() -> None:
    schema = Schema.compile([SHOP], [PROTO_ROOT])
    assert [s.full_name for s in schema.target_services()] == ["shop.v1.Checkout"]
    assert [s.full_name for s in schema.host_services()] == ["shop.v1.Inventory"]
    assert schema.services["shop.v1.Inventory"].host


def test_python_stubs_of_a_marked_schema_import(tmp_path: Path) -> None:
    ran = run("gen", str(SHOP), "-I", str(PROTO_ROOT), "--python-out", str(tmp_path))
    assert ran.exit_code == 0, ran.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        shop_pb2 = importlib.import_module("shop.v1.shop_pb2")
        options = shop_pb2.DESCRIPTOR.services_by_name["Inventory"].GetOptions()
        assert options.Extensions[options_pb2.host] is True
        assert importlib.import_module("shop.v1.shop_pb2_grpc").InventoryServicer
    finally:
        sys.path.remove(str(tmp_path))


def test_init_refuses_a_host_service(tmp_path: Path) -> None:
    ran = run(
        "init",
        "go",
        str(SHOP),
        "-I",
        str(PROTO_ROOT),
        "--service",
        "shop.v1.Inventory",
        "--dir",
        str(tmp_path / "p"),
    )
    assert_one_line_error(ran, "shop.v1.Inventory is a host service", "InventoryClient")
