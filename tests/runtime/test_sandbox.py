"""What a guest gets, and what bounds it (issue 11, items 6 and 11).

The memory limit covers the whole instance: one 32-bit memory (more, or a 64-bit one, is
refused at load) and bounded tables. What a guest can see of the host is what README.md
says: the clocks and the random source, and nothing else unless the config grants it.
A module over `max_module_bytes` is refused before it is compiled.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.errors import ToolchainError
from bridge.guest.build import build
from bridge.runtime.limits import MAX_TABLE_ELEMENTS, MAX_TABLES
from tests.conftest import ROOT
from tests.wat import wat_module, write_wat

# --- Item 6: memories and tables --------------------------------------------------

# A method that grows table $t by `n` elements and answers with table.grow's result
# (the old size, or -1 when refused) as 4 little-endian bytes (BORROWED, at 3072).
GROW_TABLE = """
  (table $t 1 funcref)
  (func (export "t.v1.T/GrowTable") (param i32 i32) (result i64)
    (i32.store (i32.const 3072) (table.grow $t (ref.null func) (i32.const {n})))
    (i64.const 0x4000000400000C00))
"""


def _config() -> RuntimeConfig:
    return RuntimeConfig(cache_dir=None, pool_size=1)


def test_a_second_memory_is_refused_at_load(tmp_path: Path) -> None:
    path = wat_module(tmp_path, "(memory $extra 1) (memory $more 2 3)")
    with pytest.raises(bridge.AbiMismatch) as info:
        bridge.load(path, _config())
    assert str(info.value) == (
        f"{path} has 3 memories (i32 pages 1, i32 pages 1, i32 pages 2..3); a bridge module "
        "has exactly one, its exported memory (docs/abi.md section 1)"
    )


def test_a_64_bit_memory_is_refused_at_load(tmp_path: Path) -> None:
    path = write_wat(
        tmp_path / "memory64.wasm",
        """(module
          (memory (export "memory") i64 1)
          (func (export "bridge_abi_v1"))
          (func (export "malloc") (param i32) (result i32) (i32.const 4096))
          (func (export "free") (param i32)))""",
    )
    with pytest.raises(bridge.AbiMismatch) as info:
        bridge.load(path, _config())
    assert str(info.value) == (
        f"{path}: memory is 64-bit (i64 pages 1); a bridge module's memory is 32-bit "
        "(docs/abi.md section 1)"
    )


def test_table_grow_past_the_limit_is_refused(tmp_path: Path) -> None:
    # 2M elements would take 16 MiB outside the memory limit.
    path = wat_module(tmp_path, GROW_TABLE.format(n=2 * MAX_TABLE_ELEMENTS))
    with bridge.load(path, _config()) as guest:
        refused = guest.call("t.v1.T/GrowTable", b"")
        assert int.from_bytes(refused, "little", signed=True) == -1
    path = wat_module(tmp_path, GROW_TABLE.format(n=1000), name="small")
    with bridge.load(path, _config()) as guest:
        grown = guest.call("t.v1.T/GrowTable", b"")
        assert int.from_bytes(grown, "little", signed=True) == 1  # the old size


@pytest.mark.parametrize(
    "tables",
    [
        f"(table {MAX_TABLE_ELEMENTS + 1} funcref)",
        " ".join("(table 1 funcref)" for _ in range(MAX_TABLES + 1)),
    ],
    ids=["too-many-elements", "too-many-tables"],
)
def test_tables_over_the_limit_are_refused_at_load(tmp_path: Path, tables: str) -> None:
    path = wat_module(tmp_path, tables)
    with pytest.raises(bridge.LoadError, match=r"guest\.wasm cannot be instantiated: "):
        bridge.load(path, _config())


def test_real_guests_fit_the_limits(faulty_wasm: Path) -> None:
    with bridge.load(faulty_wasm, _config()) as guest:
        assert guest.interface.memories is not None
        assert len(guest.interface.memories) == 1
        assert guest.call("faulty.v1.Faulty/Echo", b"ok") == b"ok"


# --- Item 11: what a guest sees, and the size of a module -------------------------


def _sees(guest: bridge.GuestModule) -> dict[str, str]:
    lines = guest.call("faulty.v1.Faulty/Sees", b"").decode().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_a_go_guest_sees_the_host_clock_and_random_source_and_nothing_else(
    faulty_go_wasm: Path,
) -> None:
    with bridge.load(faulty_go_wasm, _config()) as guest:
        before = time.time_ns()
        first = _sees(guest)
        after = time.time_ns()
        second = _sees(guest)
    # The host's own real-time clock (granted: README.md, "Guests get ...").
    assert before <= int(first["wall_unix_ns"]) <= after
    assert int(first["monotonic_ns"]) >= 0
    # The host's random source: 16 fresh bytes each time.
    assert len(first["random"]) == 32
    assert first["random"] != second["random"]
    # No environment, arguments or files unless the config grants them.
    assert (first["env"], first["args"], first["file_error"]) == ("0", "0", "true")


def test_a_rust_wasi_guest_sees_the_host_clock(tmp_path: Path) -> None:
    wasm = _build_wasi(tmp_path)
    with bridge.load(wasm, _config()) as guest:
        before = time.time_ns()
        sees = _sees(guest)
        after = time.time_ns()
    assert before <= int(sees["wall_unix_ns"]) <= after
    assert (sees["env"], sees["args"], sees["file_error"]) == ("0", "0", "true")


def _build_wasi(tmp_path: Path) -> Path:
    try:
        return build(
            ROOT / "tests" / "guests" / "faulty-rust",
            tmp_path / "faulty-rust-wasi.wasm",
            rust_target="wasm32-wasi",
        ).output
    except ToolchainError as exc:
        pytest.skip(f"no Rust for wasm32-wasi: {exc}")


def test_a_rust_guest_for_wasm32_unknown_unknown_imports_nothing(faulty_rust_wasm: Path) -> None:
    with bridge.load(faulty_rust_wasm, _config()) as guest:
        assert guest.interface.imports == ()


def test_a_wasi_sleep_past_the_deadline_ends_the_call_when_it_returns(
    faulty_go_wasm: Path,
) -> None:
    config = RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=0.2)
    with bridge.load(faulty_go_wasm, config) as guest:
        with pytest.raises(bridge.DeadlineExceeded):
            guest.call("faulty.v1.Faulty/Sleep", b"1000")
        assert guest.call("faulty.v1.Faulty/Dirty", b"") == b"\x00"


def test_the_readme_says_what_guests_get() -> None:
    """README.md's sandbox paragraph agrees with what the tests above see."""
    readme = (ROOT / "README.md").read_text()
    paragraph = next(p for p in readme.split("\n\n") if p.startswith("Guests get "))
    text = " ".join(paragraph.split())
    assert "clock" in text and "random_get" in text
    assert not re.search(r"no [^.;]*clock", text), "the README denies the clock guests get"
    assert "BRIDGE_MAX_MODULE_MB" in text


