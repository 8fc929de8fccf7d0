"""What a compiled module imports and exports, and which kind of module that makes it.

Read once at load time from the module's type information, without instantiating it,
so that `bridge inspect` and the loader agree on what a module is. wasmtime lists only
imports and exports: the memories a module defines for itself are read from its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import wasmtime

from .. import abi
from ..schema.embed import read_leb, sections

__all__ = ["Extern", "ModuleInterface", "ModuleKind", "defined_memories", "describe", "WASI_MODULE"]

WASI_MODULE = "wasi_snapshot_preview1"
METHOD_SIGNATURE = "(i32, i32) -> i64"
MALLOC_SIGNATURE = "(i32) -> i32"
FREE_SIGNATURE = "(i32) -> ()"
NO_ARGS_SIGNATURE = "() -> ()"
SERVED_SIGNATURE = "() -> i64"
# What a module may import from `bridge` (docs/abi.md sections 12, 14 and 15), name ->
# signature: anything else fails loading, by name.
HOST_IMPORTS = {
    abi.IMPORT_HOST_CALL: "(i32, i32, i32, i32) -> i64",
    abi.IMPORT_HOST_RESULT: "(i32, i32) -> i32",
    abi.IMPORT_STREAM_RECV: "() -> i64",
    abi.IMPORT_STREAM_SEND: "(i32, i32, i32) -> i32",
    abi.IMPORT_CALL_INFO: "() -> i64",
    abi.IMPORT_DEADLINE: "() -> i64",
    abi.IMPORT_SET_METADATA: "(i32, i32, i32, i32, i32) -> i32",
    abi.IMPORT_SET_COMPRESSION: "(i32) -> i32",
}


class ModuleKind(str, Enum):
    """What a module is, from the host's point of view."""

    BRIDGE = "bridge"  # speaks the bridge ABI (it has a bridge_abi_vN marker)
    WASI_COMMAND = "wasi-command"  # a program with _start: request on stdin, response on stdout
    PLAIN = "plain-exports"  # functions of scalars, called by name

    def describe(self) -> str:
        return {
            ModuleKind.BRIDGE: "a bridge module",
            ModuleKind.WASI_COMMAND: "a WASI command (it exports _start: run it as a program)",
            ModuleKind.PLAIN: "a module of plain exports (call its functions with numbers)",
        }[self]


@dataclass(frozen=True, slots=True)
class Extern:
    """One import or export: its name, kind (func/memory/global/table/tag) and type."""

    name: str
    kind: str
    signature: str
    module: str = ""  # the import module; empty for exports

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name


@dataclass(frozen=True, slots=True)
class ModuleInterface:
    """A module's imports and exports, with the ABI facts derived from them."""

    exports: tuple[Extern, ...]
    imports: tuple[Extern, ...]
    kind: ModuleKind
    abi_versions: tuple[int, ...] = field(default=())
    #: The type of every memory the module imports or defines (exported or not), when
    #: `describe` was given the module's bytes; None when it was not.
    memories: tuple[str, ...] | None = None

    @property
    def abi_version(self) -> int | None:
        return self.abi_versions[0] if len(self.abi_versions) == 1 else None

    @property
    def methods(self) -> tuple[str, ...]:
        """Exports named like gRPC methods (`pkg.Service/Method`), sorted."""
        return tuple(sorted(e.name for e in self.exports if abi.is_method_export(e.name)))

    @property
    def uses_host_calls(self) -> bool:
        """Whether the module imports from `bridge` (host calls, streams, call context)."""
        return any(i.module == abi.HOST_MODULE for i in self.imports)

    @property
    def host_imports(self) -> frozenset[str]:
        """The names the module imports from `bridge`."""
        return frozenset(i.name for i in self.imports if i.module == abi.HOST_MODULE)

    @property
    def is_reactor(self) -> bool:
        return abi.EXPORT_INITIALIZE in self.export_names

    @property
    def export_names(self) -> frozenset[str]:
        return frozenset(e.name for e in self.exports)

    def export(self, name: str) -> Extern | None:
        return next((e for e in self.exports if e.name == name), None)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "abi_version": self.abi_version,
            "reactor": self.is_reactor,
            "methods": list(self.methods),
            "exports": [
                {"name": e.name, "kind": e.kind, "type": e.signature} for e in self.exports
            ],
            "imports": [
                {"module": i.module, "name": i.name, "kind": i.kind, "type": i.signature}
                for i in self.imports
            ],
        }


def describe(module: wasmtime.Module, wasm: bytes | None = None) -> ModuleInterface:
    """Read a compiled module's interface and classify it; with `wasm`, the bytes it was
    compiled from, also every memory it has (`ModuleInterface.memories`)."""
    exports = tuple(Extern(e.name, *_kind_and_signature(e.type)) for e in module.exports)
    imports = tuple(
        Extern(i.name or "", *_kind_and_signature(i.type), module=i.module) for i in module.imports
    )
    names = {e.name for e in exports}
    versions = tuple(sorted(v for n in names if (v := abi.marker_version(n)) is not None))
    if versions:
        kind = ModuleKind.BRIDGE
    elif "_start" in names:
        kind = ModuleKind.WASI_COMMAND
    else:
        kind = ModuleKind.PLAIN
    memories = None
    if wasm is not None:
        memories = tuple(i.signature for i in imports if i.kind == "memory")
        memories += defined_memories(wasm)
    return ModuleInterface(
        exports=exports, imports=imports, kind=kind, abi_versions=versions, memories=memories
    )


_MEMORY_SECTION = 5


def defined_memories(wasm: bytes) -> tuple[str, ...]:
    """The types of the memories `wasm` defines (its memory section), written as
    `describe` writes an exported memory's. `wasm` must be a module wasmtime compiled."""
    for section_id, start, end, _ in sections(wasm):
        if section_id != _MEMORY_SECTION:
            continue
        _, pos = read_leb(wasm, start + 1)  # the section's size
        count, pos = read_leb(wasm, pos, what="the memory count")
        found = []
        for _ in range(count):
            flags = wasm[pos]  # bit 0: has a maximum, 2: 64-bit, 3: custom page size
            minimum, pos = read_leb(wasm, pos + 1, max_bytes=10, what="a memory's minimum")
            top = ""
            if flags & 1:
                maximum, pos = read_leb(wasm, pos, max_bytes=10, what="a memory's maximum")
                top = f"..{maximum}"
            if flags & 8:
                _, pos = read_leb(wasm, pos, what="a memory's page size")
            found.append(f"{'i64' if flags & 4 else 'i32'} pages {minimum}{top}")
            if pos > end:
                raise ValueError("the memory section runs past its end")
        return tuple(found)
    return ()


def _kind_and_signature(ty: object) -> tuple[str, str]:
    if isinstance(ty, wasmtime.FuncType):
        params = ", ".join(str(p) for p in ty.params)
        results = ty.results
        result = str(results[0]) if len(results) == 1 else f"({', '.join(map(str, results))})"
        return "func", f"({params}) -> {result}"
    if isinstance(ty, wasmtime.MemoryType):
        limits = ty.limits
        top = "" if limits.max is None else f"..{limits.max}"
        return "memory", f"{'i64' if ty.is_64 else 'i32'} pages {limits.min}{top}"
    if isinstance(ty, wasmtime.GlobalType):
        return "global", f"{'mut ' if ty.mutable else ''}{ty.content}"
    if isinstance(ty, wasmtime.TableType):
        return "table", str(ty.element)
    return "other", type(ty).__name__
