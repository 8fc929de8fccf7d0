"""The host side of ABI v1 against small modules written in WAT, well-behaved and hostile.

Every rule in docs/abi.md section 8 is broken here once, and the host must answer with a
typed error, never read outside the guest's memory, and keep serving later calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import bridge
from bridge import abi
from bridge.config import RuntimeConfig
from tests.wat import wat_module, write_wat

# Status{code: NOT_FOUND(5), message: "nope"} as protobuf bytes.
NOT_FOUND_STATUS = b"\x08\x05\x12\x04nope"


def _const_i64(value: int) -> str:
    """An i64.const for an unsigned packed result (WAT wants it signed)."""
    return f"(i64.const {value - (1 << 64) if value >= 1 << 63 else value})"


def _wat_bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


METHODS = f"""
  (data (i32.const 256) "{_wat_bytes(NOT_FOUND_STATUS)}")
  (data (i32.const 512) "\\ff\\ff\\ff")

  ;; Echo: copy the request into a fresh malloc'd buffer, return it owned.
  (func (export "t.v1.T/Echo") (param $p i32) (param $n i32) (result i64) (local $out i32)
    (local.set $out (call 1 (local.get $n)))
    (memory.copy (local.get $out) (local.get $p) (local.get $n))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 32))
            (i64.extend_i32_u (local.get $out))))

  ;; Borrowed: return 3 bytes of static data, flagged BORROWED (the host must not free it).
  (func (export "t.v1.T/Borrowed") (param i32 i32) (result i64)
    {_const_i64(abi.pack(512, 3, borrowed=True))})

  ;; Frees: the guest's free counter as 4 little-endian bytes, borrowed.
  (func (export "t.v1.T/Frees") (param i32 i32) (result i64)
    (i32.store (i32.const 1024) (call 3))
    {_const_i64(abi.pack(1024, 4, borrowed=True))})

  (func (export "t.v1.T/Empty") (param i32 i32) (result i64) (i64.const 0))

  (func (export "t.v1.T/NotFound") (param i32 i32) (result i64)
    {_const_i64(abi.pack(256, len(NOT_FOUND_STATUS), borrowed=True, error=True))})

  (func (export "t.v1.T/ErrorWithOkCode") (param i32 i32) (result i64)
    {_const_i64(abi.pack(0, 0, error=True))})

  (func (export "t.v1.T/ErrorNotAStatus") (param i32 i32) (result i64)
    {_const_i64(abi.pack(512, 3, borrowed=True, error=True))})

  (func (export "t.v1.T/OutOfBounds") (param i32 i32) (result i64)
    {_const_i64(abi.pack(65536 - 8, 100))})

  (func (export "t.v1.T/PastTheEnd") (param i32 i32) (result i64)
    {_const_i64(abi.pack(0xFFFF_FFF0, abi.MAX_MESSAGE_LEN))})

  (func (export "t.v1.T/NullWithLength") (param i32 i32) (result i64)
    {_const_i64(abi.pack(0, 5))})

  (func (export "t.v1.T/Unreachable") (param i32 i32) (result i64) unreachable)

  ;; Grow memory by 2 pages and answer from the new region: the host must read the
  ;; memory size after the call, not the one it saw before.
  (func (export "t.v1.T/Grow") (param i32 i32) (result i64)
    (drop (memory.grow (i32.const 2)))
    (i32.store8 (i32.const 70000) (i32.const 42))
    {_const_i64(abi.pack(70000, 1, borrowed=True))})
"""


def _config(**changes: object) -> RuntimeConfig:
    # One instance, so that its own counters show whether it was replaced.
    return RuntimeConfig(cache_dir=None, pool_size=1, **changes)  # type: ignore[arg-type]


@pytest.fixture
def guest(tmp_path: Path) -> Iterator[bridge.GuestModule]:
    with bridge.load(wat_module(tmp_path, METHODS), _config()) as module:
        yield module


def _frees(module: bridge.GuestModule) -> int:
    """How many times the guest's free ran, asked through the ABI itself."""
    return int.from_bytes(module.call("t.v1.T/Frees", b""), "little")


def test_loading_reads_methods_sorted(guest: bridge.GuestModule) -> None:
    assert guest.methods[0] == "t.v1.T/Borrowed"
    assert "t.v1.T/Echo" in guest.methods
    assert guest.interface.abi_version == 1


