"""Host calls (docs/abi.md section 12): guest code calls Python, and never traps for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bridge
from bridge import abi
from bridge.config import RuntimeConfig
from bridge.runtime.hostcalls import HostContext
from bridge.schema.compile import compile_protos
from bridge.schema.embed import embed
from tests.conftest import _pb2_module
from tests.wat import wat_module

LEGACY = """syntax = "proto3";
package legacy.v1;
message Words { string text = 1; }
service Echo { rpc Say(Words) returns (Words); rpc Fail(Words) returns (Words); }
"""
SAY = b"legacy.v1.Echo/Say"
FAIL = b"legacy.v1.Echo/Fail"


def _data(offset: int, data: bytes) -> str:
    escaped = "".join(f"\\{b:02x}" for b in data)
    return f'(data (i32.const {offset}) "{escaped}")'


# A guest whose method `t.v1.T/Call_<n>` calls the host method whose name sits at data
# offset n with its own request, collects the outcome and answers with it (its ERROR bit
# kept, so a host status reaches the caller as the guest's error).
IMPORTS = """
  (import "bridge" "host_call" (func $host_call (param i32 i32 i32 i32) (result i64)))
  (import "bridge" "host_result" (func $host_result (param i32 i32) (result i32)))
"""


def _caller(name: str, offset: int, length: int, extra: int = 0) -> str:
    return f"""
  (func (export "t.v1.T/{name}") (param $p i32) (param $n i32) (result i64)
    (local $r i64) (local $len i32) (local $dst i32)
    (local.set $r (call $host_call (i32.const {offset}) (i32.const {length})
                                   (local.get $p) (local.get $n)))
    (local.set $len (i32.wrap_i64 (i64.and (i64.shr_u (local.get $r) (i64.const 32))
                                           (i64.const 0x3FFFFFFF))))
    (local.set $dst (call 2 (local.get $len)))
    ;; host_result's answer goes to offset 3072 so tests can see a refused collect
    (i32.store (i32.const 3072)
      (call $host_result (local.get $dst) (i32.add (local.get $len) (i32.const {extra}))))
    (i64.or (i64.and (local.get $r) (i64.const 0x8000000000000000))
      (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32))
              (i64.or (i64.extend_i32_u (local.get $dst)) (i64.const 0x4000000000000000)))))
"""


BODY = (
    _data(1024, SAY)
    + _data(1100, FAIL)
    + _data(1200, b"legacy.v1.Nope/Never")
    + _caller("Say", 1024, len(SAY))
    + _caller("Fail", 1100, len(FAIL))
    + _caller("Nope", 1200, 20)
    + _caller("OutOfBounds", 0xFFFF_FF00, 10)
    + _caller("WrongLength", 1024, len(SAY), extra=1)
    + """
  (func (export "t.v1.T/LastCollect") (param i32 i32) (result i64)
    (i64.or (i64.const 0x0000000400000000)
            (i64.or (i64.const 3072) (i64.const 0x4000000000000000))))
