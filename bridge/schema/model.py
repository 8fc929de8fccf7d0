"""The schema model: a FileDescriptorSet turned into frozen dataclasses.

Every other part (the Python, Go and Rust emitters, the sidecar, the CLI) reads this
model, never raw descriptors or .proto text. Links go by full name (`pricing.v1.Quote`,
no leading dot) through the Schema's lookups, so every object is a plain value:
`schema.message(field.type_name)` goes down from a field to its message,
`schema.message(message.parent)` up from a nested message to its parent.

proto2 is modelled as protobuf defines it: explicit presence and defaults
(`Field.default`, `Schema.default_of`), required fields, groups (a MESSAGE field with
`group` set, written with wire types 3 and 4), closed enums (`Enum.closed`: an unknown
number is kept with the unknown fields) and extension ranges. Extensions themselves are
not generated: generated codecs keep their bytes as unknown fields, so a guest that
echoes a message keeps them.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2

from .. import abi, options_pb2

__all__ = [
    "INT_RANGES",
    "Default",
    "Enum",
    "Field",
    "FieldKind",
    "File",
    "Message",
    "Method",
    "MethodKind",
    "Schema",
    "Service",
    "kind_of",
]

_F = descriptor_pb2.FieldDescriptorProto


class FieldKind(str, enum.Enum):
    """A field's protobuf type, by its .proto name."""

    DOUBLE = "double"
    FLOAT = "float"
    INT64 = "int64"
    UINT64 = "uint64"
    INT32 = "int32"
    FIXED64 = "fixed64"
    FIXED32 = "fixed32"
    BOOL = "bool"
    STRING = "string"
    MESSAGE = "message"
    BYTES = "bytes"
    UINT32 = "uint32"
    ENUM = "enum"
    SFIXED32 = "sfixed32"
    SFIXED64 = "sfixed64"
    SINT32 = "sint32"
    SINT64 = "sint64"

    @property
    def wire_type(self) -> int:
        """The wire type of one value: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32."""
        if self in _FIXED64:
            return 1
        if self in _FIXED32:
            return 5
        if self in (FieldKind.STRING, FieldKind.BYTES, FieldKind.MESSAGE):
            return 2
        return 0

    @property
    def packable(self) -> bool:
        """Scalar numbers (and enums, bools) may be packed when repeated."""
        return self.wire_type != 2


_FIXED64 = frozenset({FieldKind.DOUBLE, FieldKind.FIXED64, FieldKind.SFIXED64})
_FIXED32 = frozenset({FieldKind.FLOAT, FieldKind.FIXED32, FieldKind.SFIXED32})
_KINDS: dict[int, FieldKind] = {
    _F.TYPE_DOUBLE: FieldKind.DOUBLE,
    _F.TYPE_FLOAT: FieldKind.FLOAT,
    _F.TYPE_INT64: FieldKind.INT64,
    _F.TYPE_UINT64: FieldKind.UINT64,
    _F.TYPE_INT32: FieldKind.INT32,
    _F.TYPE_FIXED64: FieldKind.FIXED64,
    _F.TYPE_FIXED32: FieldKind.FIXED32,
    _F.TYPE_BOOL: FieldKind.BOOL,
    _F.TYPE_STRING: FieldKind.STRING,
    _F.TYPE_MESSAGE: FieldKind.MESSAGE,
    _F.TYPE_BYTES: FieldKind.BYTES,
    _F.TYPE_UINT32: FieldKind.UINT32,
    _F.TYPE_ENUM: FieldKind.ENUM,
    _F.TYPE_SFIXED32: FieldKind.SFIXED32,
    _F.TYPE_SFIXED64: FieldKind.SFIXED64,
    _F.TYPE_SINT32: FieldKind.SINT32,
    _F.TYPE_SINT64: FieldKind.SINT64,
}

