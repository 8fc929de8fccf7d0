"""The Go emitter: one Go package of message types, codecs and method exports.

`emit(schema)` returns the files of a Go package (named `package`, `bridgegen` by
default) that a guest project imports; it uses only `bridge.dev/guest` (guest-go) and
the standard library's `math`, builds with standard Go (1.24 or later) and TinyGo, and
uses no reflection.

What the package holds:

- `enums.bridge.go`: one named `int32` type per enum, a constant per value
  (`Color_COLOR_RED`, as protoc-gen-go names them) and a `String` method. Enums are open:
  a number without a name is kept as it is.
- `messages.bridge.go`: one struct per message (`Node_Label` for a nested one). Scalars
  are plain values (implicit presence), `optional` scalars pointers, message fields
  pointers, repeated fields slices (`[]*T` for messages), maps Go maps (`map[K]*T` for
  message values). A oneof is one struct field of an interface type `isT_Choice`, with
  one wrapper struct per case (`T_CaseName{CaseName: v}`), as protoc-gen-go does. Each
  message has `MarshalAppend`, `Marshal`, `Unmarshal` (reset, then merge) and nil-safe
  `GetX` getters.
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
- `runtime.bridge.go`: the package's private helpers (length prefixes, sorted map keys,
  the nesting limit).

Codec rules (proto3): fields are written in field-number order, scalars only when not
the default (a float is written when its bits are not zero, so -0.0 is kept), message
fields and oneof cases whenever they are set, repeated scalars packed when the field is,
and map entries in sorted key order with both key and value, so the output is
deterministic. Decoding accepts packed and unpacked repeated scalars alike, lets the
last value of a scalar win, merges repeated message occurrences, skips unknown fields
(a known number with another wire type is unknown) and drops them, checks strings are
UTF-8 and fails, never panics, on what upb (Python's protobuf) refuses: malformed input,
a tag or length prefix longer than 5 bytes (guest.ConsumeTag and guest.ConsumeBytes), and
nesting deeper than 100 levels, where map entries and unknown groups count as levels as
messages do (a map's entry is one level below its message, the entry's value two; a
group one below the message or group holding it). The one difference: a varint of more
than 64 bits is refused, where upb keeps its low 64 bits.
"""

from __future__ import annotations

import difflib
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

# Methods every message has: a field of the same Go name gets a trailing "_".
_MESSAGE_METHODS = frozenset({"Marshal", "MarshalAppend", "Unmarshal"})


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
        "cloneBytes({x})",
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
    FieldKind.MESSAGE: _Kind("", 2, "guest.ConsumeBytes", "{x}", "appendMessage(b, {v})", ""),
}