def test_a_module_over_the_size_limit_is_refused_before_it_is_compiled(
    faulty_go_wasm: Path,
) -> None:
    size = faulty_go_wasm.stat().st_size
    config = RuntimeConfig(cache_dir=None, max_module_bytes=1 << 20)
    with pytest.raises(bridge.LoadError) as info:
        bridge.load(faulty_go_wasm, config)
    assert str(info.value) == (
        f"{faulty_go_wasm} is {size:,} bytes, over the limit of 1,048,576 bytes for a module "
        "(RuntimeConfig.max_module_bytes, BRIDGE_MAX_MODULE_MB): compile time and memory "
        "grow with size; raise the limit to load it"
    )
    assert info.value.path == str(faulty_go_wasm)
    from_env = RuntimeConfig.from_env({"BRIDGE_MAX_MODULE_MB": "1", "BRIDGE_CACHE_DIR": "off"})
    assert from_env.max_module_bytes == 1 << 20
    with pytest.raises(bridge.LoadError, match="over the limit of 1,048,576 bytes"):
        bridge.load(faulty_go_wasm, from_env)


def test_the_default_size_limit_admits_real_guests_and_refuses_a_huge_file(
    faulty_go_wasm: Path, tmp_path: Path
) -> None:
    limit = RuntimeConfig().max_module_bytes
    assert faulty_go_wasm.stat().st_size * 4 < limit
    huge = tmp_path / "huge.wasm"
    with huge.open("wb") as out:
        out.write(b"\0asm\x01\0\0\0")
        out.truncate(limit + 1)  # sparse: refused by its size, nothing of it is read
    with pytest.raises(bridge.LoadError, match=f"is {limit + 1:,} bytes, over the limit"):
        bridge.load(huge, RuntimeConfig(cache_dir=None))
    assert os.path.getsize(huge) == limit + 1