_I32, _I64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
_U32, _U64 = (0, 2**32 - 1), (0, 2**64 - 1)
#: The values each integer type holds, by its FieldDescriptor(Proto) type: inclusive.
INT_RANGES: dict[int, tuple[int, int]] = {
    _F.TYPE_INT32: _I32,
    _F.TYPE_SINT32: _I32,
    _F.TYPE_SFIXED32: _I32,
    _F.TYPE_INT64: _I64,
    _F.TYPE_SINT64: _I64,
    _F.TYPE_SFIXED64: _I64,
    _F.TYPE_UINT32: _U32,
    _F.TYPE_FIXED32: _U32,
    _F.TYPE_UINT64: _U64,
    _F.TYPE_FIXED64: _U64,
}


#: A field's default: bool, int (enums by number), float, str or bytes.
Default = bool | int | float | str | bytes


def kind_of(proto_type: int) -> FieldKind | None:
    """The FieldKind of a FieldDescriptor(Proto) type; None for a group."""
    return _KINDS.get(proto_type)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message."""

    name: str
    number: int
    kind: FieldKind
    json_name: str
    repeated: bool = False
    #: The full name of the message or enum type, for MESSAGE and ENUM fields.
    type_name: str | None = None
    #: The oneof this field belongs to (real oneofs only, not proto3 `optional`).
    oneof: str | None = None
    #: Explicit presence: proto3 `optional`, or a proto2 `optional` (or `required`) field.
    optional: bool = False
    #: Repeated scalars are written packed (proto3's default, unless [packed = false]).
    packed: bool = False
    #: For a map field: its key and value (the map entry's fields 1 and 2).
    map_key: Field | None = None
    map_value: Field | None = None
    #: proto2 `required`: a message without it does not parse or serialize.
    required: bool = False
    #: A proto2 group: a MESSAGE field written between start- and end-group tags.
    group: bool = False
    #: The declared `[default = ...]` of a proto2 field, typed (`Schema.default_of` gives
    #: the value a getter returns, declared or not).
    default: Default | None = None

    @property
    def is_map(self) -> bool:
        return self.map_key is not None

    @property
    def wire_type(self) -> int:
        """The wire type of one value: a group's start tag (3), else its kind's."""
        return 3 if self.group else self.kind.wire_type

    @property
    def has_presence(self) -> bool:
        """Whether "set to the default" differs from "not set" (it is then always written)."""
        if self.repeated:
            return False
        return self.kind is FieldKind.MESSAGE or self.oneof is not None or self.optional


@dataclass(frozen=True, slots=True)
class Message:
    """A message type; `parent` is the full name of the enclosing message, if nested."""

    full_name: str
    name: str
    file: str
    fields: tuple[Field, ...]
    #: Real oneofs, in declaration order: name -> the names of their fields.
    oneofs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    parent: str | None = None
    is_map_entry: bool = False
    #: proto2 extension ranges, [start, end) as in the descriptor; their fields are kept
    #: as unknown fields.
    extension_ranges: tuple[tuple[int, int], ...] = ()
    #: `option message_set_wire_format = true` (its extensions are unknown fields too).
    message_set: bool = False

    @property
    def required(self) -> tuple[Field, ...]:
        """The proto2 `required` fields, in declaration order."""
        return tuple(f for f in self.fields if f.required)


@dataclass(frozen=True, slots=True)
class Enum:
    """An enum type: (name, number) pairs in declaration order.

    proto3 enums are open (any number is a value); proto2 enums are `closed`: a number
    without a name is not a value, and parsers keep it with the unknown fields.
    """

    full_name: str
    name: str
    file: str
    values: tuple[tuple[str, int], ...]
    parent: str | None = None
    closed: bool = False


class MethodKind(str, enum.Enum):
    """gRPC's four kinds of method (docs/abi.md section 14)."""

    UNARY = "unary"
    SERVER_STREAMING = "server_streaming"
    CLIENT_STREAMING = "client_streaming"
    BIDI_STREAMING = "bidi_streaming"

    @classmethod
    def of(cls, client_streaming: bool, server_streaming: bool) -> MethodKind:
        if client_streaming:
            return cls.BIDI_STREAMING if server_streaming else cls.CLIENT_STREAMING
        return cls.SERVER_STREAMING if server_streaming else cls.UNARY

    @property
    def client_streaming(self) -> bool:
        return self in (MethodKind.CLIENT_STREAMING, MethodKind.BIDI_STREAMING)

    @property
    def server_streaming(self) -> bool:
        return self in (MethodKind.SERVER_STREAMING, MethodKind.BIDI_STREAMING)

    @property
    def label(self) -> str:
        """As people say it: "server-streaming"."""
        return self.value.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Method:
    """An RPC: one function to migrate (a unary one, unless `kind` says otherwise)."""

    name: str
    service: str  # the service's full name
    input: str  # full message names
    output: str
    kind: MethodKind = MethodKind.UNARY

    @property
    def full_name(self) -> str:
        """`pkg.Service/Method`: the gRPC name, and the wasm export's (ABI v1 section 3)."""
        package, _, service = self.service.rpartition(".")
        return abi.method_export_name(package, service, self.name)


