"""The Go emitter: one Go package of message types, codecs and method exports.

`emit(schema)` returns the files of a Go package (named `package`, `bridgegen` by
default) that a guest project imports; it uses only `bridge.dev/guest` (guest-go, which
also holds the helpers the codecs share: guest.AppendMessage, guest.SortedKeys,
guest.MaxDepth, ...) and the standard library's `math`, builds with standard Go (1.24
or later) and TinyGo, and uses no reflection.

Go names are protoc-gen-go's (google.golang.org/protobuf/compiler/protogen): types
`Outer_Inner`, fields GoCamelCase, made unique in declaration order against the method
names protogen reserves (`Reset`, `String`, `Marshal`, ...) plus the ones bridge's
messages add (`MarshalAppend`, `GetUnknown`, `SetUnknown`) and each other's getters,
by appending "_"; a oneof case's wrapper type that a nested type already has gets "_"
too. What would still clash is a SchemaError.

What the package holds:

- `enums.bridge.go`: one named `int32` type per enum, a constant per value
  (`Color_COLOR_RED`, as protoc-gen-go names them) and a `String` method. proto3 enums
  are open: a number without a name is kept as it is; proto2 enums are closed: a
  decoded number without a name is an unknown field of the message (a packed one
  becomes one unpacked varint field each; a map entry holding one, the whole entry).
- `messages.bridge.go`: one struct per message (`Node_Label` for a nested one). Scalars
  are plain values (implicit presence), `optional` and proto2 scalars pointers (bytes
  `[]byte`, nil when not set, as protoc-gen-go does), message and group fields pointers,
  repeated fields slices (`[]*T` for messages), maps Go maps (`map[K]*T` for message
  values). A oneof is one struct field of an interface type `isT_Choice`, with one
  wrapper struct per case (`T_CaseName{CaseName: v}`), as protoc-gen-go does. Each
  message has `MarshalAppend`, `Marshal`, `Unmarshal` (reset, then merge), nil-safe
  `GetX` getters (an unset proto2 field's returns its declared default,
  `Default_T_Field`, or a closed enum's first value), and `GetUnknown`/`SetUnknown`
  for the fields it did not know.
- `services.bridge.go` (when a target file has services): per service the guest
  implements (every one of the target files, or those `emit(services=...)` names) an
  interface `SServer`, `RegisterSServer`, one `//go:wasmexport pkg.S/M` per method, and
  `bridge_served` (docs/abi.md section 13). Streaming methods have grpc-go's shapes, with
  a struct for the stream (`*S_MServer`, whose `Recv` and `Send`/`SendUncompressed` go
  through guest.Recv and guest.Send, docs/abi.md section 14):
  `M(req *In, stream *S_MServer) error` (server-streaming),
  `M(stream *S_MServer) (*Out, error)` (client-streaming) and
  `M(stream *S_MServer) error` (bidirectional). Per host service (`option (bridge.host)
  = true`, implemented by the Python host) a client `SClient` whose methods call the
  host through `guest.HostCall("pkg.S/M", ...)` (docs/abi.md, section 12); a host call
  is unary, so a host service's streaming methods get no client method. Host services
  get no exports.

Codec rules: fields are written in field-number order, then the unknown fields as they
were read; proto3 scalars only when not the default (a float is written when its bits
are not zero, so -0.0 is kept), fields with presence (proto2, `optional`, messages,
oneof cases) whenever they are set, groups between their start and end tags, repeated
scalars packed when the field is, and map entries in sorted key order with both key
and value, so the output is deterministic. Decoding accepts packed and unpacked
repeated scalars alike, lets the last value of a scalar win, merges repeated message
occurrences, keeps unknown fields in the order read (a known number with another wire
type is unknown; extensions are unknown fields; a map entry's own unknown fields are
dropped), checks proto3 strings are UTF-8 (proto2 strings are not checked, as in
protobuf) and refuses a message that lacks a proto2 required field at any depth
(guest.RequiredError; a reply that lacks one is not sent: INTERNAL). It fails, never
panics, on what upb (Python's protobuf) refuses: malformed input, a tag or length prefix
longer than 5 bytes (guest.ConsumeTag and guest.ConsumeBytes), a group closed by another
field's end tag, and nesting deeper than 100 levels, where map entries and groups count
as levels as messages do (a map's entry is one level below its message, the entry's
value two; a group one below the message or group holding it). The one difference: a
varint of more than 64 bits is refused, where upb keeps its low 64 bits.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import SchemaError
from ..schema.model import Enum, Field, FieldKind, Message, MethodKind, Schema, Service
from .base import GeneratedFile, header, template_env

__all__ = [
    "MAX_DEPTH",
    "ClientMethodView",
    "ClientView",
    "MethodView",
    "ServiceView",
    "emit",
    "go_camel_case",
    "service_view",
]

#: How deeply messages may nest in a decoded request (the top-level message is 0); map
#: entries and unknown groups count as levels, as in upb (guest.ConsumeFieldValueWithin).
MAX_DEPTH = 100

_GO_KEYWORDS = frozenset(
    {
        *("break", "case", "chan", "const", "continue", "default", "defer", "else"),
        *("fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map"),
        *("package", "range", "return", "select", "struct", "switch", "type", "var"),
    }
)

# The method names protogen reserves (a field of the same Go name, or whose getter would
# be one, gets a trailing "_"), and the ones bridge's messages have besides.
_RESERVED_METHODS = (
    *("Reset", "String", "ProtoMessage", "Marshal", "Unmarshal", "ExtensionRangeArray"),
    *("ExtensionMap", "Descriptor"),
    *("MarshalAppend", "GetUnknown", "SetUnknown"),
)


@dataclass(frozen=True, slots=True)
class _Kind:
    go_type: str  # "" for enums and messages (named by the schema)
    wire: int
    consume: str  # a guest function: (b []byte) -> (value, n, error)
    conv: str  # the field's value from the consumed `{x}`
    append: str  # appends `{v}` to b
    nonzero: str  # `{v}` is not the proto3 default
    size: int = 0  # fixed size of one value, 0 for varints and length-delimited


_KINDS: dict[FieldKind, _Kind] = {
    FieldKind.DOUBLE: _Kind(
        "float64",
        1,
        "guest.ConsumeFixed64",
        "math.Float64frombits({x})",
        "guest.AppendFixed64(b, math.Float64bits({v}))",
        "math.Float64bits({v}) != 0",
        8,
    ),
    FieldKind.FLOAT: _Kind(
        "float32",
        5,
        "guest.ConsumeFixed32",
        "math.Float32frombits({x})",
        "guest.AppendFixed32(b, math.Float32bits({v}))",
        "math.Float32bits({v}) != 0",
        4,
    ),
    FieldKind.INT64: _Kind(
        "int64", 0, "guest.ConsumeVarint", "int64({x})", "guest.AppendInt64(b, {v})", "{v} != 0"
    ),
    FieldKind.UINT64: _Kind(
        "uint64", 0, "guest.ConsumeVarint", "{x}", "guest.AppendVarint(b, {v})", "{v} != 0"
    ),
    FieldKind.INT32: _Kind(
        "int32", 0, "guest.ConsumeVarint", "int32({x})", "guest.AppendInt32(b, {v})", "{v} != 0"
    ),
    FieldKind.FIXED64: _Kind(
        "uint64", 1, "guest.ConsumeFixed64", "{x}", "guest.AppendFixed64(b, {v})", "{v} != 0", 8
    ),
    FieldKind.FIXED32: _Kind(
        "uint32", 5, "guest.ConsumeFixed32", "{x}", "guest.AppendFixed32(b, {v})", "{v} != 0", 4
    ),
    FieldKind.BOOL: _Kind(
        "bool", 0, "guest.ConsumeVarint", "{x} != 0", "guest.AppendBool(b, {v})", "{v}"
    ),
    FieldKind.STRING: _Kind(
        "string", 2, "guest.ConsumeString", "{x}", "guest.AppendString(b, {v})", "len({v}) > 0"
    ),
    FieldKind.BYTES: _Kind(
        "[]byte",
        2,
        "guest.ConsumeBytes",
        "guest.CloneBytes({x})",
        "guest.AppendBytes(b, {v})",
        "len({v}) > 0",
    ),
    FieldKind.UINT32: _Kind(
        "uint32",
        0,
        "guest.ConsumeVarint",
        "uint32({x})",
        "guest.AppendVarint(b, uint64({v}))",
        "{v} != 0",
    ),
    FieldKind.ENUM: _Kind(
        "", 0, "guest.ConsumeVarint", "{t}({x})", "guest.AppendInt32(b, int32({v}))", "{v} != 0"
    ),
    FieldKind.SFIXED32: _Kind(
        "int32",
        5,
        "guest.ConsumeFixed32",
        "int32({x})",
        "guest.AppendFixed32(b, uint32({v}))",
        "{v} != 0",
        4,
    ),
    FieldKind.SFIXED64: _Kind(
        "int64",
        1,
        "guest.ConsumeFixed64",
        "int64({x})",
        "guest.AppendFixed64(b, uint64({v}))",
        "{v} != 0",
        8,
    ),
    FieldKind.SINT32: _Kind(
        "int32",
        0,
        "guest.ConsumeVarint",
        "guest.DecodeZigzag32({x})",
        "guest.AppendZigzag32(b, {v})",
        "{v} != 0",
    ),
    FieldKind.SINT64: _Kind(
        "int64",
        0,
        "guest.ConsumeVarint",
        "guest.DecodeZigzag({x})",
        "guest.AppendZigzag64(b, {v})",
        "{v} != 0",
    ),
    FieldKind.MESSAGE: _Kind("", 2, "guest.ConsumeBytes", "{x}", "guest.AppendMessage(b, {v})", ""),
}

_WIRE_NAMES = {
    0: "guest.WireVarint",
    1: "guest.WireFixed64",
    2: "guest.WireBytes",
    3: "guest.WireStartGroup",
    5: "guest.WireFixed32",
}


def go_camel_case(name: str) -> str:
    """A proto name as a Go identifier, the way protoc-gen-go's GoCamelCase makes it.

    >>> go_camel_case("f_double"), go_camel_case("m_int32"), go_camel_case("Node.Label")
    ('FDouble', 'MInt32', 'Node_Label')
    >>> go_camel_case("_x"), go_camel_case("a_1b")
    ('XX', 'A_1B')
    """
    out: list[str] = []
    i = 0
    while i < len(name):
        c = name[i]
        nxt = name[i + 1] if i + 1 < len(name) else ""
        if c == "." and nxt.islower() and nxt.isascii():
            pass  # skip "." before a lower-case letter
        elif c == ".":
            out.append("_")
        elif c == "_" and (i == 0 or name[i - 1] == "."):
            out.append("X")
        elif c == "_" and nxt.islower() and nxt.isascii():
            pass  # skip "_" before a lower-case letter
        elif c.isdigit():
            out.append(c)
        else:
            out.append(c.upper() if c.islower() and c.isascii() else c)
            while i + 1 < len(name) and name[i + 1].islower() and name[i + 1].isascii():
                i += 1
                out.append(name[i])
        i += 1
    return "".join(out)


def _go_quote(value: bytes) -> str:
    """A Go string literal of these bytes (printable ASCII as it is, the rest escaped)."""
    out = []
    for c in value:
        if c in (0x22, 0x5C):
            out.append("\\" + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\x{c:02x}")
    return '"' + "".join(out) + '"'


def _tag_bytes(number: int, wire: int) -> str:
    """A field's key as the Go byte list `append` takes: `0x82, 0x01`."""
    value = number << 3 | wire
    parts = []
    while value >= 0x80:
        parts.append(value & 0x7F | 0x80)
        value >>= 7
    parts.append(value)
    return ", ".join(f"0x{p:02x}" for p in parts)


