"""Go glue for gRPC's official interop schema (grpc/testing/test.proto, unmodified).

test.proto mixes all four kinds of RPC in TestService beside five more services. Its
glue must go through `go vet` and build for wasip1 into a module that exports what the
schema says: every method of every service without `services`, TestService's alone with
it (`bridge gen --service`, `bridge init`), and that imports the stream functions of
docs/abi.md section 14 once a method uses them.

The protos come from the test-client cache (scripts/install_test_clients.py takes them
from grpc-java's interop jar into build/tools/interop/proto); BRIDGE_INTEROP_PROTO names
another directory holding grpc/testing/*.proto.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import wasmtime

from bridge.codegen.base import write_files
from bridge.codegen.go import emit
from bridge.guest import toolchain
from bridge.guest.build import SCHEMA_FILE, build
from bridge.schema.model import MethodKind, Schema
from tests.conftest import ROOT

PROTO_DIR = Path(
    os.environ.get("BRIDGE_INTEROP_PROTO") or ROOT / "build" / "tools" / "interop" / "proto"
)
TEST_PROTO = PROTO_DIR / "grpc" / "testing" / "test.proto"
SERVICE = "grpc.testing.TestService"

pytestmark = pytest.mark.skipif(
    not TEST_PROTO.is_file(),
    reason=f"the interop protos are not at {PROTO_DIR} (scripts/install_test_clients.py puts "
    "them there; BRIDGE_INTEROP_PROTO names another directory with grpc/testing/*.proto)",
)

#: The interop tests' TestService guest: its streaming methods use their streams, so
#: the module imports the stream functions.
HOST = ROOT / "tests" / "interop" / "testservice-go"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.compile([TEST_PROTO], [PROTO_DIR])


def _project(folder: Path, schema: Schema, services: list[str] | None) -> Path:
    shutil.copytree(HOST, folder, ignore=shutil.ignore_patterns("bridgegen"))
    go_mod = folder / "go.mod"
    go_mod.write_text(go_mod.read_text().replace("../../../guest-go", str(ROOT / "guest-go")))
    write_files(emit(schema, services=services), folder / "bridgegen")
    (folder / "bridgegen" / SCHEMA_FILE).write_bytes(schema.descriptor_set)
    return folder


def _bridge_imports_and_exports(wasm: Path) -> tuple[set[str], set[str]]:
    module = wasmtime.Module.from_file(wasmtime.Engine(), str(wasm))
    imports = {i.name or "" for i in module.imports if i.module == "bridge"}
    return imports, {e.name for e in module.exports}


def test_the_schema_has_every_kind(schema: Schema) -> None:
    kinds = {m.name: m.kind for m in schema.services[SERVICE].all_methods}
    assert kinds["UnaryCall"] is MethodKind.UNARY
    assert kinds["StreamingOutputCall"] is MethodKind.SERVER_STREAMING
    assert kinds["StreamingInputCall"] is MethodKind.CLIENT_STREAMING
    assert kinds["FullDuplexCall"] is kinds["HalfDuplexCall"] is MethodKind.BIDI_STREAMING


@pytest.mark.parametrize("services", [None, [SERVICE]], ids=["every-service", "test-service"])
def test_glue_vets_and_builds(schema: Schema, services: list[str] | None, tmp_path: Path) -> None:
    go = toolchain.find_go()
    if go is None:
        pytest.skip("needs Go (scripts/bootstrap installs it)")
    project = _project(tmp_path / "project", schema, services)
    env = {**go.env(), "GOOS": "wasip1", "GOARCH": "wasm", "GOTOOLCHAIN": "local"}
    vet = subprocess.run(
        [str(go.path), "vet", "./..."], cwd=project, env=env, capture_output=True, text=True
    )
    assert vet.returncode == 0, vet.stderr
    gofmt = Path(go.path).with_name("gofmt")
    if gofmt.exists():
        unformatted = subprocess.run(
            [str(gofmt), "-l", str(project / "bridgegen")], capture_output=True, text=True
        )
        assert unformatted.stdout == "", unformatted.stdout

    wasm = build(project, tmp_path / "interop.wasm").output
    imports, exports = _bridge_imports_and_exports(wasm)
    assert {"stream_recv", "stream_send", "host_result"} <= imports
    test_service = {f"{SERVICE}/{m.name}" for m in schema.services[SERVICE].all_methods}
    assert test_service <= exports and "bridge_served" in exports
    methods = {e for e in exports if "/" in e}
    if services is None:
        every = {m.full_name for s in schema.target_services() for m in s.all_methods}
        assert methods == every and len(every) > len(test_service)
    else:
        assert methods == test_service
    shutil.rmtree(project)