@dataclass(frozen=True, slots=True)
class Service:
    full_name: str
    name: str
    package: str
    file: str
    methods: tuple[Method, ...]
    #: Marked `option (bridge.host) = true`: Python implements it and guests call it.
    host: bool = False
    #: Its streaming RPCs (docs/abi.md section 14), kept apart from the unary `methods`
    #: that routing, diff and proto work with.
    streaming: tuple[Method, ...] = ()

    #: The RPC names in declaration order.
    declared: tuple[str, ...] = ()

    @property
    def all_methods(self) -> tuple[Method, ...]:
        """Every RPC, unary and streaming, in the order the schema declares them."""
        order = {name: i for i, name in enumerate(self.declared)}
        return tuple(sorted(self.methods + self.streaming, key=lambda m: order.get(m.name, 0)))


@dataclass(frozen=True, slots=True)
class File:
    name: str  # as protoc names it: relative to its include root
    package: str
    syntax: str
    dependencies: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    """Every file, message, enum and service of a compiled FileDescriptorSet."""

    descriptor_set: bytes
    #: The files the schema was made for (not their imports), in the order given.
    targets: tuple[str, ...]
    files: dict[str, File] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    @classmethod
    def compile(cls, files: Sequence[Path], includes: Sequence[Path] = ()) -> Schema:
        """Compile .proto files with grpcio-tools and build the model (SchemaError on any
        problem, with the file and line)."""
        from .compile import compile_protos

        data = compile_protos(files, includes)
        fds = descriptor_pb2.FileDescriptorSet.FromString(data)
        # protoc names the files relative to their include root; the targets are the
        # last files of the set that were asked for, in order.
        asked = {f.resolve() for f in files}
        roots = [i.resolve() for i in includes] or sorted({f.parent for f in asked})
        targets = [
            fd.name for fd in fds.file if any((Path(r) / fd.name).resolve() in asked for r in roots)
        ]
        return cls.from_descriptor_set(data, targets)

    @classmethod
    def from_descriptor_set(cls, data: bytes, targets: Iterable[str] | None = None) -> Schema:
        """The model of serialized FileDescriptorSet bytes.

        `targets` default to the files no other file of the set imports: the ones a
        module was built from, not their imports (descriptor.proto, bridge/options.proto).
        """
        fds = descriptor_pb2.FileDescriptorSet.FromString(data)
        imported = {dep for f in fds.file for dep in f.dependency}
        names = (
            tuple(targets)
            if targets is not None
            else tuple(f.name for f in fds.file if f.name not in imported)
        )
        schema = cls(descriptor_set=data, targets=names)
        for fd in fds.file:
            _Reader(schema, fd).read()
        return schema

    def message(self, full_name: str) -> Message:
        return self.messages[full_name]

    def enum(self, full_name: str) -> Enum:
        return self.enums[full_name]

    def default_of(self, f: Field) -> Default:
        """The value a singular field reads as when it is not set: its declared default,
        else a closed enum's first value, else its kind's zero (messages: None is not a
        default; they have none)."""
        if f.default is not None:
            return f.default
        if f.kind is FieldKind.ENUM and f.type_name:
            enum = self.enums.get(f.type_name)
            if enum is not None and enum.closed and enum.values:
                return enum.values[0][1]
            return 0
        return _ZEROS.get(f.kind, 0)

    def method(self, full_name: str) -> Method:
        """A method by its gRPC name, `pkg.Service/Method`; KeyError when there is none."""
        service, _, name = full_name.partition("/")
        found = next((m for m in self.services[service].methods if m.name == name), None)
        if found is None:
            raise KeyError(full_name)
        return found

    def target_messages(self) -> list[Message]:
        """The messages defined in the target files (nested ones too, map entries not)."""
        return [m for m in self.messages.values() if m.file in self.targets and not m.is_map_entry]

    def target_services(self) -> list[Service]:
        """Services of the target files that guests implement (not host services)."""
        return [s for s in self.services.values() if s.file in self.targets and not s.host]

    def host_services(self) -> list[Service]:
        """Services of the target files that the Python host implements for guests."""
        return [s for s in self.services.values() if s.file in self.targets and s.host]