# ---- view models: what the templates read ----


@dataclass(frozen=True, slots=True)
class _Value:
    """How one value of a field (or of a map key or value) is written and read."""

    kind: str  # the FieldKind's value
    go_type: str  # the Go type of one value (`*T` for messages)
    elem_type: str  # the message's Go type, for messages; else go_type
    wire: str  # guest.WireX
    tag: str  # the key bytes when written with its own wire type
    consume: str
    conv: str  # the value from `x`
    append_v: str  # appends `v`
    append_k: str  # appends `k` (map keys)
    size: int
    is_message: bool
    zero: str
    closed: bool = False  # a closed enum: a number without a name is an unknown field
    check: bool = False  # a message that has required fields, at some depth


@dataclass(frozen=True, slots=True)
class _FieldView:
    name: str  # proto name
    full_name: str  # pkg.Message.field, for errors
    number: int
    go_name: str
    getter: str
    go_type: str  # the struct field's type
    category: str  # scalar, optional, message, repeated, map, oneof
    value: _Value
    packed: bool = False
    packed_tag: str = ""  # key with wire type 2, for packable repeated fields
    nonzero: str = ""  # for scalars: `m.F` is not the default
    append_m: str = ""  # appends m.F (scalar) / *m.F (optional) / x.F (oneof case)
    key: _Value | None = None  # maps
    oneof_go_name: str = ""  # the struct field holding the oneof
    wrapper: str = ""  # the oneof case's wrapper type
    group: bool = False  # a proto2 group: start tag, the message's fields, end tag
    end_tag: str = ""  # a group's end tag
    deref: str = ""  # "*" when an optional field is a pointer (bytes are not)
    default: str = ""  # what the getter returns when the field is not set
    required: bool = False


