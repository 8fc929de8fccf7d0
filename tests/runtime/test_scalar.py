"""ScalarModule: plain scalar exports, on the real Rust guest (examples/rust-fib) and on
small WAT modules for what a real guest cannot do on purpose (loop forever, grow memory).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from bridge.config import RuntimeConfig
from bridge.errors import (
    ConfigError,
    DeadlineExceeded,
    FuelExhausted,
    GuestTrap,
    InvalidArguments,
    LoadError,
    MemoryLimitExceeded,
    ModuleClosed,
    UnknownMethod,
)
from bridge.runtime.limits import MAX_TABLE_ELEMENTS
from bridge.runtime.scalar import ScalarModule, ScalarSignature
from tests.wat import wat_module, write_wat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Exports of every shape the host must handle, and two that misbehave.
PLAIN_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hello from the guest\\n")
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "answer") (result i32) (i32.const 42))
  (func (export "nothing"))
  (func (export "pair") (param $a i32) (param $b f64) (result i32 f64)
    (local.get $a) (local.get $b))
  (func (export "half") (param f32) (result f32) (f32.div (local.get 0) (f32.const 2)))
  (func (export "wide") (param i64) (result i64) (local.get 0))
  ;; Writes a line on stdout through WASI (as a TinyGo module may), then answers 7.
  (func (export "greet") (result i32)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 21))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.const 7))
  ;; Grows memory a page at a time until refused, then traps, as an allocator would.
  (func (export "hog")
    (loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)
)
"""


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> RuntimeConfig:
    return RuntimeConfig(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def fib(rust_fib_wasm: Path, config: RuntimeConfig) -> ScalarModule:
    return ScalarModule(rust_fib_wasm, config)


@pytest.fixture
def plain_wasm(tmp_path: Path) -> Path:
    return write_wat(tmp_path / "plain.wasm", PLAIN_WAT)


def test_fibonacci(fib: ScalarModule) -> None:
    assert [fib.call("calculate_fibonacci", n) for n in (0, 1, 10, 90)] == [
        0,
        1,
        55,
        2880067194370816120,
    ]


def test_functions_and_their_signatures(fib: ScalarModule) -> None:
    assert dict(fib.functions) == {
        "calculate_fibonacci": ScalarSignature(("i32",), ("i64",)),
        "add_f64": ScalarSignature(("f64", "f64"), ("f64",)),
        "divide": ScalarSignature(("i32", "i32"), ("i32",)),
    }
    assert str(fib.functions["calculate_fibonacci"]) == "(i32) -> i64"


def test_floats_and_ints_for_floats(fib: ScalarModule) -> None:
    assert fib.call("add_f64", 0.5, 0.25) == 0.75
    assert fib.call("add_f64", 1, 2) == 3.0


def test_both_readings_of_an_int_width(fib: ScalarModule) -> None:
    # 0xFFFF_FFFF is the u32 reading of -1: both reach the guest as the same bits.
    assert fib.call("divide", 0xFFFF_FFFF, 1) == -1
    assert fib.call("divide", -(1 << 31), 1) == -(1 << 31)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((7,), ["divide takes 2 arguments", "(i32, i32) -> i32", "got 1"]),
        ((7, 1, 2), ["divide takes 2 arguments", "got 3"]),
        ((7, "1"), ["divide: parameter 1 is i32", "got str '1'"]),
        ((7, 1.0), ["divide: parameter 1 is i32", "got float 1.0"]),
        ((True, 1), ["divide: parameter 0 is i32", "got bool True"]),
        ((1 << 32, 1), ["divide: parameter 0 is i32", "-2147483648 to 4294967295", "4294967296"]),
        ((7, -(1 << 31) - 1), ["divide: parameter 1 is i32", "got -2147483649"]),
    ],
)
def test_arguments_are_checked_before_the_call(
    fib: ScalarModule, args: tuple[object, ...], words: list[str]
) -> None:
    with pytest.raises(InvalidArguments) as info:
        fib.call("divide", *args)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert info.value.method == "divide"


def test_float_parameters_refuse_what_is_not_a_number(fib: ScalarModule) -> None:
    with pytest.raises(
        InvalidArguments, match=r"add_f64: parameter 1 is f64 \(a float or an int\)"
    ):
        fib.call("add_f64", 1.0, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArguments, match="add_f64: parameter 0 is f64"):
        fib.call("add_f64", False, 1.0)
    with pytest.raises(InvalidArguments, match="too large for a float"):
        fib.call("add_f64", 10**400, 1.0)


def test_unknown_function_suggests_the_closest(fib: ScalarModule) -> None:
    with pytest.raises(UnknownMethod, match="has no function divde; did you mean divide?"):
        fib.call("divde", 1, 2)
    with pytest.raises(UnknownMethod, match="it exports add_f64, calculate_fibonacci, divide"):
        fib.call("zzz")