"""
)


@pytest.fixture(scope="module")
def legacy_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("legacy")
    (root / "legacy.proto").write_text(LEGACY)
    yield from _pb2_module(tmp_path_factory, root / "legacy.proto", "legacy_pb2", include=root)


@pytest.fixture
def module_path(tmp_path: Path) -> Path:
    """The WAT guest with the legacy schema embedded (so requests arrive decoded)."""
    path = wat_module(tmp_path, BODY, imports=IMPORTS)
    (tmp_path / "legacy.proto").write_text(LEGACY)
    schema = compile_protos([tmp_path / "legacy.proto"])
    path.write_bytes(embed(path.read_bytes(), schema))
    return path


class Echo:
    def __init__(self, pb2: ModuleType) -> None:
        self.pb2 = pb2
        self.seen: list[Any] = []

    def Say(self, request: Any, context: HostContext) -> Any:  # noqa: N802 (grpc's names)
        self.seen.append(request)
        return self.pb2.Words(text=request.text.upper())

    def Fail(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        if request.text == "abort":
            context.abort(bridge.StatusCode.FAILED_PRECONDITION, "stock is locked")
        raise KeyError(request.text)


def _load(path: Path, host: dict[str, object] | None) -> bridge.GuestModule:
    return bridge.load(path, RuntimeConfig(cache_dir=None, pool_size=1), host=host)


def test_guest_calls_python_with_a_decoded_request(
    module_path: Path, legacy_pb2: ModuleType
) -> None:
    echo = Echo(legacy_pb2)
    with _load(module_path, {"legacy.v1.Echo": echo}) as guest:
        reply = guest.call("t.v1.T/Say", legacy_pb2.Words(text="hi there").SerializeToString())
        assert legacy_pb2.Words.FromString(reply).text == "HI THERE"
        assert echo.seen == [legacy_pb2.Words(text="hi there")]
        # many calls in a row: nothing pending leaks from one to the next
        for i in range(200):
            request = legacy_pb2.Words(text=f"n{i}").SerializeToString()
            assert legacy_pb2.Words.FromString(guest.call("t.v1.T/Say", request)).text == f"N{i}"


def test_host_abort_gives_its_code(module_path: Path, legacy_pb2: ModuleType) -> None:
    with _load(module_path, {"legacy.v1.Echo": Echo(legacy_pb2)}) as guest:
        with pytest.raises(bridge.GuestError) as info:
            guest.call("t.v1.T/Fail", legacy_pb2.Words(text="abort").SerializeToString())
        assert info.value.code is bridge.StatusCode.FAILED_PRECONDITION
        assert info.value.status_message == "stock is locked"


def test_host_bug_is_internal_not_a_trap(module_path: Path, legacy_pb2: ModuleType) -> None:
    with _load(module_path, {"legacy.v1.Echo": Echo(legacy_pb2)}) as guest:
        with pytest.raises(bridge.GuestError) as info:
            guest.call("t.v1.T/Fail", legacy_pb2.Words(text="x").SerializeToString())
        assert info.value.code is bridge.StatusCode.INTERNAL
        assert info.value.status_message == "legacy.v1.Echo/Fail: KeyError: 'x'"
        assert guest.call("t.v1.T/Say", b"") == b""  # the instance lives on


def test_unimplemented_host_methods(module_path: Path) -> None:
    with _load(module_path, None) as guest:
        for method in ("t.v1.T/Say", "t.v1.T/Nope"):
            with pytest.raises(bridge.GuestError) as info:
                guest.call(method, b"")
            assert info.value.code is bridge.StatusCode.UNIMPLEMENTED
            assert "the host does not implement" in info.value.status_message


def test_bad_pointer_in_a_host_call_is_an_abi_violation(
    module_path: Path, legacy_pb2: ModuleType
) -> None:
    with _load(module_path, {"legacy.v1.Echo": Echo(legacy_pb2)}) as guest:
        with pytest.raises(bridge.AbiViolation, match="the method name .* lies outside"):
            guest.call("t.v1.T/OutOfBounds", b"")
        assert guest.call("t.v1.T/Say", b"") == b""  # a fresh instance answers


def test_collecting_with_the_wrong_length_is_refused(
    module_path: Path, legacy_pb2: ModuleType
) -> None:
    with _load(module_path, {"legacy.v1.Echo": Echo(legacy_pb2)}) as guest:
        guest.call("t.v1.T/WrongLength", legacy_pb2.Words(text="a").SerializeToString())
        collected = guest.call("t.v1.T/LastCollect", b"")
        assert int.from_bytes(collected, "little", signed=True) == abi.HOST_RESULT_FAILED


def test_host_services_must_be_in_the_schema(module_path: Path) -> None:
    with pytest.raises(bridge.ConfigError, match=r"host services legacy\.v1\.Ecko are not in"):
        _load(module_path, {"legacy.v1.Ecko": object()})


def test_host_imports_are_checked_at_load(tmp_path: Path) -> None:
    wrong = wat_module(
        tmp_path, imports='(import "bridge" "host_call" (func (param i32) (result i64)))'
    )
    with pytest.raises(
        bridge.AbiMismatch, match=r"import bridge\.host_call has type \(i32\) -> i64"
    ):
        bridge.load(wrong, RuntimeConfig(cache_dir=None))
    other = wat_module(tmp_path, name="other", imports='(import "bridge" "sleep" (func))')
    with pytest.raises(bridge.LoadError, match=r"imports bridge\.sleep, which this host does not"):
        bridge.load(other, RuntimeConfig(cache_dir=None))
