from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from bridge import abi
from tests.cli.conftest import assert_one_line_error, run
from tests.wat import wat_module, write_wat

LOOKUP = "pricing.v1.Pricing/Lookup"


def test_raw_bytes_in_and_out(pricing_wasm: Path, pricing_pb2: ModuleType) -> None:
    request = pricing_pb2.LookupRequest(sku="pear 2").SerializeToString()
    ran = run("call", str(pricing_wasm), LOOKUP, "--raw", stdin=request)
    assert ran.exit_code == 0, ran.stderr
    expected = pricing_pb2.LookupResponse(sku="PEAR-2", name="Pear", unit_price_cents=75)
    assert ran.stdout_bytes == expected.SerializeToString()


def test_guest_error_prints_code_and_message(pricing_wasm: Path, pricing_pb2: ModuleType) -> None:
    request = pricing_pb2.LookupRequest(sku="kiwi").SerializeToString()
    ran = run("call", str(pricing_wasm), LOOKUP, "--raw", stdin=request)
    assert_one_line_error(ran, 'NOT_FOUND: sku "KIWI" not found')
    assert ran.stdout_bytes == b""


def test_unknown_method(pricing_wasm: Path) -> None:
    ran = run("call", str(pricing_wasm), "pricing.v1.Pricing/Lokup", "--raw")
    assert_one_line_error(ran, "has no method pricing.v1.Pricing/Lokup", f"did you mean {LOOKUP}?")


def test_module_without_the_abi_marker(tmp_path: Path) -> None:
    path = write_wat(
        tmp_path / "cmd.wasm", '(module (memory (export "memory") 1) (func (export "_start")))'
    )
    ran = run("call", str(path), "a.v1.S/M", "--raw")
    assert_one_line_error(ran, "is not a bridge module: it is a WASI command", "bridge_abi_v1")


def test_pointer_outside_memory(tmp_path: Path) -> None:
    raw = abi.pack(65_000, 10_000)
    path = wat_module(
        tmp_path, f'(func (export "a.v1.S/M") (param i32 i32) (result i64) (i64.const {raw}))'
    )
    ran = run("call", str(path), "a.v1.S/M", "--raw", stdin=b"x")
    assert_one_line_error(ran, "a.v1.S/M: the guest broke the ABI", "outside the guest's memory")


def test_trap(tmp_path: Path) -> None:
    path = wat_module(
        tmp_path, '(func (export "a.v1.S/M") (param i32 i32) (result i64) unreachable)'
    )
    ran = run("call", str(path), "a.v1.S/M", "--raw")
    assert_one_line_error(ran, "a.v1.S/M trapped: wasm `unreachable` instruction executed")


def test_not_wasm(tmp_path: Path) -> None:
    path = tmp_path / "x.wasm"
    path.write_bytes(b"MZ\x90\x00")
    assert_one_line_error(run("call", str(path), "a.v1.S/M", "--raw"), "not a WebAssembly module")


def test_raw_is_required_until_modules_carry_their_schema(pricing_wasm: Path) -> None:
    ran = run("call", str(pricing_wasm), LOOKUP)
    assert ran.exit_code == 2
    assert "carries no schema" in ran.stderr and "pass --raw" in ran.stderr


def test_plain_exports(rust_fib_wasm: Path) -> None:
    ran = run("call", str(rust_fib_wasm), "calculate_fibonacci", "90")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout == "2880067194370816120\n"
    ran = run("call", str(rust_fib_wasm), "add_f64", "-1.5", "4", "--json")
    assert json.loads(ran.stdout) == {"function": "add_f64", "result": [2.5]}


def test_plain_export_with_bad_arguments(rust_fib_wasm: Path) -> None:
    ran = run("call", str(rust_fib_wasm), "calculate_fibonacci", "1", "2")
    assert_one_line_error(ran, "calculate_fibonacci")
    ran = run("call", str(rust_fib_wasm), "calculate_fibonacci", "ten")
    assert ran.exit_code == 2
    assert "'ten' is not a number" in ran.stderr


def test_plain_export_that_traps(rust_fib_wasm: Path) -> None:
    assert_one_line_error(run("call", str(rust_fib_wasm), "divide", "1", "0"), "divide trapped")


def test_wasi_command(go_wordcount_wasm: Path) -> None:
    ran = run("call", str(go_wordcount_wasm), stdin=b"the cat saw the cat")
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout)["words"] == 5


def test_wasi_command_takes_no_method(go_wordcount_wasm: Path) -> None:
    ran = run("call", str(go_wordcount_wasm), "main")
    assert ran.exit_code == 2
    assert "is a WASI command: it takes no METHOD" in ran.stderr