@dataclass(frozen=True, slots=True)
class _OneofView:
    go_name: str
    interface: str
    getter: str
    cases: tuple[_FieldView, ...]


@dataclass(frozen=True, slots=True)
class _MessageView:
    go_name: str
    full_name: str
    struct_lines: tuple[str, ...]  # "Name  Type", aligned as gofmt aligns them
    fields: tuple[_FieldView, ...]  # in field-number order
    oneofs: tuple[_OneofView, ...]
    default_consts: tuple[str, ...] = ()  # "Default_M_F = T(v)", aligned
    default_vars: tuple[str, ...] = ()  # bytes, inf and nan defaults
    check: bool = False  # has checkRequired: required fields, at some depth
    group: bool = False  # some field is a group of this type: has mergeGroup
    proto3: bool = True


@dataclass(frozen=True, slots=True)
class _EnumView:
    go_name: str
    full_name: str
    const_lines: tuple[str, ...]  # "Name  Type = n", aligned
    names: tuple[tuple[int, str], ...]  # number -> first value name, for String
    closed: bool = False


@dataclass(frozen=True, slots=True)
class MethodView:
    name: str
    export: str  # pkg.S/M
    input: str
    output: str
    input_full: str
    handler: str  # the unexported Go function
    out_buffer: str  # the response buffer of unary and client-streaming methods
    kind: str = MethodKind.UNARY.value  # a MethodKind's value
    stream: str = ""  # the type a streaming method gets, `S_MServer`
    output_full: str = ""
    check_output: bool = False  # the reply has required fields, checked before it is sent

    @property
    def client_streaming(self) -> bool:
        return MethodKind(self.kind).client_streaming

    @property
    def server_streaming(self) -> bool:
        return MethodKind(self.kind).server_streaming


