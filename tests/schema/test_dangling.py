"""A broken embedded schema (a type or an import that is not in the set) is a one-line
LoadError naming the module in `bridge call`, `bridge inspect` and `bridge serve`, never
an internal error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from bridge.errors import InvalidModule, LoadError
from bridge.schema.compile import compile_protos
from bridge.schema.embed import embed, embedded_schema, read_section
from tests.cli.conftest import assert_one_line_error, run

ECHO = "faulty.v1.Faulty/Echo"
PROTO = """syntax = "proto3";
package faulty.v1;
message Part { string name = 1; }
message Blob { string text = 1; Part part = 2; }
service Faulty { rpc Echo(Blob) returns (Blob); }
"""

Damage = Callable[[descriptor_pb2.FileDescriptorProto], None]


def _method_input(file: descriptor_pb2.FileDescriptorProto) -> None:
    file.service[0].method[0].input_type = ".faulty.v1.Missing"


def _method_output(file: descriptor_pb2.FileDescriptorProto) -> None:
    file.service[0].method[0].output_type = ".other.v1.Gone"


def _field_type(file: descriptor_pb2.FileDescriptorProto) -> None:
    blob = next(m for m in file.message_type if m.name == "Blob")
    blob.field[1].type_name = ".faulty.v1.Vanished"


def _import(file: descriptor_pb2.FileDescriptorProto) -> None:
    file.dependency.append("nowhere/missing.proto")


DAMAGES: dict[str, tuple[Damage, str]] = {
    "method-input": (_method_input, "faulty.v1.Missing"),
    "method-output": (_method_output, "other.v1.Gone"),
    "field-type": (_field_type, "faulty.v1.Vanished"),
    "import": (_import, "nowhere/missing.proto"),
}


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("proto")
    (root / "faulty" / "v1").mkdir(parents=True)
    proto = root / "faulty" / "v1" / "faulty.proto"
    proto.write_text(PROTO)
    return compile_protos([proto], [root])


def _with_schema(wasm: Path, out: Path, payload: bytes) -> Path:
    out.write_bytes(embed(wasm.read_bytes(), payload))
    return out


def _damaged(descriptor_set: bytes, damage: Damage) -> bytes:
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)
    damage(next(f for f in fds.file if f.name == "faulty/v1/faulty.proto"))
    return fds.SerializeToString()


def test_an_intact_schema_still_serves_json(
    faulty_rust_wasm: Path, descriptor_set: bytes, tmp_path: Path
) -> None:
    module = _with_schema(faulty_rust_wasm, tmp_path / "faulty.wasm", descriptor_set)
    ran = run("call", str(module), ECHO, '{"text": "hi", "part": {"name": "p"}}')
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout) == {"text": "hi", "part": {"name": "p"}}


@pytest.mark.parametrize("kind", DAMAGES)
def test_call_and_inspect_name_the_broken_module(
    faulty_rust_wasm: Path, descriptor_set: bytes, tmp_path: Path, kind: str
) -> None:
    damage, missing = DAMAGES[kind]
    module = _with_schema(
        faulty_rust_wasm, tmp_path / "broken.wasm", _damaged(descriptor_set, damage)
    )
    expected = f"error: the schema embedded in {module} is broken: "
    for ran in (run("call", str(module), ECHO, '{"text": "hi"}'), run("inspect", str(module))):
        assert_one_line_error(ran, expected, missing, "; rebuild the module")
        assert "internal error" not in ran.stderr
    with pytest.raises(InvalidModule) as raised:
        embedded_schema(module.read_bytes(), module)
    assert isinstance(raised.value, LoadError) and raised.value.path == str(module)


def test_a_section_that_is_not_a_schema(faulty_rust_wasm: Path, tmp_path: Path) -> None:
    module = _with_schema(faulty_rust_wasm, tmp_path / "junk.wasm", b"\xff\xff\xff\xff")
    assert read_section(module.read_bytes()) == b"\xff\xff\xff\xff"
    assert_one_line_error(
        run("call", str(module), ECHO, "{}"),
        f"the schema embedded in {module} is broken: its bridge.schema section is not a "
        "FileDescriptorSet; rebuild the module",
    )


def test_serve_exits_with_one_line(
    faulty_rust_wasm: Path, descriptor_set: bytes, tmp_path: Path
) -> None:
    module = _with_schema(
        faulty_rust_wasm, tmp_path / "broken.wasm", _damaged(descriptor_set, _method_input)
    )
    socket = tmp_path / "s.sock"
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "serve", str(module), "--socket", str(socket)],
        capture_output=True,
        text=True,
        timeout=120,  # it must fail at start; a sidecar that serves would hang here
        env=env,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert lines[-1] == (
        f"error: the schema embedded in {module} is broken: couldn't resolve name "
        "'.faulty.v1.Missing'; rebuild the module"
    ), done.stderr