def test_echo_round_trips_bytes_and_frees_request_and_owned_response(
    guest: bridge.GuestModule,
) -> None:
    payload = bytes(range(256)) * 3
    assert guest.call("t.v1.T/Echo", payload) == payload
    assert guest.call("t.v1.T/Echo", b"") == b""


def test_host_frees_owned_responses_but_not_borrowed_ones(guest: bridge.GuestModule) -> None:
    start = _frees(guest)
    guest.call("t.v1.T/Echo", b"abc")  # the owned response (the request buffer is kept)
    assert _frees(guest) == start + 1
    guest.call("t.v1.T/Borrowed", b"x")  # nothing: borrowed response
    assert _frees(guest) == start + 1
    guest.call("t.v1.T/Empty", b"")  # nothing at all
    assert _frees(guest) == start + 1


def test_request_buffer_is_reused_and_grown_on_demand(guest: bridge.GuestModule) -> None:
    guest.call("t.v1.T/Echo", b"a" * 10)
    start = _frees(guest)
    guest.call("t.v1.T/Borrowed", b"b" * 1000)  # fits the first buffer: no free
    assert _frees(guest) == start
    big = bytes(range(256)) * 40
    assert guest.call("t.v1.T/Echo", big) == big  # grows: the old buffer is freed
    assert _frees(guest) == start + 2  # the old request buffer and the owned response


def test_empty_response(guest: bridge.GuestModule) -> None:
    assert guest.call("t.v1.T/Empty", b"x") == b""


def test_borrowed_response_is_copied(guest: bridge.GuestModule) -> None:
    assert guest.call("t.v1.T/Borrowed", b"") == b"\xff\xff\xff"


def test_guest_error_carries_code_and_message(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.GuestError) as info:
        guest.call("t.v1.T/NotFound", b"")
    assert info.value.code is bridge.StatusCode.NOT_FOUND
    assert info.value.status_message == "nope"
    assert info.value.method == "t.v1.T/NotFound"
    # An application error is not a broken guest: the same instance keeps serving
    # (its free counter goes on from where it was).
    guest.call("t.v1.T/Echo", b"abc")
    frees = _frees(guest)
    with pytest.raises(bridge.GuestError):
        guest.call("t.v1.T/NotFound", b"")
    assert _frees(guest) == frees


@pytest.mark.parametrize(
    ("method", "says"),
    [
        ("t.v1.T/OutOfBounds", "outside the guest's memory"),
        ("t.v1.T/PastTheEnd", "outside the guest's memory"),
        ("t.v1.T/NullWithLength", "null pointer"),
        ("t.v1.T/ErrorWithOkCode", "status code 0"),
        ("t.v1.T/ErrorNotAStatus", "not a google.rpc.Status"),
    ],
)
def test_abi_violations_fail_the_call_and_replace_the_instance(
    guest: bridge.GuestModule, method: str, says: str
) -> None:
    guest.call("t.v1.T/Echo", b"abc")
    assert _frees(guest) >= 1
    with pytest.raises(bridge.AbiViolation, match=says):
        guest.call(method, b"req")
    # discarded: the next call runs on a fresh instance, whose counter starts at 0
    assert _frees(guest) == 0
    assert guest.call("t.v1.T/Echo", b"next") == b"next"


def test_trap_is_typed_and_other_calls_go_on(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.GuestTrap) as info:
        guest.call("t.v1.T/Unreachable", b"")
    assert info.value.trap_code == "unreachable"
    assert "t.v1.T/Unreachable trapped" in str(info.value)
    assert "wasm backtrace" in info.value.backtrace
    assert guest.call("t.v1.T/Echo", b"still here") == b"still here"


def test_memory_grown_during_the_call_is_read(guest: bridge.GuestModule) -> None:
    assert guest.call("t.v1.T/Grow", b"") == b"\x2a"


def test_unknown_method_suggests_the_closest(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.UnknownMethod, match=r"did you mean t\.v1\.T/Echo\?"):
        guest.call("t.v1.T/Ecko", b"")


def test_request_over_the_limit_is_refused_before_the_call(tmp_path: Path) -> None:
    with bridge.load(wat_module(tmp_path, METHODS), _config(max_message_bytes=8)) as small:
        with pytest.raises(bridge.ResourceExhausted, match="over the limit of 8 bytes"):
            small.call("t.v1.T/Echo", b"123456789")
        assert small.call("t.v1.T/Echo", b"12345678") == b"12345678"


