"""A .proto file as plain values, and its text: what `bridge proto` derives and writes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EnumSpec", "FieldSpec", "MessageSpec", "ProtoFile", "RpcSpec"]


@dataclass
class FieldSpec:
    name: str
    #: The type as the .proto spells it: int64, Money, google.protobuf.Timestamp, map<K, V>.
    type: str
    #: "", "optional" or "repeated" (a map's label is part of its type).
    label: str = ""
    #: 0 until numbering.assign_numbers gives it one.
    number: int = 0

    @property
    def declaration(self) -> str:
        """The field's type with its label: how two versions of a field are compared."""
        return f"{self.label} {self.type}" if self.label else self.type


@dataclass
class MessageSpec:
    name: str
    fields: list[FieldSpec]
    comment: str = ""
    #: Inclusive ranges of field numbers no field may use again.
    reserved_numbers: list[tuple[int, int]] = field(default_factory=list)
    reserved_names: list[str] = field(default_factory=list)


@dataclass
class EnumSpec:
    name: str
    values: list[tuple[str, int]]
    comment: str = ""


@dataclass
class RpcSpec:
    name: str
    #: Where it came from, as given on the command line: module:function.
    function: str
    request: str
    response: str
    comment: str = ""


@dataclass
class ProtoFile:
    package: str
    service: str
    rpcs: list[RpcSpec]
    #: Requests and responses first, in rpc order, then the named types as first met.
    messages: list[MessageSpec]
    enums: list[EnumSpec]
    imports: list[str]
    header: str = ""

    def message(self, name: str) -> MessageSpec:
        return next(m for m in self.messages if m.name == name)

    def text(self) -> str:
        lines = [*_comment(self.header, ""), 'syntax = "proto3";', "", f"package {self.package};"]
        if self.imports:
            lines.append("")
            lines += [f'import "{path}";' for path in sorted(self.imports)]
        lines += ["", f"service {self.service} {{"]
        for i, rpc in enumerate(self.rpcs):
            if i and rpc.comment:
                lines.append("")
            lines += _comment(rpc.comment, "  ")
            lines.append(f"  rpc {rpc.name}({rpc.request}) returns ({rpc.response});")
        lines.append("}")
        for message in self.messages:
            lines += ["", *_comment(message.comment, ""), f"message {message.name} {{"]
            if message.reserved_numbers:
                ranges = ", ".join(
                    str(a) if a == b else f"{a} to {b}" for a, b in message.reserved_numbers
                )
                lines.append(f"  reserved {ranges};")
            if message.reserved_names:
                lines.append(f"  reserved {', '.join(_quoted(n) for n in message.reserved_names)};")
            lines += [f"  {f.declaration} {f.name} = {f.number};" for f in message.fields]
            lines.append("}")
        for enum in self.enums:
            lines += ["", *_comment(enum.comment, ""), f"enum {enum.name} {{"]
            lines += [f"  {name} = {number};" for name, number in enum.values]
            lines.append("}")
        return "\n".join(lines) + "\n"


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}//{' ' + line if line else ''}" for line in text.splitlines()]


def _quoted(name: str) -> str:
    return f'"{name}"'
