"""The Python emitter: grpcio-tools' stubs, generated from the model, importable and typed."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mypy import api as mypy_api

from bridge.codegen import python, write_files
from bridge.schema import Schema
from tests.cli.conftest import run
from tests.conftest import ROOT

PROTO = ROOT / "proto" / "examples"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("python-out")
    schema = Schema.compile([PROTO / "kitchen" / "v1" / "kitchen.proto"], [PROTO])
    write_files(python.emit(schema), out)
    sys.path.insert(0, str(out))
    yield out
    sys.path.remove(str(out))


def test_the_standard_modules_are_written(generated: Path) -> None:
    names = sorted(str(p.relative_to(generated)) for p in generated.rglob("*.py*"))
    assert names == [
        "kitchen/v1/kitchen_pb2.py",
        "kitchen/v1/kitchen_pb2.pyi",
        "kitchen/v1/kitchen_pb2_grpc.py",
    ]


def test_they_import_and_round_trip(generated: Path) -> None:
    kitchen_pb2 = importlib.import_module("kitchen.v1.kitchen_pb2")
    message = kitchen_pb2.Everything(scalars=kitchen_pb2.Scalars(f_string="hé", f_sint64=-5))
    assert kitchen_pb2.Everything.FromString(message.SerializeToString()) == message
    grpc_module = importlib.import_module("kitchen.v1.kitchen_pb2_grpc")
    assert hasattr(grpc_module, "KitchenServicer")


def test_the_stubs_type_check(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYPYPATH", str(generated))
    user = tmp_path / "use_stubs.py"
    user.write_text(
        "from kitchen.v1 import kitchen_pb2\n"
        "s = kitchen_pb2.Scalars(f_int32=1)\n"
        "n: int = s.f_int32\n"
        "bad: str = s.f_int32\n"
    )
    stdout, _, status = mypy_api.run(
        # --allow-any-generics: grpcio-tools' .pyi writes a bare `Mapping` for map fields.
        [
            "--strict",
            "--allow-any-generics",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy"),
            str(user),
        ],
    )
    # The one wrong line is caught, so the .pyi is what mypy reads.
    assert status == 1, stdout
    assert (
        'Incompatible types in assignment (expression has type "int", variable has type "str")'
        in stdout
    )
    assert stdout.count("error:") == 1, stdout


def test_gen_cli_writes_python(tmp_path: Path) -> None:
    ran = run(
        "gen",
        str(PROTO / "pricing" / "v1" / "pricing.proto"),
        "-I",
        str(PROTO),
        "--python-out",
        str(tmp_path),
    )
    assert ran.exit_code == 0, ran.stderr
    assert (tmp_path / "pricing" / "v1" / "pricing_pb2_grpc.py").is_file()


def test_gen_cli_needs_an_output(tmp_path: Path) -> None:
    ran = run("gen", str(PROTO / "pricing" / "v1" / "pricing.proto"))
    assert ran.exit_code == 2
    assert "name at least one of --python-out, --go-out, --rust-out" in ran.stderr


def test_gen_cli_keeps_streaming_rpcs_in_the_python_stubs(tmp_path: Path) -> None:
    proto = tmp_path / "route.proto"
    proto.write_text(
        'syntax = "proto3";\npackage route;\nmessage P {}\nservice R {\n'
        "  rpc Get(P) returns (P);\n  rpc Watch(P) returns (stream P);\n}\n"
    )
    ran = run("gen", str(proto), "--python-out", str(tmp_path / "out"))
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr == ""  # no guest glue asked for: nothing left out
    assert "def Watch(" in (tmp_path / "out" / "route_pb2_grpc.py").read_text()