@dataclass(frozen=True, slots=True)
class ServiceView:
    full_name: str
    interface: str
    register: str
    server_var: str
    methods: tuple[MethodView, ...]  # every RPC, in declaration order

    @property
    def streaming(self) -> bool:
        """Whether any of its RPCs streams."""
        return any(m.stream for m in self.methods)


@dataclass(frozen=True, slots=True)
class ClientMethodView:
    name: str
    method: str  # pkg.S/M, the name the host knows it by
    input: str
    output: str
    input_full: str = ""
    check_input: bool = False  # the request has required fields, checked before it is sent


@dataclass(frozen=True, slots=True)
class ClientView:
    full_name: str
    client: str  # the Go type, `SClient`
    methods: tuple[ClientMethodView, ...]


@dataclass
class _Names:
    """Every package-level Go identifier, so that none is defined twice."""

    taken: dict[str, str] = field(default_factory=dict)  # identifier -> what it names

    def claim(self, name: str, what: str) -> None:
        if name in self.taken:
            raise SchemaError(
                f"Go name collision: {what} and {self.taken[name]} would both be "
                f"named {name!r} in the generated package; rename one of them"
            )
        self.taken[name] = what


# ---- emit ----


def emit(
    schema: Schema, *, package: str = "bridgegen", services: Sequence[str] | None = None
) -> list[GeneratedFile]:
    """The Go package for the schema's target files (see the module docstring).

    `services` (full names) are the services the guest implements: only they get a
    server interface and method exports (a Go export is fixed at compile time, so a
    service left out is not the module's at all, as in Rust, where only the services a
    guest implements export). None: every service of the target files.
    """
    if not package.isidentifier() or not package.isascii() or package in _GO_KEYWORDS:
        raise SchemaError(f"{package!r} is not a valid Go package name")
    if services is not None:
        _check_services(schema, services)
    return _Emitter(schema, package, services).files()


def _check_services(schema: Schema, services: Sequence[str]) -> None:
    known = [s.full_name for s in schema.target_services()]
    for name in services:
        host = next((s for s in schema.host_services() if s.full_name == name), None)
        if host is not None:
            raise SchemaError(
                f"{name} is a host service (option (bridge.host) = true): Python implements "
                f"it, and guests call it through the generated {go_camel_case(host.name)}Client"
            )
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = (
                f"did you mean {close[0]}?"
                if close
                else f"the schema has {', '.join(known) or 'none'}"
            )
            raise SchemaError(f"no service {name} in the schema: {hint}")


def service_view(schema: Schema, service: str, *, package: str = "bridgegen") -> ServiceView:
    """The Go names the glue gives `service` (interface, Register function, methods), for
    `bridge init` to write a user file that fits them."""
    return _Emitter(schema, package)._service_view(schema.services[service])


