"""bridge/abi.py, guest-go and guest-rust declare the same ABI v1 constants.

The guests' constants are read from their source, so this runs without any toolchain;
the native `go test` and `cargo test` suites then check their own packing against them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge import abi
from tests.conftest import ROOT

# Python name -> Go name; Rust uses the Python names.
CONSTANTS = {
    "ABI_VERSION": "ABIVersion",
    "PTR_MASK": "PtrMask",
    "LEN_SHIFT": "LenShift",
    "LEN_BITS": "LenBits",
    "MAX_MESSAGE_LEN": "MaxMessageLen",
    "BORROWED_BIT": "BorrowedBit",
    "ERROR_BIT": "ErrorBit",
    "MAX_STATUS_CODE": "MaxStatusCode",
    "MARKER_PREFIX": "MarkerPrefix",
}

_VALUE = r'(0x[0-9A-Fa-f_]+|[0-9_]+|"[^"]*")'


def _literal(text: str) -> int | str:
    if text.startswith('"'):
        return text.strip('"')
    return int(text.replace("_", ""), 0)


def _declared(source: Path, pattern: str) -> dict[str, int | str]:
    found = {m.group(1): _literal(m.group(2)) for m in re.finditer(pattern, source.read_text())}
    assert found, f"no constants found in {source}"
    return found


def test_go_mirrors_python() -> None:
    go = _declared(ROOT / "guest-go" / "abi.go", rf"(?m)^\s*(\w+)\s*(?:\w+\s*)?=\s*{_VALUE}")
    for python_name, go_name in CONSTANTS.items():
        assert go.get(go_name) == getattr(abi, python_name), (python_name, go_name)


def test_rust_mirrors_python() -> None:
    rust = _declared(
        ROOT / "guest-rust" / "src" / "abi.rs",
        rf"(?m)^\s*pub const (\w+)\s*:\s*[&\w' ]+=\s*{_VALUE};",
    )
    for python_name in CONSTANTS:
        assert rust.get(python_name) == getattr(abi, python_name), python_name


@pytest.mark.parametrize("name", ["bridge_abi_v1", "malloc", "free", "_initialize", "memory"])
def test_the_spec_names_every_export(name: str) -> None:
    spec = (ROOT / "docs" / "abi.md").read_text()
    assert f"`{name}`" in spec
