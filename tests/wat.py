"""Inline WAT modules for tests: a well-behaved ABI skeleton to which tests add methods."""

from __future__ import annotations

from pathlib import Path

import wasmtime

# A minimal bridge module: bump allocator, a free counter, and the ABI marker.
SKELETON = """
(module
  {imports}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $frees (mut i32) (i32.const 0))
  (func (export "{marker}"))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    {malloc_body})
  (func (export "free") (param i32)
    (global.set $frees (i32.add (global.get $frees) (i32.const 1))))
  (func (export "frees") (result i32) (global.get $frees))
  {body}
)
"""

BUMP_MALLOC = """
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7))
                               (i32.const -8)))
    (local.get $p)"""


def wat_module(
    tmp_path: Path,
    body: str = "",
    *,
    name: str = "guest",
    marker: str = "bridge_abi_v1",
    malloc_body: str = BUMP_MALLOC,
    imports: str = "",
) -> Path:
    """Write a bridge-shaped module with extra `body` to tmp_path/name.wasm."""
    text = SKELETON.format(body=body, marker=marker, malloc_body=malloc_body, imports=imports)
    return write_wat(tmp_path / f"{name}.wasm", text)


def write_wat(path: Path, text: str) -> Path:
    path.write_bytes(wasmtime.wat2wasm(text))
    return path