class _Emitter:
    def __init__(self, schema: Schema, package: str, services: Sequence[str] | None = None) -> None:
        self.schema = schema
        self.package = package
        self.services = None if services is None else frozenset(services)
        self.messages, self.enums = self._reachable()
        self.names = _Names()
        self.type_names = self._assign_type_names()
        self.checked, self.group_types = self._closure()

    # -- which types --

    def _reachable(self) -> tuple[list[Message], list[Enum]]:
        """Target files' messages and enums, and every one they reach (also from the
        methods of the services guests implement and of the host services), sorted by
        name."""
        schema = self.schema
        todo_m = [m.full_name for m in schema.target_messages()]
        todo_e = [e.full_name for e in schema.enums.values() if e.file in schema.targets]
        # Guests implement every RPC of a target service; host calls are unary only.
        for service in schema.target_services():
            for method in service.all_methods:
                todo_m += [method.input, method.output]
        for service in schema.host_services():
            for method in service.methods:
                todo_m += [method.input, method.output]
        seen_m: set[str] = set()
        seen_e: set[str] = set(todo_e)
        while todo_m:
            name = todo_m.pop()
            if name in seen_m:
                continue
            seen_m.add(name)
            for f in schema.message(name).fields:
                for t in (f, f.map_value) if f.is_map else (f,):
                    assert t is not None
                    if t.kind is FieldKind.MESSAGE and t.type_name:
                        todo_m.append(t.type_name)
                    elif t.kind is FieldKind.ENUM and t.type_name:
                        seen_e.add(t.type_name)
        messages = sorted(
            (schema.message(n) for n in seen_m if not schema.message(n).is_map_entry),
            key=lambda m: m.full_name,
        )
        enums = sorted((schema.enum(n) for n in seen_e), key=lambda e: e.full_name)
        return messages, enums

    def _assign_type_names(self) -> dict[str, str]:
        """Go type names: proto names relative to their package, nested ones `Outer_Inner`.

        Types from another proto package than the target files' get a package prefix
        (`GoogleProtobuf_Value`) only when their plain names would clash.
        """
        target_packages = {self.schema.files[t].package for t in self.schema.targets}
        items: list[tuple[str, str, str]] = []  # (full name, package, name in the package)
        for full, file in [(m.full_name, m.file) for m in self.messages] + [
            (e.full_name, e.file) for e in self.enums
        ]:
            pkg = self.schema.files[file].package
            items.append((full, pkg, full[len(pkg) + 1 :] if pkg else full))
        plain = {full: go_camel_case(relative) for full, _, relative in items}
        # A top-level type and the types nested in it get a prefix together, or none.
        local = {plain[full] for full, pkg, _ in items if pkg in target_packages}
        foreign: dict[str, set[tuple[str, str]]] = {}  # plain name -> (package, top)
        for full, pkg, relative in items:
            if pkg not in target_packages:
                foreign.setdefault(plain[full], set()).add((pkg, relative.split(".")[0]))
        prefixed = {
            (pkg, relative.split(".")[0])
            for full, pkg, relative in items
            if pkg not in target_packages
            and (plain[full] in local or len(foreign[plain[full]]) > 1)
        }
        names: dict[str, str] = {}
        for full, pkg, relative in items:
            name = plain[full]
            if (pkg, relative.split(".")[0]) in prefixed:
                name = f"{go_camel_case(pkg.replace('.', '_'))}_{name}"
            names[full] = name
        for full, _, _ in sorted(items):
            kind = "enum" if full in self.schema.enums else "message"
            self.names.claim(names[full], f"{kind} {full}")
        return names

    # -- views --

    def _closure(self) -> tuple[frozenset[str], frozenset[str]]:
        """The messages that need checkRequired (required fields, at some depth) and
        the messages some field uses as a group."""
        fields = {m.full_name: m.fields for m in self.messages}
        check = {name for name, fs in fields.items() if any(f.required for f in fs)}
        changed = True
        while changed:
            changed = False
            for name, fs in fields.items():
                if name in check:
                    continue
                for f in fs:
                    t = f.map_value if f.is_map else f
                    if t is not None and t.kind is FieldKind.MESSAGE and t.type_name in check:
                        check.add(name)
                        changed = True
                        break
        groups = {f.type_name for fs in fields.values() for f in fs if f.group and f.type_name}
        return frozenset(check), frozenset(groups)

    def _enum_first(self, full_name: str) -> str:
        """The Go constant of an enum's first value (what protoc-gen-go's getters return
        for an unset enum field without a declared default)."""
        return self._enum_consts(self.schema.enum(full_name))[0][0]

    def _enum_prefix(self, e: Enum) -> str:
        """protoc-gen-go prefixes a top-level enum's values with the enum's name, a nested
        enum's with its parent message's."""
        go_name = self.type_names[e.full_name]
        if not e.parent:
            return go_name
        pkg = self.schema.files[e.file].package
        relative = e.full_name[len(pkg) + 1 :] if pkg else e.full_name
        plain = go_camel_case(relative)
        parent = go_camel_case(relative.rpartition(".")[0])
        return go_name[: len(go_name) - len(plain)] + parent  # keeps a package prefix

    def _enum_consts(self, e: Enum) -> list[tuple[str, int]]:
        prefix = self._enum_prefix(e)
        return [(f"{prefix}_{name}", number) for name, number in e.values]

    def _value(self, f: Field, proto3: bool) -> _Value:
        k = _KINDS[f.kind]
        consume, conv = k.consume, k.conv
        closed = check = False
        if f.kind is FieldKind.MESSAGE:
            assert f.type_name is not None
            elem = self.type_names[f.type_name]
            go_type = f"*{elem}"
            zero = "nil"
            check = f.type_name in self.checked
        elif f.kind is FieldKind.ENUM:
            assert f.type_name is not None
            elem = go_type = self.type_names[f.type_name]
            zero = "0"
            closed = self.schema.enum(f.type_name).closed
        else:
            elem = go_type = k.go_type
            zero = {"bool": "false", "string": '""', "[]byte": "nil"}.get(go_type, "0")
            if f.kind is FieldKind.STRING and not proto3:
                # protobuf checks UTF-8 in proto3 strings only; a Go string holds any bytes.
                consume, conv = "guest.ConsumeBytes", "string({x})"
        wire = 3 if f.group else k.wire
        return _Value(
            kind=f.kind.value,
            go_type=go_type,
            elem_type=elem,
            wire=_WIRE_NAMES[wire],
            tag=_tag_bytes(f.number, wire),
            consume=consume,
            conv=conv.format(x="x", t=elem),
            append_v=k.append.format(v="v"),
            append_k=k.append.format(v="k"),
            size=k.size,
            is_message=f.kind is FieldKind.MESSAGE,
            zero=zero,
            closed=closed,
            check=check,
        )

    def _member_names(self, m: Message) -> tuple[dict[str, str], dict[str, str]]:
        """Go names of m's fields and oneofs, as protogen makes them unique: each field
        in declaration order gets "_" appended while its name (or its getter's) is taken,
        and a oneof, when its first field comes, likewise without its getter (protogen
        assumes oneofs have none; a real clash is refused later)."""
        used: dict[str, bool] = dict.fromkeys(_RESERVED_METHODS, True)

        def unique(name: str, has_getter: bool) -> str:
            while used.get(name) or (has_getter and used.get(f"Get{name}")):
                name += "_"
            used[name] = True
            used[f"Get{name}"] = has_getter
            return name

        proto3 = self.schema.files[m.file].syntax == "proto3"
        fields: dict[str, str] = {}
        oneofs: dict[str, str] = {}
        for f in m.fields:
            fields[f.name] = unique(go_camel_case(f.name), True)
            # protogen sees proto3 `optional` fields as one-field (synthetic) oneofs,
            # named as protoc names them: the field's name with a leading "_".
            oneof = f.oneof or (f"_{f.name}" if proto3 and f.optional else None)
            if oneof is not None and oneof not in oneofs:
                oneofs[oneof] = unique(go_camel_case(oneof), False)
        return fields, oneofs

    def _nested_type_names(self, m: Message) -> set[str]:
        """protogen's Go names of the messages (map entries too) and enums declared in m."""
        pkg = self.schema.files[m.file].package
        nested = [n for n, x in self.schema.messages.items() if x.parent == m.full_name]
        nested += [n for n, x in self.schema.enums.items() if x.parent == m.full_name]
        return {go_camel_case(n[len(pkg) + 1 :] if pkg else n) for n in nested}

    def _message_view(self, m: Message) -> _MessageView:
        go_name = self.type_names[m.full_name]
        proto3 = self.schema.files[m.file].syntax == "proto3"
        member, oneof_member = self._member_names(m)
        # protogen names a oneof case's wrapper type Message_Field, with "_" appended
        # while a nested message or enum has that name (a field a1, a message A1).
        plain = go_camel_case(m.full_name[len(self.schema.files[m.file].package) + 1 :])
        nested = self._nested_type_names(m)
        struct: list[tuple[str, str]] = []
        views: dict[str, _FieldView] = {}
        oneof_of = {fname: oneof for oneof, fnames in m.oneofs for fname in fnames}
        oneof_cases: dict[str, list[_FieldView]] = {oneof: [] for oneof, _ in m.oneofs}
        seen_oneofs: set[str] = set()
        consts: list[tuple[str, str]] = []
        variables: list[tuple[str, str]] = []
        for f in m.fields:
            oneof = oneof_of.get(f.name)
            if oneof is not None and oneof not in seen_oneofs:
                seen_oneofs.add(oneof)
                struct.append((oneof_member[oneof], f"is{go_name}_{oneof_member[oneof]}"))
            name = member[f.name]
            wrapper = ""
            if oneof is not None:
                suffix = ""
                while f"{plain}_{name}{suffix}" in nested:
                    suffix += "_"
                wrapper = f"{go_name}_{name}{suffix}"
            default = ""
            if f.default is not None and not f.repeated:
                const = f"Default_{go_name}_{name}"
                self.names.claim(const, f"the default of {m.full_name}.{f.name}")
                literal, is_const = self._default_literal(f)
                (consts if is_const else variables).append((const, f"= {literal}"))
                default = f"append([]byte(nil), {const}...)" if f.kind is FieldKind.BYTES else const
            view = self._field_view(m, f, name, oneof_member.get(oneof or ""), wrapper, default)
            views[f.name] = view
            if oneof is not None:
                oneof_cases[oneof].append(view)
            else:
                struct.append((name, view.go_type))
        struct.append(("unknownFields", "[]byte"))
        oneofs = tuple(
            _OneofView(
                go_name=oneof_member[oneof],
                interface=f"is{go_name}_{oneof_member[oneof]}",
                getter=f"Get{oneof_member[oneof]}",
                cases=tuple(oneof_cases[oneof]),
            )
            for oneof, _ in m.oneofs
        )
        members = {v.go_name for v in views.values()} | {f"Get{v.go_name}" for v in views.values()}
        for o in oneofs:
            if o.getter in members or o.getter in _RESERVED_METHODS:
                raise SchemaError(
                    f"Go name collision: the getter of oneof {m.full_name}.{o.go_name} "
                    f"would be named {o.getter!r}, as a field or getter of {m.full_name}"
                )
            self.names.claim(o.interface, f"the interface of oneof {m.full_name}.{o.go_name}")
            for case in o.cases:
                self.names.claim(case.wrapper, f"the wrapper of {m.full_name}.{case.name}")
        return _MessageView(
            go_name=go_name,
            full_name=m.full_name,
            struct_lines=tuple(_align(struct)),
            fields=tuple(sorted(views.values(), key=lambda v: v.number)),
            oneofs=oneofs,
            default_consts=tuple(_align(consts)),
            default_vars=tuple(_align(variables)),
            check=m.full_name in self.checked,
            group=m.full_name in self.group_types,
            proto3=proto3,
        )

    def _default_literal(self, f: Field) -> tuple[str, bool]:
        """A declared default as protoc-gen-go writes it, and whether it is a constant
        (bytes, infinities and NaN are variables)."""
        value = f.default
        if f.kind is FieldKind.ENUM:
            assert f.type_name is not None and isinstance(value, int)
            consts = self._enum_consts(self.schema.enum(f.type_name))
            return next(c for c, n in consts if n == value), True
        go_type = _KINDS[f.kind].go_type
        if f.kind is FieldKind.BYTES:
            assert isinstance(value, bytes)
            return f"[]byte({_go_quote(value)})", False
        if f.kind is FieldKind.STRING:
            assert isinstance(value, str)
            return f"string({_go_quote(value.encode('utf-8', 'surrogatepass'))})", True
        if f.kind is FieldKind.BOOL:
            return f"bool({'true' if value else 'false'})", True
        if f.kind in (FieldKind.DOUBLE, FieldKind.FLOAT):
            assert isinstance(value, float)
            if math.isnan(value):
                return f"{go_type}(math.NaN())", False
            if math.isinf(value):
                return f"{go_type}(math.Inf({'+1' if value > 0 else '-1'}))", False
            return f"{go_type}({value!r})", True
        assert isinstance(value, int)
        return f"{go_type}({value})", True

    def _field_view(
        self, m: Message, f: Field, name: str, oneof: str | None, wrapper: str, default: str
    ) -> _FieldView:
        k = _KINDS[f.kind]
        proto3 = self.schema.files[m.file].syntax == "proto3"
        common = {
            "name": f.name,
            "full_name": f"{m.full_name}.{f.name}",
            "number": f.number,
            "go_name": name,
            "getter": f"Get{name}",
            "required": f.required,
            "group": f.group,
            "end_tag": _tag_bytes(f.number, 4) if f.group else "",
        }
        if f.is_map:
            assert f.map_key is not None and f.map_value is not None
            key, val = self._value(f.map_key, proto3), self._value(f.map_value, proto3)
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=f"map[{key.go_type}]{val.go_type}",
                category="map",
                value=val,
                key=key,
                packed_tag=_tag_bytes(f.number, 2),
            )
        value = self._value(f, proto3)
        if f.kind is FieldKind.ENUM and not default:
            assert f.type_name is not None
            default = self._enum_first(f.type_name)
        if f.repeated:
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=f"[]{value.go_type}",
                category="repeated",
                value=value,
                packed=f.packed,
                packed_tag=_tag_bytes(f.number, 2) if f.kind.packable else "",
            )
        if oneof is not None:
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=value.go_type,
                category="oneof",
                value=value,
                append_m=k.append.format(v=f"x.{name}"),
                oneof_go_name=oneof,
                wrapper=wrapper,
                default=default or value.zero,
            )
        if f.kind is FieldKind.MESSAGE:
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=value.go_type,
                category="message",
                value=value,
                append_m=k.append.format(v=f"m.{name}"),
                default="nil",
            )
        if f.optional:
            # As protoc-gen-go: a pointer, but bytes rely on nil for "not set".
            deref = "" if f.kind is FieldKind.BYTES else "*"
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=f"{deref}{value.go_type}",
                category="optional",
                value=value,
                append_m=k.append.format(v=f"{deref}m.{name}"),
                deref=deref,
                default=default or value.zero,
            )
        return _FieldView(
            **common,  # type: ignore[arg-type]
            go_type=value.go_type,
            category="scalar",
            value=value,
            nonzero=k.nonzero.format(v=f"m.{name}"),
            append_m=k.append.format(v=f"m.{name}"),
            default=default or value.zero,
        )

    def _enum_view(self, e: Enum) -> _EnumView:
        go_name = self.type_names[e.full_name]
        consts: list[tuple[str, str]] = []
        names: dict[int, str] = {}
        for (const, number), (value_name, _) in zip(self._enum_consts(e), e.values, strict=True):
            self.names.claim(const, f"enum value {e.full_name}.{value_name}")
            consts.append((const, f"{go_name} = {number}"))
            names.setdefault(number, value_name)
        return _EnumView(
            go_name=go_name,
            full_name=e.full_name,
            const_lines=tuple(_align(consts)),
            names=tuple(sorted(names.items())),
            closed=e.closed,
        )

    def _service_view(self, s: Service) -> ServiceView:
        base = go_camel_case(s.name)
        lower = base[0].lower() + base[1:]
        view = ServiceView(
            full_name=s.full_name,
            interface=f"{base}Server",
            register=f"Register{base}Server",
            server_var=f"{lower}Server",
            methods=tuple(
                MethodView(
                    name=go_camel_case(m.name),
                    export=m.full_name,
                    input=self.type_names[m.input],
                    output=self.type_names[m.output],
                    input_full=m.input,
                    handler=f"{lower}{go_camel_case(m.name)}",
                    out_buffer=f"{lower}{go_camel_case(m.name)}Out",
                    kind=m.kind.value,
                    # grpc-go's name for the stream, a struct here (no reflection, no
                    # interface for TinyGo to keep).
                    stream=""
                    if m.kind is MethodKind.UNARY
                    else f"{base}_{go_camel_case(m.name)}Server",
                    output_full=m.output,
                    check_output=m.output in self.checked,
                )
                for m in s.all_methods
            ),
        )
        what = f"service {s.full_name}"
        for ident in (view.interface, view.register, view.server_var):
            self.names.claim(ident, what)
        for m in view.methods:
            self.names.claim(m.handler, f"method {m.export}")
            self.names.claim(m.handler + "Export", f"method {m.export}")
            if not m.server_streaming:
                self.names.claim(m.out_buffer, f"method {m.export}")
            if m.stream:
                self.names.claim(m.stream, f"the stream of method {m.export}")
        return view

    def _client_view(self, s: Service) -> ClientView:
        view = ClientView(
            full_name=s.full_name,
            client=f"{go_camel_case(s.name)}Client",
            methods=tuple(
                ClientMethodView(
                    name=go_camel_case(m.name),
                    method=m.full_name,
                    input=self.type_names[m.input],
                    output=self.type_names[m.output],
                    input_full=m.input,
                    check_input=m.input in self.checked,
                )
                for m in s.methods
            ),
        )
        self.names.claim(view.client, f"the client of host service {s.full_name}")
        return view

    # -- files --

    def files(self) -> list[GeneratedFile]:
        enums = [self._enum_view(e) for e in self.enums]
        messages = [self._message_view(m) for m in self.messages]
        services = [
            self._service_view(s)
            for s in sorted(self.schema.target_services(), key=lambda s: s.full_name)
            if self.services is None or s.full_name in self.services
        ]
        clients = [
            self._client_view(s)
            for s in sorted(self.schema.host_services(), key=lambda s: s.full_name)
        ]
        env = template_env("go")
        first = header("//", self.schema.targets)
        uses_math = any(
            v.kind in ("double", "float")
            for m in messages
            for f in m.fields
            for v in (f.value, f.key)
            if v is not None
        ) or any("math." in line for m in messages for line in m.default_vars)
        context = {
            "header": first,
            "package": self.package,
            "enums": enums,
            "messages": messages,
            "services": services,
            "clients": clients,
            "uses_math": uses_math,
        }
        out = []
        for name, template in (
            ("enums.bridge.go", "enums.go.j2"),
            ("messages.bridge.go", "messages.go.j2"),
            ("services.bridge.go", "services.go.j2"),
        ):
            if name == "enums.bridge.go" and not enums:
                continue
            if name == "messages.bridge.go" and not messages:
                continue  # an empty schema: nothing to import guest for
            if name == "services.bridge.go" and not services and not clients:
                continue
            text = env.get_template(template).render(**context)
            out.append(GeneratedFile(name, text))
        return out


def _align(rows: Iterable[tuple[str, str]]) -> list[str]:
    """Two columns padded as gofmt aligns a struct's fields or a const block."""
    rows = list(rows)
    width = max((len(a) for a, _ in rows), default=0)
    return [f"{a.ljust(width)} {b}" for a, b in rows]