_ZEROS: dict[FieldKind, Default] = {
    FieldKind.BOOL: False,
    FieldKind.DOUBLE: 0.0,
    FieldKind.FLOAT: 0.0,
    FieldKind.STRING: "",
    FieldKind.BYTES: b"",
}


def _default(proto: _F, kind: FieldKind, enum_values: dict[str, int]) -> Default | None:
    """A declared `[default = ...]`, from protoc's text form of it."""
    if not proto.HasField("default_value"):
        return None
    text = proto.default_value
    if kind is FieldKind.BOOL:
        return text == "true"
    if kind in (FieldKind.DOUBLE, FieldKind.FLOAT):
        return float(text)  # protoc writes inf, -inf and nan as Python reads them
    if kind is FieldKind.STRING:
        return text
    if kind is FieldKind.BYTES:
        # protoc C-escapes bytes defaults (\ooo, \n, \", ...).
        return codecs.escape_decode(text.encode("latin-1"))[0]
    if kind is FieldKind.ENUM:
        return enum_values[text]
    return int(text)


def _is_host(options: descriptor_pb2.ServiceOptions) -> bool:
    """Whether `option (bridge.host) = true` is set (bridge.options_pb2 registers it)."""
    return bool(options.Extensions[options_pb2.host])  # type: ignore[index]


