"""The schema inside the module: a wasm custom section holding the FileDescriptorSet.

`bridge build` writes it, and `bridge inspect`, `bridge call` and `bridge serve` read it,
so a module describes its own services and no .proto is needed at run time. Custom
sections are ignored by every engine; the format is the core spec's: id 0, a LEB128
size, a LEB128-prefixed UTF-8 name, then the payload.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from google.protobuf.message import DecodeError

from ..errors import InvalidModule, SchemaError
from .messages import BROKEN, MessageTypes
from .model import Schema

__all__ = ["SECTION_NAME", "embed", "embedded_schema", "read_leb", "read_section", "sections"]

SECTION_NAME = "bridge.schema"
_HEADER = b"\0asm\x01\0\0\0"
_CUSTOM = 0


def sections(wasm: bytes) -> Iterator[tuple[int, int, int, str | None]]:
    """(id, start, end, custom name or None) for each section: its bytes are wasm[start:end]."""
    if not wasm.startswith(_HEADER):
        raise InvalidModule("not a WebAssembly module (version 1)")
    pos = len(_HEADER)
    while pos < len(wasm):
        start = pos
        section_id = wasm[pos]
        size, pos = read_leb(wasm, pos + 1)
        end = pos + size
        if end > len(wasm):
            raise InvalidModule("a section runs past the end of the module")
        name = None
        if section_id == _CUSTOM:
            length, at = read_leb(wasm, pos)
            name = wasm[at : at + length].decode("utf-8", "replace")
        yield section_id, start, end, name
        pos = end


def read_section(wasm: bytes, name: str = SECTION_NAME) -> bytes | None:
    """The payload of the custom section `name`, or None when the module has none."""
    for section_id, start, end, found in sections(wasm):
        if section_id == _CUSTOM and found == name:
            _, pos = read_leb(wasm, start + 1)
            length, pos = read_leb(wasm, pos)
            return wasm[pos + length : end]
    return None


def embed(wasm: bytes, payload: bytes, name: str = SECTION_NAME) -> bytes:
    """`wasm` with the custom section `name` holding `payload` (replacing an older one)."""
    kept = bytearray(wasm[: len(_HEADER)])
    for section_id, start, end, found in sections(wasm):
        if not (section_id == _CUSTOM and found == name):
            kept += wasm[start:end]
    encoded_name = name.encode("utf-8")
    body = _leb(len(encoded_name)) + encoded_name + payload
    return bytes(kept) + bytes([_CUSTOM]) + _leb(len(body)) + body


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_leb(
    data: bytes, pos: int, *, max_bytes: int = 5, what: str = "a section size"
) -> tuple[int, int]:
    """The unsigned LEB128 at `pos` (a u32 in at most 5 bytes; a u64 takes `max_bytes=10`)
    and the position after it; InvalidModule naming `what` when it is not one."""
    result = shift = 0
    for _ in range(max_bytes):
        if pos >= len(data):
            raise InvalidModule(f"{what} runs past the end of the module")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise InvalidModule(f"{what} is not a valid LEB128 {'u32' if max_bytes <= 5 else 'u64'}")


def embedded_schema(wasm: bytes, source: str | os.PathLike[str] | None = None) -> Schema | None:
    """The schema a module carries in its `bridge.schema` section, or None.

    The schema is checked whole here, where the module is read: every type and import
    it names must be in it. InvalidModule (a LoadError) says which module (`source`, its
    path) is broken, rather than a protobuf TypeError surfacing at the first use.
    """
    payload = read_section(wasm)
    if payload is None:
        return None
    try:
        schema = Schema.from_descriptor_set(payload)
        MessageTypes(schema)  # builds protobuf's descriptors: every name must resolve
        return schema
    except (DecodeError, SchemaError, TypeError, ValueError, KeyError, IndexError) as exc:
        name = os.fspath(source) if source is not None else "the module"
        raise InvalidModule(
            f"the schema embedded in {name} is broken: {_reason(exc)}; rebuild the module",
            path=None if source is None else name,
        ) from exc


def _reason(exc: Exception) -> str:
    if isinstance(exc, DecodeError):
        return f"its {SECTION_NAME} section is not a FileDescriptorSet"
    text = " ".join(str(exc).split())  # one line, whatever protobuf wrapped
    if isinstance(exc, SchemaError):
        return text.removeprefix(BROKEN)
    # The model reads what protoc writes; a damaged set can break it in other ways.
    return f"{type(exc).__name__}: {text}"
