"""Field numbers that survive a signature change: read from the file written last time.

A field keeps its number while its name and type stay; a new field, or one whose type
changed, gets the next number no one has used; the numbers (and names) of fields that
are gone are `reserved`, so no later field reuses them and old messages still decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2

from ..errors import SchemaError
from .compile import compile_protos
from .model import FieldKind, kind_of
from .protofile import MessageSpec, ProtoFile

__all__ = ["Changes", "assign_numbers", "read_previous"]

_F = descriptor_pb2.FieldDescriptorProto
#: Protobuf keeps these for itself.
_IMPLEMENTATION_RESERVED = range(19000, 20000)
_MAX_FIELD = 2**29 - 1


@dataclass
class Changes:
    """What a new derivation changed in the previous file, for the command to say."""

    #: (message, field, number): a field that is gone, or whose type changed.
    reserved: list[tuple[str, str, int]] = field(default_factory=list)
    #: (message, field, number) of fields the previous file did not have.
    added: list[tuple[str, str, int]] = field(default_factory=list)
    dropped_messages: list[str] = field(default_factory=list)
    dropped_enums: list[str] = field(default_factory=list)
    dropped_rpcs: list[str] = field(default_factory=list)


def read_previous(path: Path) -> descriptor_pb2.FileDescriptorProto | None:
    """The file's descriptor as protoc reads it (None when there is no file yet)."""
    if not path.exists():
        return None
    data = compile_protos([path], [path.resolve().parent])
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    previous = next((f for f in files if f.name == path.name), None)
    if previous is None:  # pragma: no cover - protoc names the file by its include root
        raise SchemaError(f"{path}: protoc did not describe it")
    return previous


def assign_numbers(
    proto: ProtoFile, previous: descriptor_pb2.FileDescriptorProto | None
) -> Changes:
    """Number every field of `proto` in place, keeping `previous`'s numbers; what changed."""
    changes = Changes()
    old_messages = {m.name: m for m in previous.message_type} if previous else {}
    package = previous.package if previous else proto.package
    for message in proto.messages:
        old = old_messages.get(message.name)
        if old is None:
            for number, spec in enumerate(message.fields, start=1):
                spec.number = number
            if previous is not None:
                changes.added += [(message.name, f.name, f.number) for f in message.fields]
            continue
        _renumber(message, old, package, changes)
    if previous is not None:
        derived = {m.name for m in proto.messages}
        changes.dropped_messages = [m.name for m in previous.message_type if m.name not in derived]
        enums = {e.name for e in proto.enums}
        changes.dropped_enums = [e.name for e in previous.enum_type if e.name not in enums]
        rpcs = {r.name for r in proto.rpcs}
        changes.dropped_rpcs = [
            f"{s.name}/{m.name}" for s in previous.service for m in s.method if m.name not in rpcs
        ]
    return changes


def _renumber(
    message: MessageSpec,
    old: descriptor_pb2.DescriptorProto,
    package: str,
    changes: Changes,
) -> None:
    reserved = [(r.start, r.end - 1) for r in old.reserved_range]
    reserved_names = list(old.reserved_name)
    taken = {f.number for f in old.field} | {n for a, b in reserved for n in (a, b)}
    was = {f.name: (f.number, _declaration(f, old, package)) for f in old.field}
    next_number = max(taken, default=0) + 1

    def fresh() -> int:
        nonlocal next_number
        while next_number in _IMPLEMENTATION_RESERVED:
            next_number += 1
        if next_number > _MAX_FIELD:
            raise SchemaError(f"message {message.name} has run out of field numbers")
        next_number += 1
        return next_number - 1

    new_names = {f.name for f in message.fields}
    for spec in message.fields:
        if spec.name in was and was[spec.name][1] == spec.declaration:
            spec.number = was[spec.name][0]
            continue
        if spec.name in was:  # its type changed: old senders' values must not be misread
            reserved.append((was[spec.name][0], was[spec.name][0]))
            changes.reserved.append((message.name, spec.name, was[spec.name][0]))
        if spec.name in reserved_names:  # a field that comes back: its name is free again
            reserved_names.remove(spec.name)
        spec.number = fresh()
        changes.added.append((message.name, spec.name, spec.number))
    for name, (number, _) in was.items():
        if name not in new_names:
            reserved.append((number, number))
            reserved_names.append(name)
            changes.reserved.append((message.name, name, number))
    message.reserved_numbers = _merged(reserved)
    message.reserved_names = reserved_names


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _declaration(
    field: descriptor_pb2.FieldDescriptorProto,
    message: descriptor_pb2.DescriptorProto,
    package: str,
) -> str:
    """The field's type as FieldSpec.declaration spells it, to compare old with new."""
    if field.label == _F.LABEL_REPEATED and field.type == _F.TYPE_MESSAGE:
        entry_name = field.type_name.rsplit(".", 1)[-1]
        entry = next((n for n in message.nested_type if n.name == entry_name), None)
        if entry is not None and entry.options.map_entry:
            key, value = (_type(f, package) for f in entry.field)
            return f"map<{key}, {value}>"
    text = _type(field, package)
    if field.label == _F.LABEL_REPEATED:
        return f"repeated {text}"
    if field.proto3_optional:
        return f"optional {text}"
    return text


def _type(field: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
    kind = kind_of(field.type)
    if kind is not None and kind not in (FieldKind.MESSAGE, FieldKind.ENUM):
        return str(kind.value)
    name = field.type_name.lstrip(".")
    return name.removeprefix(f"{package}.") if package else name