class _Reader:
    """Reads one FileDescriptorProto into the schema."""

    def __init__(self, schema: Schema, fd: descriptor_pb2.FileDescriptorProto):
        self.schema = schema
        self.fd = fd

    def read(self) -> None:
        fd = self.fd
        self.schema.files[fd.name] = File(
            fd.name, fd.package, fd.syntax or "proto2", tuple(fd.dependency)
        )
        prefix = f"{fd.package}." if fd.package else ""
        # Every enum first: a field's default may name a value of one declared later.
        self._enums(fd.enum_type, fd.message_type, prefix, None)
        for message in fd.message_type:
            self._message(message, prefix, None)
        for service in fd.service:
            self._service(service, prefix)

    def _enums(
        self,
        enums: Iterable[descriptor_pb2.EnumDescriptorProto],
        messages: Iterable[descriptor_pb2.DescriptorProto],
        prefix: str,
        parent: str | None,
    ) -> None:
        for e in enums:
            self._enum(e, prefix, parent)
        for m in messages:
            full = f"{prefix}{m.name}"
            self._enums(m.enum_type, m.nested_type, f"{full}.", full)

    def _message(
        self, proto: descriptor_pb2.DescriptorProto, prefix: str, parent: str | None
    ) -> None:
        full = f"{prefix}{proto.name}"
        for nested in proto.nested_type:
            self._message(nested, f"{full}.", full)
        real_oneofs = [
            o.name
            for i, o in enumerate(proto.oneof_decl)
            if not any(f.proto3_optional and f.oneof_index == i for f in proto.field)
        ]
        fields = tuple(self._field(f, full) for f in proto.field)
        oneofs = tuple(
            (name, tuple(f.name for f in fields if f.oneof == name)) for name in real_oneofs
        )
        self.schema.messages[full] = Message(
            full_name=full,
            name=proto.name,
            file=self.fd.name,
            fields=fields,
            oneofs=oneofs,
            parent=parent,
            is_map_entry=proto.options.map_entry,
            extension_ranges=tuple((r.start, r.end) for r in proto.extension_range),
            message_set=proto.options.message_set_wire_format,
        )

    def _field(self, proto: _F, message: str) -> Field:
        group = proto.type == _F.TYPE_GROUP
        kind = _KINDS.get(proto.type, FieldKind.MESSAGE)
        repeated = proto.label == _F.LABEL_REPEATED
        type_name = proto.type_name.lstrip(".") or None
        oneof = None
        if proto.HasField("oneof_index") and not proto.proto3_optional:
            oneof = self._oneof_name(message, proto.oneof_index)
        proto3 = self.fd.syntax == "proto3"
        packed = (
            repeated
            and kind.packable
            and (proto.options.packed if proto.options.HasField("packed") else proto3)
        )
        map_key = map_value = None
        if repeated and kind is FieldKind.MESSAGE and type_name:
            entry = self._map_entry(type_name)
            if entry is not None:
                map_key, map_value = entry
        return Field(
            name=proto.name,
            number=proto.number,
            kind=kind,
            json_name=proto.json_name or proto.name,
            repeated=repeated,
            type_name=type_name,
            oneof=oneof,
            optional=proto.proto3_optional or (not proto3 and not repeated),
            packed=packed,
            map_key=map_key,
            map_value=map_value,
            required=proto.label == _F.LABEL_REQUIRED,
            group=group,
            default=_default(proto, kind, self._enum_numbers(type_name)),
        )

    def _enum_numbers(self, type_name: str | None) -> dict[str, int]:
        enum = self.schema.enums.get(type_name or "")
        return dict(enum.values) if enum is not None else {}

    def _oneof_name(self, message: str, index: int) -> str:
        proto = self._find_message(message)
        return proto.oneof_decl[index].name if proto is not None else f"oneof_{index}"

    def _map_entry(self, type_name: str) -> tuple[Field, Field] | None:
        proto = self._find_message(type_name)
        if proto is None or not proto.options.map_entry:
            return None
        key, value = proto.field[0], proto.field[1]
        return self._field(key, type_name), self._field(value, type_name)

    def _find_message(self, full_name: str) -> descriptor_pb2.DescriptorProto | None:
        prefix = f"{self.fd.package}." if self.fd.package else ""
        if not full_name.startswith(prefix):
            return None
        parts = full_name[len(prefix) :].split(".")
        found: descriptor_pb2.DescriptorProto | None = None
        candidates = list(self.fd.message_type)
        for part in parts:
            found = next((m for m in candidates if m.name == part), None)
            if found is None:
                return None
            candidates = list(found.nested_type)
        return found

    def _enum(
        self, proto: descriptor_pb2.EnumDescriptorProto, prefix: str, parent: str | None
    ) -> None:
        full = f"{prefix}{proto.name}"
        self.schema.enums[full] = Enum(
            full_name=full,
            name=proto.name,
            file=self.fd.name,
            values=tuple((v.name, v.number) for v in proto.value),
            parent=parent,
            closed=self.fd.syntax not in ("proto3",),
        )

    def _service(self, proto: descriptor_pb2.ServiceDescriptorProto, prefix: str) -> None:
        full = f"{prefix}{proto.name}"
        methods: list[Method] = []
        streaming: list[Method] = []
        for m in proto.method:
            kind = MethodKind.of(m.client_streaming, m.server_streaming)
            method = Method(m.name, full, m.input_type.lstrip("."), m.output_type.lstrip("."), kind)
            # Real schemas mix unary and streaming RPCs: the streaming ones are kept
            # apart rather than refusing the whole file.
            (methods if kind is MethodKind.UNARY else streaming).append(method)
        self.schema.services[full] = Service(
            full_name=full,
            name=proto.name,
            package=self.fd.package,
            file=self.fd.name,
            methods=tuple(methods),
            host=_is_host(proto.options),
            streaming=tuple(streaming),
            declared=tuple(m.name for m in proto.method),
        )