def test_a_trap_fails_that_call_only(fib: ScalarModule) -> None:
    with pytest.raises(GuestTrap) as info:
        fib.call("divide", 1, 0)
    assert info.value.trap_code == "unreachable"  # Rust's panic=abort
    assert info.value.method == "divide"
    assert fib.call("divide", 6, 3) == 2
    assert fib.call("calculate_fibonacci", 10) == 55


def test_calls_from_many_threads(fib: ScalarModule) -> None:
    results: dict[int, object] = {}

    def worker(n: int) -> None:
        results[n] = [fib.call("calculate_fibonacci", n) for _ in range(50)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10, 18)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = {10: 55, 11: 89, 12: 144, 13: 233, 14: 377, 15: 610, 16: 987, 17: 1597}
    assert results == {n: [value] * 50 for n, value in expected.items()}


def test_results_of_every_shape(plain_wasm: Path, config: RuntimeConfig) -> None:
    with ScalarModule(plain_wasm, config) as plain:
        assert plain.call("answer") == 42
        assert plain.call("nothing") is None
        assert plain.call("pair", 3, 1.5) == (3, 1.5)
        assert plain.call("half", 3) == 1.5
        assert plain.call("wide", (1 << 64) - 1) == -1  # i64 results come back signed
        assert plain.call("greet") == 7  # WASI is there, and stdout goes to the log
        assert (
            "spin" in plain.functions and str(plain.functions["pair"]) == "(i32, f64) -> (i32, f64)"
        )


def test_an_endless_loop_meets_its_deadline(plain_wasm: Path, config: RuntimeConfig) -> None:
    with ScalarModule(plain_wasm, dataclasses.replace(config, call_timeout_s=0.2)) as plain:
        with pytest.raises(DeadlineExceeded) as info:
            plain.call("spin")
        assert info.value.timeout_s == 0.2
        assert info.value.method == "spin"
        assert plain.call("answer") == 42
        # A per-call deadline overrides the config's.
        with pytest.raises(DeadlineExceeded, match="deadline of 0.1 s"):
            plain.call("spin", timeout_s=0.1)
        assert plain.call("answer") == 42


def test_memory_limit(plain_wasm: Path, config: RuntimeConfig) -> None:
    limited = dataclasses.replace(config, memory_limit_bytes=1 << 20)
    with ScalarModule(plain_wasm, limited) as plain:
        with pytest.raises(MemoryLimitExceeded):
            plain.call("hog")
        assert plain.call("answer") == 42


def test_fuel(plain_wasm: Path, config: RuntimeConfig) -> None:
    with ScalarModule(plain_wasm, dataclasses.replace(config, fuel=10_000)) as plain:
        with pytest.raises(FuelExhausted):
            plain.call("spin")
        # Each call gets the full amount again.
        assert [plain.call("answer") for _ in range(3)] == [42, 42, 42]


def test_refuses_a_bridge_module(tmp_path: Path, config: RuntimeConfig) -> None:
    with pytest.raises(LoadError, match="is a bridge module, not a module of plain exports"):
        ScalarModule(wat_module(tmp_path), config)


def test_refuses_a_wasi_command(tmp_path: Path, config: RuntimeConfig) -> None:
    path = write_wat(tmp_path / "cmd.wasm", '(module (func (export "_start")))')
    with pytest.raises(LoadError, match=r"is a WASI command .*CommandModule"):
        ScalarModule(path, config)


def test_refuses_imports_it_cannot_provide(tmp_path: Path, config: RuntimeConfig) -> None:
    path = write_wat(
        tmp_path / "needy.wasm",
        '(module (import "env" "now" (func (result i64)))'
        ' (func (export "f") (result i32) i32.const 1))',
    )
    with pytest.raises(LoadError, match="it imports env.now; bridge provides only wasi"):
        ScalarModule(path, config)


def test_refuses_the_wasmer_engine(plain_wasm: Path, config: RuntimeConfig) -> None:
    with pytest.raises(ConfigError, match="need engine 'wasmtime'"):
        ScalarModule(plain_wasm, dataclasses.replace(config, engine="wasmer"))


def test_closed(fib: ScalarModule) -> None:
    fib.close()
    fib.close()
    with pytest.raises(ModuleClosed, match="closed"):  # a ValueError too, as before
        fib.call("calculate_fibonacci", 1)


def test_tables_are_limited_as_for_bridge_modules(tmp_path: Path, config: RuntimeConfig) -> None:
    path = write_wat(
        tmp_path / "tables.wasm",
        """(module
          (table $t 1 funcref)
          (func (export "grow") (param i32) (result i32)
            (table.grow $t (ref.null func) (local.get 0))))""",
    )
    with ScalarModule(path, config) as plain:
        assert plain.call("grow", MAX_TABLE_ELEMENTS) == -1  # past the limit: refused
        assert plain.call("grow", 10) == 1