def test_malloc_returning_zero_is_resource_exhausted(tmp_path: Path) -> None:
    path = wat_module(tmp_path, METHODS, malloc_body="(i32.const 0)")
    with (
        bridge.load(path, _config()) as module,
        pytest.raises(bridge.ResourceExhausted, match="malloc returned 0"),
    ):
        module.call("t.v1.T/Echo", b"abc")


def test_malloc_returning_a_range_outside_memory_is_a_violation(tmp_path: Path) -> None:
    path = wat_module(tmp_path, METHODS, malloc_body="(i32.const 65530)")
    with (
        bridge.load(path, _config()) as module,
        pytest.raises(bridge.AbiViolation, match=r"malloc \[0xfffa, 0x103fa\) lies outside"),
    ):
        module.call("t.v1.T/Echo", b"0123456789")


def test_closed_module_refuses_calls(guest: bridge.GuestModule) -> None:
    guest.close()
    guest.close()  # twice is fine
    with pytest.raises(ValueError, match="was closed"):
        guest.call("t.v1.T/Echo", b"")


# Load-time checks: each module below is wrong in one way.


def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(bridge.ModuleNotFound, match="no module at"):
        bridge.load(tmp_path / "missing.wasm")


def test_not_wasm(tmp_path: Path) -> None:
    path = tmp_path / "notes.wasm"
    path.write_text("hello")
    with pytest.raises(bridge.InvalidModule, match="not a WebAssembly module"):
        bridge.load(path)


def test_truncated_wasm(tmp_path: Path) -> None:
    good = wat_module(tmp_path, METHODS).read_bytes()
    path = tmp_path / "truncated.wasm"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(bridge.InvalidModule, match="not a valid WebAssembly module"):
        bridge.load(path)


def test_module_without_marker_says_what_it_is(tmp_path: Path) -> None:
    plain = write_wat(
        tmp_path / "fib.wasm",
        '(module (func (export "calculate_fibonacci") (param i32) (result i64) (i64.const 1)))',
    )
    with pytest.raises(bridge.NotABridgeModule, match="plain exports") as info:
        bridge.load(plain)
    assert info.value.kind == "plain-exports"
    command = write_wat(tmp_path / "cmd.wasm", '(module (func (export "_start")))')
    with pytest.raises(bridge.NotABridgeModule, match="WASI command"):
        bridge.load(command)


def test_other_abi_version_names_both(tmp_path: Path) -> None:
    with pytest.raises(bridge.AbiMismatch, match="speaks bridge ABI v2, this bridge speaks v1"):
        bridge.load(wat_module(tmp_path, marker="bridge_abi_v2"))


def test_two_markers(tmp_path: Path) -> None:
    path = wat_module(tmp_path, '(func (export "bridge_abi_v2"))')
    with pytest.raises(bridge.AbiMismatch, match="several ABI versions"):
        bridge.load(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '(module (func (export "bridge_abi_v1")) (func (export "malloc") (param i32) '
            '(result i32) (i32.const 0)) (func (export "free") (param i32)))',
            "memory is not exported",
        ),
        (
            '(module (memory (export "memory") 1) (func (export "bridge_abi_v1")) '
            '(func (export "malloc") (param i32) (result i32) (i32.const 0)))',
            "free is not exported",
        ),
    ],
)
def test_missing_exports(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(bridge.AbiMismatch, match=says):
        bridge.load(write_wat(tmp_path / "m.wasm", text))


def test_method_with_the_wrong_signature(tmp_path: Path) -> None:
    path = wat_module(
        tmp_path, '(func (export "t.v1.T/Bad") (param i32) (result i32) (i32.const 0))'
    )
    with pytest.raises(
        bridge.AbiMismatch, match=r"t\.v1\.T/Bad has type \(i32\) -> i32, ABI v1 needs"
    ):
        bridge.load(path)


def test_import_the_host_does_not_provide(tmp_path: Path) -> None:
    path = wat_module(tmp_path, imports='(import "env" "now" (func (result i64)))')
    with pytest.raises(bridge.LoadError, match=r"imports env\.now, which this host does not"):
        bridge.load(path)


def test_initialize_that_traps_fails_the_load(tmp_path: Path) -> None:
    path = wat_module(tmp_path, '(func (export "_initialize") unreachable)')
    with pytest.raises(bridge.GuestTrap, match="_initialize trapped"):
        bridge.load(path)