_WIRE_NAMES = {
    0: "guest.WireVarint",
    1: "guest.WireFixed64",
    2: "guest.WireBytes",
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


@dataclass(frozen=True, slots=True)
class _FieldView:
    name: str  # proto name
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


@dataclass(frozen=True, slots=True)
class _EnumView:
    go_name: str
    full_name: str
    const_lines: tuple[str, ...]  # "Name  Type = n", aligned
    names: tuple[tuple[int, str], ...]  # number -> first value name, for String


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

    def _value(self, f: Field) -> _Value:
        k = _KINDS[f.kind]
        if f.kind is FieldKind.MESSAGE:
            assert f.type_name is not None
            elem = self.type_names[f.type_name]
            go_type = f"*{elem}"
            zero = "nil"
        elif f.kind is FieldKind.ENUM:
            assert f.type_name is not None
            elem = go_type = self.type_names[f.type_name]
            zero = "0"
        else:
            elem = go_type = k.go_type
            zero = {"bool": "false", "string": '""', "[]byte": "nil"}.get(go_type, "0")
        return _Value(
            kind=f.kind.value,
            go_type=go_type,
            elem_type=elem,
            wire=_WIRE_NAMES[k.wire],
            tag=_tag_bytes(f.number, k.wire),
            consume=k.consume,
            conv=k.conv.format(x="x", t=elem),
            append_v=k.append.format(v="v"),
            append_k=k.append.format(v="k"),
            size=k.size,
            is_message=f.kind is FieldKind.MESSAGE,
            zero=zero,
        )

    def _message_view(self, m: Message) -> _MessageView:
        go_name = self.type_names[m.full_name]
        used: set[str] = set(_MESSAGE_METHODS)

        def member(proto_name: str) -> str:
            name = go_camel_case(proto_name)
            while name in used or f"Get{name}" in used:
                name += "_"
            used.update((name, f"Get{name}"))
            return name

        oneof_members: dict[str, str] = {}
        struct: list[tuple[str, str]] = []
        views: dict[str, _FieldView] = {}
        oneof_of = {fname: oneof for oneof, fnames in m.oneofs for fname in fnames}
        oneof_cases: dict[str, list[_FieldView]] = {oneof: [] for oneof, _ in m.oneofs}
        for f in m.fields:
            oneof = oneof_of.get(f.name)
            if oneof is not None and oneof not in oneof_members:
                oneof_members[oneof] = member(oneof)
                struct.append((oneof_members[oneof], f"is{go_name}_{oneof_members[oneof]}"))
            name = member(f.name)
            view = self._field_view(go_name, f, name, oneof_members.get(oneof or ""))
            views[f.name] = view
            if oneof is not None:
                oneof_cases[oneof].append(view)
            else:
                struct.append((name, view.go_type))
        oneofs = tuple(
            _OneofView(
                go_name=oneof_members[oneof],
                interface=f"is{go_name}_{oneof_members[oneof]}",
                getter=f"Get{oneof_members[oneof]}",
                cases=tuple(oneof_cases[oneof]),
            )
            for oneof, _ in m.oneofs
        )
        for o in oneofs:
            self.names.claim(o.interface, f"the interface of oneof {m.full_name}.{o.go_name}")
            for case in o.cases:
                self.names.claim(case.wrapper, f"the wrapper of {m.full_name}.{case.name}")
        return _MessageView(
            go_name=go_name,
            full_name=m.full_name,
            struct_lines=tuple(_align(struct)),
            fields=tuple(sorted(views.values(), key=lambda v: v.number)),
            oneofs=oneofs,
        )

    def _field_view(self, owner: str, f: Field, name: str, oneof: str | None) -> _FieldView:
        k = _KINDS[f.kind]
        common = {"name": f.name, "number": f.number, "go_name": name, "getter": f"Get{name}"}
        if f.is_map:
            assert f.map_key is not None and f.map_value is not None
            key, val = self._value(f.map_key), self._value(f.map_value)
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=f"map[{key.go_type}]{val.go_type}",
                category="map",
                value=val,
                key=key,
                packed_tag=_tag_bytes(f.number, 2),
            )
        value = self._value(f)
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
                wrapper=f"{owner}_{name}",
            )
        if f.kind is FieldKind.MESSAGE:
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=value.go_type,
                category="message",
                value=value,
                append_m=k.append.format(v=f"m.{name}"),
            )
        if f.optional:
            return _FieldView(
                **common,  # type: ignore[arg-type]
                go_type=f"*{value.go_type}",
                category="optional",
                value=value,
                append_m=k.append.format(v=f"*m.{name}"),
            )
        return _FieldView(
            **common,  # type: ignore[arg-type]
            go_type=value.go_type,
            category="scalar",
            value=value,
            nonzero=k.nonzero.format(v=f"m.{name}"),
            append_m=k.append.format(v=f"m.{name}"),
        )

    def _enum_view(self, e: Enum) -> _EnumView:
        go_name = self.type_names[e.full_name]
        # protoc-gen-go: a top-level enum's values are prefixed with the enum's name, a
        # nested enum's with its parent message's.
        prefix = go_name[: -len(go_camel_case(e.name)) - 1] if e.parent else go_name
        consts: list[tuple[str, str]] = []
        names: dict[int, str] = {}
        for value_name, number in e.values:
            const = f"{prefix}_{value_name}"
            self.names.claim(const, f"enum value {e.full_name}.{value_name}")
            consts.append((const, f"{go_name} = {number}"))
            names.setdefault(number, value_name)
        return _EnumView(
            go_name=go_name,
            full_name=e.full_name,
            const_lines=tuple(_align(consts)),
            names=tuple(sorted(names.items())),
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
        for ident in _RUNTIME_NAMES:
            self.names.claim(ident, "a helper of the generated package")
        env = template_env("go")
        first = header("//", self.schema.targets)
        uses_math = any(
            v.kind in ("double", "float")
            for m in messages
            for f in m.fields
            for v in (f.value, f.key)
            if v is not None
        )
        context = {
            "header": first,
            "package": self.package,
            "enums": enums,
            "messages": messages,
            "services": services,
            "clients": clients,
            "uses_math": uses_math,
            "max_depth": MAX_DEPTH,
        }
        out = []
        for name, template in (
            ("enums.bridge.go", "enums.go.j2"),
            ("messages.bridge.go", "messages.go.j2"),
            ("services.bridge.go", "services.go.j2"),
            ("runtime.bridge.go", "runtime.go.j2"),
        ):
            if name == "enums.bridge.go" and not enums:
                continue
            if name == "services.bridge.go" and not services and not clients:
                continue
            text = env.get_template(template).render(**context)
            out.append(GeneratedFile(name, text))
        return out


# Package-level identifiers runtime.go.j2 defines.
_RUNTIME_NAMES = (
    "maxDepth",
    "errDepth",
    "decodeError",
    "appendMessage",
    "fixLength",
    "cloneBytes",
    "orderedKey",
    "sortedKeys",
    "boolKeys",
    "siftDown",
    "formatEnum",
    "marshaler",
)


def _align(rows: Iterable[tuple[str, str]]) -> list[str]:
    """Two columns padded as gofmt aligns a struct's fields or a const block."""
    rows = list(rows)
    width = max((len(a) for a, _ in rows), default=0)
    return [f"{a.ljust(width)} {b}" for a, b in rows]
