from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import assert_one_line_error, run
from tests.wat import wat_module, write_wat


def test_bridge_module(tmp_path: Path) -> None:
    path = wat_module(
        tmp_path, '(func (export "a.v1.S/M") (param i32 i32) (result i64) (i64.const 0))'
    )
    ran = run("inspect", str(path))
    assert ran.exit_code == 0
    first, *rest = ran.stdout.splitlines()
    assert first == f"{path}: a bridge module, ABI v1, without an embedded schema"
    assert any("a.v1.S/M" in line for line in rest)
    assert any("malloc" in line and "(i32) -> i32" in line for line in rest)


def test_json(pricing_wasm: Path) -> None:
    ran = run("inspect", str(pricing_wasm), "--json")
    assert ran.exit_code == 0
    described = json.loads(ran.stdout)
    assert described["kind"] == "bridge"
    assert described["abi_version"] == 1
    assert described["methods"] == [
        "pricing.v1.Pricing/Lookup",
        "pricing.v1.Pricing/NormalizeSku",
        "pricing.v1.Pricing/Quote",
    ]
    exports = {e["name"]: e for e in described["exports"]}
    assert exports["pricing.v1.Pricing/Quote"]["type"] == "(i32, i32) -> i64"
    assert exports["memory"]["kind"] == "memory"


def test_go_module_imports_wasi(go_pricing_wasm: Path) -> None:
    described = json.loads(run("inspect", str(go_pricing_wasm), "--json").stdout)
    assert described["reactor"] is True
    assert {i["module"] for i in described["imports"]} == {"wasi_snapshot_preview1"}


def test_wasi_command_is_named(tmp_path: Path) -> None:
    path = write_wat(
        tmp_path / "cmd.wasm", '(module (memory (export "memory") 1) (func (export "_start")))'
    )
    ran = run("inspect", str(path))
    assert ran.exit_code == 0
    assert ran.stdout.splitlines()[0] == (
        f"{path}: not a bridge module: a WASI command (it exports _start: run it as a program)"
    )


def test_plain_exports_are_named(tmp_path: Path) -> None:
    path = write_wat(
        tmp_path / "fib.wasm",
        '(module (func (export "calculate_fibonacci") (param i32) (result i64) (i64.const 1)))',
    )
    ran = run("inspect", str(path), "--json")
    described = json.loads(ran.stdout)
    assert described["kind"] == "plain-exports"
    assert described["abi_version"] is None
    assert described["exports"] == [
        {"name": "calculate_fibonacci", "kind": "func", "type": "(i32) -> i64"}
    ]


def test_not_wasm(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# not wasm\n")
    assert_one_line_error(run("inspect", str(path)), "is not a WebAssembly module")


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(run("inspect", str(tmp_path / "nope.wasm")), "no module at")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    import pytest

    import bridge

    with pytest.raises(bridge.ModuleNotFound):
        run("--debug", "inspect", str(tmp_path / "nope.wasm"))
