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
    # Streams and the call context (docs/abi.md sections 14 and 15)
    "IMPORT_STREAM_RECV": "ImportStreamRecv",
    "IMPORT_STREAM_SEND": "ImportStreamSend",
    "IMPORT_CALL_INFO": "ImportCallInfo",
    "IMPORT_DEADLINE": "ImportDeadline",
    "IMPORT_SET_METADATA": "ImportSetMetadata",
    "IMPORT_SET_COMPRESSION": "ImportSetCompression",
    "RECV_END": "FlagRecvEnd",
    "RECV_COMPRESSED": "FlagRecvCompressed",
    "SEND_UNCOMPRESSED": "FlagSendUncompressed",
    "STREAM_CLOSED": "StreamClosed",
    "METADATA_HEADER": "MetadataHeader",
    "METADATA_TRAILER": "MetadataTrailer",
    "METADATA_REFUSED": "MetadataRefused",
    "COMPRESSION_NONE": "CompressionNone",
    "COMPRESSION_GZIP": "CompressionGzip",
    "NO_DEADLINE": "NoDeadline",
}

_VALUE = r'(0x[0-9A-Fa-f_]+|-?[0-9_]+|"[^"]*")'


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


def test_the_spec_gives_every_import_its_signature() -> None:
    """Each `bridge` import the host accepts is in docs/abi.md's tables, with the
    signature the load check wants."""
    from bridge.runtime.interface import HOST_IMPORTS

    spec = (ROOT / "docs" / "abi.md").read_text()
    for name, signature in HOST_IMPORTS.items():
        row = next((ln for ln in spec.splitlines() if ln.startswith(f"| `bridge.{name}`")), None)
        assert row is not None, name
        documented = re.search(r"`\((.*?)\) -> (\w+)`", row)
        assert documented is not None, row
        params, result = signature.split(" -> ")
        assert re.findall(r"i32|i64", documented.group(1)) == re.findall(r"i32|i64", params), row
        assert documented.group(2) == result, row
