"""The Rust emitter: one module of message types, codecs and service glue on `bridge-guest`.

`emit(schema)` returns one file, `<module>.rs`, that a guest crate includes with
`mod bridge_gen;` (the file at `src/bridge_gen.rs`). It holds:

- a Rust module per protobuf package (`kitchen.v1` -> `bridge_gen::kitchen::v1`, a file
  without a package at the top of the file), with a type for every message and enum the
  target files define or reach (imports, well-known types included);
- messages as structs (`#[derive(Debug, Clone, PartialEq, Default)]`) with `encode`,
  `encode_to_vec`, `decode`, `merge(bytes, depth)` and `merge_from(reader, depth, group)`;
  nested types flattened as `Outer_Inner`; type names CamelCase, field names snake_case
  (`r#type` for keywords). Every message has `pub unknown_fields: Vec<u8>`: the fields it
  does not know (extensions, a known number with another wire type, a closed enum's
  unknown number), as read, in order, written back after the known fields (protobuf's
  rule, so a guest that echoes a message keeps them). Build messages with
  `..Default::default()`; an empty Vec does not allocate;
- enums as `i32` newtypes (`pub struct Color(pub i32)`) with one associated const per
  value. proto3 enums are open (unknown numbers survive a round trip); proto2 enums are
  closed: `Color::is_known(n)`, their Default is the first value, and a number without a
  name read from the wire goes to the message's unknown fields as a varint field (one
  per value of a packed field; for a map value, the whole entry);
- proto2: optional scalars as `Option<T>` (written whenever set, defaults too) with a
  getter of the field's name returning the declared default (`Schema.default_of`) when
  unset (`m.color()`, `m.name() -> &str`; proto3 `optional` fields get one too);
  required fields as `Option<T>`, checked after decoding at any depth
  (`DecodeError::MissingRequired(full name)`: INVALID_ARGUMENT) and before a reply,
  streamed message or host request is encoded (`bridge_guest::encode_checked`:
  INTERNAL); groups as nested messages between start- and end-group tags (a level of
  nesting); extension ranges and message sets need nothing: their fields are unknown;
  proto2 `string` stays `String`, so invalid UTF-8 is refused there too (Python's
  protobuf accepts it);
- oneofs as `Option<Message_Oneof>`, an enum with one variant per member;
- messages implement `bridge_guest::Message` too (their full name, and the same codec),
  which typed streams and `bridge_guest::Any::pack` use;
- per service of the target files, a trait whose methods answer UNIMPLEMENTED until
  implemented, and a `macro_rules!` export macro writing one wasm export per method
  (docs/abi.md, section 3), in the service's package module:
  `bridge_gen::kitchen::v1::export_kitchen!(MyImpl);` (MyImpl: a unit struct or a
  constant expression whose type implements the trait). It expects the file mounted at
  `crate::<module>`; mounted elsewhere, the path is passed:
  `export_kitchen!(MyImpl, crate::generated::bridge_gen);`. The exports exist on wasm32
  only, so the crate still builds (and tests) natively. A request that does not decode
  is answered INVALID_ARGUMENT. Streaming methods (section 14) take the call's
  messages as `bridge_guest::Source<In>` (requests) and `bridge_guest::Sink<Out>`
  (responses): `fn count(&self, request: In, responses: &mut Sink<Out>) -> Result<(),
  Status>` (server-streaming), `fn sum(&self, requests: &mut Source<In>) -> Result<Out,
  Status>` (client-streaming), `fn chat(&self, requests: &mut Source<In>, responses:
  &mut Sink<Out>) -> Result<(), Status>` (bidirectional).
- per host service of the target files (`option (bridge.host) = true`: the Python host
  implements it, docs/abi.md section 12), a unit struct `<Service>Client` in the
  service's package module, with one method per RPC on wasm32:
  `InventoryClient.price(&request)` encodes the request, calls
  `bridge_guest::host_call("shop.v1.Inventory/Price", ...)` and decodes the reply. The
  host's error status comes back unchanged (so `?` passes it on); a reply that does not
  decode is INTERNAL. Host services get no trait and no export macro, and their
  streaming methods no client method (a host call is unary).

Field types: scalars as `f64 f32 i64 u64 i32 u32 bool`, `String`, `Vec<u8>`; `optional`
as `Option<T>`; messages as `Option<T>`, boxed (`Option<Box<T>>`) when the field closes a
cycle of singular message fields (a recursive message); repeated as `Vec<T>`; maps as
`BTreeMap<K, V>` (deterministic order).

Decoding never panics (bridge_guest's Reader checks every length) and stops at a nesting
depth of 100 (messages, groups and map entries count) with `DecodeError::RecursionLimit`
("messages nested more than 100 deep"; `GroupRecursionLimit` for unknown groups), so
hostile bytes cannot overflow the stack. Encoding is byte-identical to the reference
implementations' for everything but maps (whose entries are written in key order, key
and value always).

Names that clash in one Rust namespace (two messages that map to the same name, a oneof
enum and a nested message, two fields after snake_casing, a field and `unknown_fields`,
a getter and a method of the message, an enum value and `name`/`from_name`/`is_known`,
two methods of a service) are resolved as prost does: in declaration order the first
keeps the name, the next one takes a `_` suffix (`foo_`, `foo__` ...). Message and enum
names equal to a prelude name the generated code uses (`Option`, `String`, `Result`,
...) or a primitive type get a trailing `_`. Lines whose length grows with names are laid
out as rustfmt lays them out (the layout helpers below), so the file is rustfmt-clean.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import SchemaError
from ..schema.model import Enum, Field, FieldKind, Message, Method, MethodKind, Schema, Service
from .base import GeneratedFile, header, template_env

__all__ = ["ClientView", "MethodView", "ServiceView", "emit", "service_view"]

#: Nested messages deeper than this fail to decode (protobuf's default recursion limit).
MAX_DEPTH = 100

# Strict and reserved keywords (2021 edition), escaped as raw identifiers `r#type`.
_KEYWORD_LIST = """
    as break const continue else enum extern false fn for if impl in let loop match mod move
    mut pub ref return static struct trait true type unsafe use where while async await dyn
    abstract become box do final macro override priv typeof unsized virtual yield try union
"""
_KEYWORDS = frozenset(_KEYWORD_LIST.split())
# Keywords that cannot be raw identifiers: suffixed with `_` instead.
_NOT_RAW = frozenset({"self", "Self", "super", "crate", "_"})
# Type names the generated code uses unqualified, and the primitive types: a message or
# enum with one of these names is suffixed with `_` so that it shadows nothing.
_RESERVED_TYPE_LIST = """
    Option Some None Result Ok Err Vec String Box Default From BTreeMap Self
    i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str
"""
_RESERVED_TYPES = frozenset(_RESERVED_TYPE_LIST.split())
# Lower-case names every package module uses (its imports).
_RESERVED_MODULE_NAMES = ("wire", "__rt")

#: rustfmt's default line width, which the templates lay code out for.
_MAX_WIDTH = 100

#: The struct field that keeps a message's unknown fields (their encoding, as read).
UNKNOWN_FIELDS = "unknown_fields"
#: The inherent methods of a generated message, which getters do not take.
_MESSAGE_METHODS = frozenset(
    {"encode", "encode_to_vec", "decode", "merge", "merge_from", "missing_required"}
)
#: The associated functions of a generated enum, which its values do not take.
_ENUM_FUNCTIONS = frozenset({"name", "from_name", "is_known"})

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------
# Names


def _escape(name: str) -> str:
    if name in _NOT_RAW:
        return f"{name}_"
    if name in _KEYWORDS:
        return f"r#{name}"
    return name


def snake_case(name: str) -> str:
    """`fooBar` -> `foo_bar`, `HTTPServer` -> `http_server`; already snake stays."""
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", out)
    return out.lower()


def camel_case(name: str) -> str:
    """`foo_bar` -> `FooBar`; the letters after the first of each part are kept."""
    parts = [p for p in name.split("_") if p]
    return "".join(p[0].upper() + p[1:] for p in parts) or name


def _field_ident(name: str) -> str:
    return _escape(snake_case(name))


def _type_ident(name: str) -> str:
    ident = camel_case(name)
    return f"{ident}_" if ident in _RESERVED_TYPES else ident


def _module_ident(segment: str) -> str:
    return _escape(segment)


# ---------------------------------------------------------------------------
# View models (what the templates read)


@dataclass(frozen=True, slots=True)
class MapView:
    key_type: str
    value_type: str
    key_wire: str
    value_wire: str
    #: Statements writing `k` / `v` (references), tags included.
    write_key: str
    write_value: str
    read_key: str
    read_value: str
    value_is_message: bool
    #: The value is a closed enum: an entry with an unknown number is an unknown field.
    value_closed: bool = False


@dataclass(frozen=True, slots=True)
class FieldView:
    """One protobuf field (or oneof member) of a message."""

    ident: str  # the struct field (for a oneof member: the oneof's field)
    number: int
    #: scalar | optional | message | packed | repeated | repeated_message | map | oneof
    shape: str
    wire: str  # wire::VARINT ...; the packed form is always wire::LEN
    rust_type: str  # one value's type (the element type of repeated fields)
    #: Condition under which an implicit-presence scalar is written (`self.x != 0`).
    nonzero: str
    #: Statement writing the value `v` (a reference) without its tag.
    write: str
    #: The same for the value `self.<ident>` (singular implicit-presence fields).
    write_self: str
    #: Expression reading one value from reader `r` (`p` for packed elements).
    read: str
    read_packed: str
    packable: bool
    boxed: bool
    map: MapView | None = None
    oneof_type: str = ""
    variant: str = ""
    #: A closed enum: numbers without a name go to the unknown fields.
    closed: bool = False


@dataclass(frozen=True, slots=True)
class AccessorView:
    """The getter of a scalar field with explicit presence."""

    ident: str
    field: str  # the protobuf field's name
    returns: str
    const_type: str
    #: The declared default as a Rust constant expression ("" when none is declared).
    literal: str
    const_fits: bool
    #: The getter's body (`self.x.unwrap_or(DEFAULT)`).
    body: str


@dataclass(frozen=True, slots=True)
class RequiredCheck:
    """One statement of `missing_required`."""

    #: set (a required field) | message | repeated | map | oneof (values to look into)
    kind: str
    ident: str
    full_name: str  # the field's
    pattern: str = ""  # oneof: the variant pattern binding `v`


@dataclass(frozen=True, slots=True)
class StructMember:
    ident: str
    rust_type: str
    comment: str


@dataclass(frozen=True, slots=True)
class VariantView:
    name: str
    rust_type: str
    comment: str


@dataclass(frozen=True, slots=True)
class OneofView:
    type_name: str
    full_name: str
    variants: tuple[VariantView, ...]


@dataclass(frozen=True, slots=True)
class MessageView:
    full_name: str
    type_name: str
    members: tuple[StructMember, ...]
    #: Fields in number order, for encoding.
    encode: tuple[FieldView, ...]
    #: Fields in declaration order, for decoding.
    decode: tuple[FieldView, ...]
    oneofs: tuple[OneofView, ...]
    #: rustfmt's layout: whether `const FULL_NAME: &'static str = "...";` fits on one line.
    full_name_fits: bool = True
    accessors: tuple[AccessorView, ...] = ()
    required: tuple[RequiredCheck, ...] = ()
    #: Whether it has `missing_required` (required fields at some depth).
    checks_required: bool = False
    #: The column of the module's items (4 per module level).
    base: int = 0


@dataclass(frozen=True, slots=True)
class EnumValueView:
    ident: str
    number: int
    primary: bool  # the first name of its number (aliases are not matched in `name`)
    proto_name: str


@dataclass(frozen=True, slots=True)
class EnumView:
    full_name: str
    type_name: str
    values: tuple[EnumValueView, ...]
    #: proto2: a number without a name is not a value (`is_known`); the default is the
    #: first value.
    closed: bool = False
    default_ident: str = ""
    base: int = 0


@dataclass(frozen=True, slots=True)
class MethodView:
    name: str  # the gRPC method name
    ident: str  # the trait method
    export_name: str
    export_fn: str
    input_type: str  # relative to the service's module
    output_type: str
    input_path: str  # from the generated module's root
    output_path: str
    #: rustfmt's layout: whether the signature fits on one line.
    signature_fits: bool
    #: `MethodKind.value`: unary, server_streaming, client_streaming, bidi_streaming.
    kind: str = MethodKind.UNARY.value
    #: The trait method's parameters after `&self`, and its return type.
    params: tuple[str, ...] = ()
    returns: str = ""
    #: What the default body discards (`request`, `(requests, responses)`).
    unused: str = "request"

    @property
    def label(self) -> str:
        """The kind as people say it (`server-streaming`)."""
        return MethodKind(self.kind).label


@dataclass(frozen=True, slots=True)
class ServiceView:
    full_name: str
    trait_name: str
    trait_path: str  # from the generated module's root
    macro_name: str
    macro_path: str
    methods: tuple[MethodView, ...]


@dataclass(frozen=True, slots=True)
class ClientMethodView:
    ident: str  # the client's method
    full_name: str  # `pkg.Service/Method`, what host_call is given
    input_type: str  # relative to the service's module
    output_type: str
    #: rustfmt's layout: whether the signature fits on one line.
    signature_fits: bool


@dataclass(frozen=True, slots=True)
class ClientView:
    """The client of a host service (a service the Python host implements)."""

    full_name: str
    struct_name: str
    methods: tuple[ClientMethodView, ...]


@dataclass
class ModuleView:
    """A Rust module: one protobuf package (segment)."""

    ident: str
    path: tuple[str, ...]
    messages: list[MessageView] = field(default_factory=list)
    enums: list[EnumView] = field(default_factory=list)
    services: list[ServiceView] = field(default_factory=list)
    clients: list[ClientView] = field(default_factory=list)
    children: list[ModuleView] = field(default_factory=list)
    uses_map: bool = False

    @property
    def super_prefix(self) -> str:
        return "super::" * len(self.path)

    @property
    def has_items(self) -> bool:
        return bool(self.messages or self.enums or self.services or self.clients)


# ---------------------------------------------------------------------------
# Scalar codecs


@dataclass(frozen=True, slots=True)
class _Scalar:
    rust_type: str
    wire: str
    read: str  # method of wire::Reader
    write: str  # format with {v}: the value (Copy types) or a reference (string, bytes)
    copy: bool = True


_SCALARS: dict[FieldKind, _Scalar] = {
    FieldKind.DOUBLE: _Scalar("f64", "FIXED64", "read_double", "wire::encode_double(buf, {v})"),
    FieldKind.FLOAT: _Scalar("f32", "FIXED32", "read_float", "wire::encode_float(buf, {v})"),
    FieldKind.INT64: _Scalar("i64", "VARINT", "read_int64", "wire::encode_int64(buf, {v})"),
    FieldKind.UINT64: _Scalar("u64", "VARINT", "read_uint64", "wire::encode_varint(buf, {v})"),
    FieldKind.INT32: _Scalar("i32", "VARINT", "read_int32", "wire::encode_int32(buf, {v})"),
    FieldKind.FIXED64: _Scalar("u64", "FIXED64", "read_fixed64", "wire::encode_fixed64(buf, {v})"),
    FieldKind.FIXED32: _Scalar("u32", "FIXED32", "read_fixed32", "wire::encode_fixed32(buf, {v})"),
    FieldKind.BOOL: _Scalar("bool", "VARINT", "read_bool", "wire::encode_bool(buf, {v})"),
    FieldKind.STRING: _Scalar(
        "String", "LEN", "read_str", "wire::encode_str(buf, {v})", copy=False
    ),
    FieldKind.BYTES: _Scalar(
        "Vec<u8>", "LEN", "read_bytes", "wire::encode_bytes(buf, {v})", copy=False
    ),
    FieldKind.UINT32: _Scalar(
        "u32", "VARINT", "read_uint32", "wire::encode_varint(buf, u64::from({v}))"
    ),
    FieldKind.SFIXED32: _Scalar(
        "i32", "FIXED32", "read_sfixed32", "wire::encode_fixed32(buf, {v} as u32)"
    ),
    FieldKind.SFIXED64: _Scalar(
        "i64", "FIXED64", "read_sfixed64", "wire::encode_fixed64(buf, {v} as u64)"
    ),
    FieldKind.SINT32: _Scalar("i32", "VARINT", "read_sint32", "wire::encode_sint32(buf, {v})"),
    FieldKind.SINT64: _Scalar("i64", "VARINT", "read_sint64", "wire::encode_sint64(buf, {v})"),
}


def _nonzero(kind: FieldKind, place: str) -> str:
    """The condition under which an implicit-presence field is written."""
    if kind in (FieldKind.STRING, FieldKind.BYTES):
        return f"!{place}.is_empty()"
    if kind is FieldKind.BOOL:
        return place
    if kind in (FieldKind.DOUBLE, FieldKind.FLOAT):
        # -0.0 is written, as the reference implementations do (they compare bits).
        return f"{place}.to_bits() != 0"
    if kind is FieldKind.ENUM:
        return f"{place}.0 != 0"
    return f"{place} != 0"


# ---------------------------------------------------------------------------
# The emitter


class _Emitter:
    def __init__(self, schema: Schema, module: str) -> None:
        self.schema = schema
        self.module = module
        self.messages = self._reached_messages()
        self.enums = self._reached_enums()
        # Full name -> (module path, type ident).
        self.names: dict[str, tuple[tuple[str, ...], str]] = {}
        self.root = ModuleView(ident=module, path=())
        self._modules: dict[tuple[str, ...], ModuleView] = {(): self.root}
        # Which namespace entries each module holds (for collision messages).
        self._taken: dict[tuple[tuple[str, ...], str], str] = {}
        self._recursive = self._recursive_edges()
        self._needs_check = self._messages_needing_checks()

    # -- what to generate ----------------------------------------------------------

    def _reached_messages(self) -> list[Message]:
        schema = self.schema
        todo: list[str] = [m.full_name for m in schema.target_messages()]
        # Guests implement the target services (streaming methods too) and call the host
        # services (unary methods only): both need their requests and responses.
        for service in schema.target_services():
            for method in service.all_methods:
                todo += [method.input, method.output]
        for service in schema.host_services():
            for method in service.methods:
                todo += [method.input, method.output]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen or name not in schema.messages:
                continue
            seen.add(name)
            for f in schema.message(name).fields:
                for sub in (f, f.map_value):
                    if sub is not None and sub.kind is FieldKind.MESSAGE and sub.type_name:
                        todo.append(sub.type_name)
        return [m for m in schema.messages.values() if m.full_name in seen and not m.is_map_entry]

    def _reached_enums(self) -> list[Enum]:
        used: set[str] = set()
        for m in self.messages:
            for f in m.fields:
                for sub in (f, f.map_value):
                    if sub is not None and sub.kind is FieldKind.ENUM and sub.type_name:
                        used.add(sub.type_name)
        return [
            e
            for e in self.schema.enums.values()
            if e.full_name in used or e.file in self.schema.targets
        ]

    def _direct_edges(self, message: Message) -> Iterable[str]:
        """Message types held inline (singular or oneof), which a cycle must box."""
        for f in message.fields:
            if f.kind is FieldKind.MESSAGE and not f.repeated and f.type_name:
                yield f.type_name

    def _recursive_edges(self) -> set[tuple[str, str]]:
        graph = {m.full_name: list(self._direct_edges(m)) for m in self.messages}
        boxed: set[tuple[str, str]] = set()
        for source, targets in graph.items():
            for target in targets:
                if self._reaches(graph, target, source):
                    boxed.add((source, target))
        return boxed

    @staticmethod
    def _reaches(graph: dict[str, list[str]], start: str, goal: str) -> bool:
        stack, seen = [start], set()
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node in seen:
                continue
            seen.add(node)
            stack.extend(graph.get(node, ()))
        return False

    # -- modules and names -----------------------------------------------------------

    def _package(self, file: str) -> str:
        return self.schema.files[file].package

    def _module(self, package: str) -> ModuleView:
        path: tuple[str, ...] = ()
        current = self.root
        for segment in package.split(".") if package else []:
            ident = _module_ident(segment)
            path = (*path, ident)
            found = self._modules.get(path)
            if found is None:
                self._claim(path[:-1], ident, f"package {package!r}")
                found = ModuleView(ident=ident, path=path)
                self._modules[path] = found
                current.children.append(found)
            current = found
        return current

    def _claim(self, path: tuple[str, ...], ident: str, what: str) -> None:
        """Takes `ident` in the module at `path` for `what`; raises when another item has it
        (for names that cannot move: packages and the generated code's own)."""
        key = (path, ident.removeprefix("r#"))
        if key in self._taken and self._taken[key] != what:
            where = "::".join((self.module, *path))
            raise SchemaError(
                f"{what} and {self._taken[key]} both map to the Rust name `{ident}` "
                f"in module `{where}`; rename one of them"
            )
        self._taken[key] = what

    def _take(self, path: tuple[str, ...], ident: str, what: str) -> str:
        """`ident` in the module at `path` for `what`, or, when another item has it, the
        first of `ident_`, `ident__` ... that is free (as prost resolves clashes)."""
        while True:
            key = (path, ident.removeprefix("r#"))
            if key not in self._taken or self._taken[key] == what:
                self._taken[key] = what
                return ident
            ident = f"{ident.removeprefix('r#')}_"

    def _relative_name(self, full_name: str, package: str) -> str:
        prefix = f"{package}." if package else ""
        return full_name[len(prefix) :]

    def _assign_names(self) -> None:
        for reserved in _RESERVED_MODULE_NAMES:
            self._claim((), reserved, "a name the generated code uses")
        items: list[tuple[str, str]] = [(m.full_name, m.file) for m in self.messages]
        items += [(e.full_name, e.file) for e in self.enums]
        for full_name, file in items:
            package = self._package(file)
            module = self._module(package)
            parts = self._relative_name(full_name, package).split(".")
            ident = self._take(
                module.path, "_".join(_type_ident(p) for p in parts), f"`{full_name}`"
            )
            self.names[full_name] = (module.path, ident)
        for module in self._modules.values():
            if module.path:
                for reserved in _RESERVED_MODULE_NAMES:
                    self._claim(module.path, reserved, "a name the generated code uses")

    def _type_ref(self, full_name: str, here: tuple[str, ...]) -> str:
        path, ident = self.names[full_name]
        if path == here:
            return ident
        return "::".join(["super"] * len(here) + [*path, ident])

    def _root_path(self, path: tuple[str, ...], ident: str) -> str:
        return "::".join((*path, ident))

    # -- messages ------------------------------------------------------------------

    def _value_codec(
        self,
        f: Field,
        here: tuple[str, ...],
        reader: str = "r",
        var: str = "v",
        *,
        is_ref: bool = True,
    ) -> tuple[str, str, str, str]:
        """(rust type, wire, write statement for `var` (a reference, or a place when not
        `is_ref`), read expression from `reader`) of a non-message value. `r` is the
        message's `&mut Reader`, other readers are owned."""
        reader_ref = reader if reader == "r" else f"&mut {reader}"
        if f.kind is FieldKind.ENUM:
            assert f.type_name is not None
            rust_type = self._type_ref(f.type_name, here)
            return (
                rust_type,
                "VARINT",
                f"wire::encode_int32(buf, {var}.0)",
                f"{rust_type}({reader}.read_int32()?)",
            )
        scalar = _SCALARS[f.kind]
        # Copy values are passed by value, strings and bytes by reference.
        value = var if is_ref != scalar.copy else (f"*{var}" if is_ref else f"&{var}")
        read = f"{reader}.{scalar.read}()?"
        # Strings and bytes go through __rt, which reads their lengths as upb does.
        if f.kind is FieldKind.STRING:
            read = f"__rt::string({reader_ref})?"
        elif f.kind is FieldKind.BYTES:
            read = f"__rt::bytes({reader_ref})?.to_vec()"
        return scalar.rust_type, scalar.wire, scalar.write.format(v=value), read

    def _closed(self, f: Field | None) -> bool:
        """Whether `f` holds a closed (proto2) enum, whose unknown numbers are unknown fields."""
        if f is None or f.kind is not FieldKind.ENUM or not f.type_name:
            return False
        enum = self.schema.enums.get(f.type_name)
        return enum is not None and enum.closed

    def _map_view(self, f: Field, here: tuple[str, ...]) -> MapView:
        key, value = f.map_key, f.map_value
        assert key is not None and value is not None
        key_type, key_wire, write_key, read_key = self._value_codec(key, here, "e", "k")
        if value.kind is FieldKind.MESSAGE:
            assert value.type_name is not None
            value_type = self._type_ref(value.type_name, here)
            value_wire, write_value, read_value = "LEN", "", ""
        else:
            value_type, value_wire, write_value, read_value = self._value_codec(value, here, "e")
        return MapView(
            key_type=key_type,
            value_type=value_type,
            key_wire=key_wire,
            value_wire=value_wire,
            write_key=write_key,
            write_value=write_value,
            read_key=read_key,
            read_value=read_value,
            value_is_message=value.kind is FieldKind.MESSAGE,
            value_closed=self._closed(value),
        )

    def _field_view(
        self,
        message: Message,
        f: Field,
        here: tuple[str, ...],
        oneofs: dict[str, str],
        ident: str,
        variant: str = "",
    ) -> FieldView:
        boxed = False
        map_view = None
        oneof_type = write_self = ""
        if f.is_map:
            shape = "map"
            rust_type, wire, write, read, read_packed = "", "LEN", "", "", ""
            map_view = self._map_view(f, here)
        elif f.kind is FieldKind.MESSAGE:
            assert f.type_name is not None
            rust_type = self._type_ref(f.type_name, here)
            wire, write, read, read_packed = "SGROUP" if f.group else "LEN", "", "", ""
            boxed = (message.full_name, f.type_name) in self._recursive
            shape = "message"
            if f.repeated:
                shape = "repeated_message"
            if f.group:
                shape = shape.replace("message", "group")
        else:
            rust_type, wire, write, read = self._value_codec(f, here)
            read_packed = self._value_codec(f, here, "p")[3]
            write_self = self._value_codec(f, here, var=f"self.{ident}", is_ref=False)[2]
            if f.repeated:
                shape = "packed" if f.packed else "repeated"
            else:
                shape = "optional" if f.optional else "scalar"
        if f.oneof is not None:
            oneof_type = oneofs[f.oneof]
            if f.kind is FieldKind.MESSAGE:
                shape = "oneof_group" if f.group else "oneof_message"
            else:
                shape = "oneof"
        return FieldView(
            ident=ident,
            number=f.number,
            shape=shape,
            wire=f"wire::{wire}",
            rust_type=rust_type,
            nonzero=_nonzero(f.kind, f"self.{ident}"),
            write=write,
            write_self=write_self,
            read=read,
            read_packed=read_packed,
            packable=f.repeated and f.kind.packable,
            boxed=boxed,
            map=map_view,
            oneof_type=oneof_type,
            variant=variant,
            closed=self._closed(f),
        )

    def _member_idents(self, message: Message) -> dict[str, str]:
        """The struct field of each protobuf field, and of each oneof (by name): snake
        case, keywords escaped, clashes resolved in declaration order by suffixing `_`
        (the first one keeps the name). `unknown_fields` is the generated code's."""
        taken = {UNKNOWN_FIELDS}
        idents: dict[str, str] = {}
        for f in message.fields:
            name = f.oneof if f.oneof is not None else f.name
            key = ("oneof " if f.oneof is not None else "") + name
            if key in idents:
                continue
            ident = _field_ident(name)
            while ident.removeprefix("r#") in taken:
                ident = f"{ident.removeprefix('r#')}_"
            taken.add(ident.removeprefix("r#"))
            idents[key] = ident
        return idents

    def _message_view(self, message: Message) -> MessageView:
        here, type_name = self.names[message.full_name]
        module = self._modules[here]
        # Struct fields: one per field, a oneof at the place of its first member.
        oneof_types: dict[str, str] = {}
        for oneof, _members in message.oneofs:
            name = f"{type_name}_{_type_ident(oneof)}"
            what = f"the oneof `{message.full_name}.{oneof}`"
            oneof_types[oneof] = self._take(here, name, what)
        idents = self._member_idents(message)
        variants: dict[str, str] = {}
        for _oneof, member_names in message.oneofs:
            taken: set[str] = set()
            for name in member_names:
                variant = _type_ident(name)
                while variant in taken:
                    variant = f"{variant}_"
                taken.add(variant)
                variants[name] = variant
        views = [
            self._field_view(
                message,
                f,
                here,
                oneof_types,
                idents[f"oneof {f.oneof}" if f.oneof is not None else f.name],
                variants.get(f.name, ""),
            )
            for f in message.fields
        ]
        members: list[StructMember] = []
        seen: set[str] = set()
        for f, view in zip(message.fields, views, strict=True):
            if view.ident in seen:
                continue
            seen.add(view.ident)
            what = f"oneof `{f.oneof}`" if f.oneof else f"field `{f.name}`"
            members.append(StructMember(view.ident, self._member_type(f, view), what))
            if view.shape == "map":
                module.uses_map = True
        oneof_views = []
        for oneof, member_names in message.oneofs:
            variant_views = []
            for name in member_names:
                f = next(x for x in message.fields if x.name == name)
                view = views[message.fields.index(f)]
                rust_type = f"Box<{view.rust_type}>" if view.boxed else view.rust_type
                variant_views.append(VariantView(view.variant, rust_type, f"`{_proto_decl(f)}`"))
            oneof_views.append(
                OneofView(oneof_types[oneof], f"{message.full_name}.{oneof}", tuple(variant_views))
            )
        encode = tuple(sorted(views, key=lambda v: v.number))
        full_name_line = f'const FULL_NAME: &\'static str = "{message.full_name}";'
        checks = self._required_checks(message, views)
        return MessageView(
            full_name=message.full_name,
            type_name=type_name,
            members=tuple(members),
            encode=encode,
            decode=tuple(views),
            oneofs=tuple(oneof_views),
            full_name_fits=4 * (len(here) + 1) + len(full_name_line) <= _MAX_WIDTH,
            accessors=self._accessors(message, views, here),
            required=checks,
            checks_required=message.full_name in self._needs_check,
            base=4 * len(here),
        )

    def _accessors(
        self, message: Message, views: list[FieldView], here: tuple[str, ...]
    ) -> tuple[AccessorView, ...]:
        """A getter per scalar field with explicit presence (proto2 and proto3 `optional`):
        the value, or the field's default (`Schema.default_of`) when it is not set. It
        has the field's name, as prost's; one that would clash with a method of the
        message takes a `_` suffix."""
        taken = set(_MESSAGE_METHODS)
        accessors = []
        indent = 4 * (len(here) + 2)
        for f, view in zip(message.fields, views, strict=True):
            if view.shape != "optional":
                continue
            ident = view.ident
            while ident.removeprefix("r#") in taken:
                ident = f"{ident.removeprefix('r#')}_"
            taken.add(ident.removeprefix("r#"))
            declared = f.default is not None
            default = self.schema.default_of(f)
            if f.kind is FieldKind.STRING:
                returns, const_type = "&str", "&str"
                body = f"self.{view.ident}.as_deref().unwrap_or"
            elif f.kind is FieldKind.BYTES:
                returns, const_type = "&[u8]", "&[u8]"
                body = f"self.{view.ident}.as_deref().unwrap_or"
            else:
                returns = const_type = view.rust_type
                body = f"self.{view.ident}.unwrap_or"
            literal = ""
            if declared:
                literal = _literal(f.kind, default, view.rust_type)
                body += "(DEFAULT)"
            else:
                body += "_default()"
            const_line = f"const DEFAULT: {const_type} = {literal};"
            accessors.append(
                AccessorView(
                    ident=ident,
                    field=f.name,
                    returns=returns,
                    const_type=const_type,
                    literal=literal,
                    const_fits=indent + len(const_line) <= _MAX_WIDTH,
                    body=body,
                )
            )
        return tuple(accessors)

    def _required_checks(
        self, message: Message, views: list[FieldView]
    ) -> tuple[RequiredCheck, ...]:
        """What `missing_required` looks at: required fields, and the message values
        whose types may lack one, at any depth."""
        if message.full_name not in self._needs_check:
            return ()
        checks = []
        for f, view in zip(message.fields, views, strict=True):
            name = f"{message.full_name}.{f.name}"
            if f.required:
                checks.append(RequiredCheck("set", view.ident, name))
            value = f.map_value if f.is_map else f
            if value is None or value.kind is not FieldKind.MESSAGE:
                continue
            if value.type_name not in self._needs_check:
                continue
            if f.is_map:
                checks.append(RequiredCheck("map", view.ident, name))
            elif f.repeated:
                checks.append(RequiredCheck("repeated", view.ident, name))
            elif f.oneof is not None:
                pattern = f"{view.oneof_type}::{view.variant}(v)"
                checks.append(RequiredCheck("oneof", view.ident, name, pattern))
            else:
                checks.append(RequiredCheck("message", view.ident, name))
        return tuple(checks)

    def _messages_needing_checks(self) -> set[str]:
        """Messages that have required fields, or hold (at any depth) a message that has."""
        needs = {m.full_name for m in self.messages if m.required}
        changed = True
        while changed:
            changed = False
            for m in self.messages:
                if m.full_name in needs:
                    continue
                for f in m.fields:
                    value = f.map_value if f.is_map else f
                    if value is not None and value.type_name in needs:
                        needs.add(m.full_name)
                        changed = True
                        break
        return needs

    def _member_type(self, f: Field, view: FieldView) -> str:
        if f.oneof is not None:
            return f"Option<{view.oneof_type}>"
        if view.map is not None:
            return f"BTreeMap<{view.map.key_type}, {view.map.value_type}>"
        if f.repeated:
            return f"Vec<{view.rust_type}>"
        if f.kind is FieldKind.MESSAGE:
            inner = f"Box<{view.rust_type}>" if view.boxed else view.rust_type
            return f"Option<{inner}>"
        if f.optional:
            return f"Option<{view.rust_type}>"
        return view.rust_type

    # -- enums ---------------------------------------------------------------------

    def _enum_view(self, enum: Enum) -> EnumView:
        here, type_name = self.names[enum.full_name]
        values = []
        numbers: set[int] = set()
        idents: set[str] = set(_ENUM_FUNCTIONS)
        for name, number in enum.values:
            ident = _escape(name)
            while ident.removeprefix("r#") in idents:
                ident = f"{ident.removeprefix('r#')}_"
            idents.add(ident.removeprefix("r#"))
            values.append(EnumValueView(ident, number, number not in numbers, name))
            numbers.add(number)
        default = values[0].ident if enum.closed and values else ""
        return EnumView(
            enum.full_name, type_name, tuple(values), enum.closed, default, 4 * len(here)
        )

    # -- services ------------------------------------------------------------------

    def _service_view(self, service: Service) -> ServiceView:
        module = self._module(service.package)
        what = f"the service `{service.full_name}`"
        trait_name = self._take(module.path, _type_ident(service.name), what)
        macro_name = f"export_{snake_case(service.name)}"
        macro_name = self._take(module.path, f"macro {macro_name}", what).removeprefix("macro ")
        methods = []
        for method, ident in zip(
            service.all_methods, _method_idents(service.all_methods), strict=True
        ):
            methods.append(self._method_view(method, ident, module.path))
        return ServiceView(
            full_name=service.full_name,
            trait_name=trait_name,
            trait_path=self._root_path(module.path, trait_name),
            macro_name=macro_name,
            macro_path=self._root_path(module.path, macro_name),
            methods=tuple(methods),
        )

    def _method_view(self, method: Method, ident: str, here: tuple[str, ...]) -> MethodView:
        export_fn = "__bridge_" + re.sub(r"[^A-Za-z0-9]+", "_", method.full_name).lower()
        in_path, in_ident = self.names[method.input]
        out_path, out_ident = self.names[method.output]
        input_type = self._type_ref(method.input, here)
        output_type = self._type_ref(method.output, here)
        kind = method.kind
        # The trait method's shape by kind, as in the contract of docs/abi.md section 14.
        params: list[str] = []
        if kind.client_streaming:
            params.append(f"requests: &mut ::bridge_guest::Source<{input_type}>")
        else:
            params.append(f"request: {input_type}")
        if kind.server_streaming:
            params.append(f"responses: &mut ::bridge_guest::Sink<{output_type}>")
        ok = "()" if kind.server_streaming else output_type
        returns = f"Result<{ok}, ::bridge_guest::Status>"
        names = [p.split(":")[0] for p in params]
        unused = names[0] if len(names) == 1 else f"({', '.join(names)})"
        indent = 4 * (len(here) + 1)
        signature = f"fn {ident}(&self, {', '.join(params)}) -> {returns} {{"
        return MethodView(
            name=method.name,
            ident=ident,
            export_name=method.full_name,
            export_fn=export_fn,
            input_type=input_type,
            output_type=output_type,
            input_path=self._root_path(in_path, in_ident),
            output_path=self._root_path(out_path, out_ident),
            signature_fits=indent + len(signature) <= _MAX_WIDTH,
            kind=kind.value,
            params=tuple(params),
            returns=returns,
            unused=unused,
        )

    def _client_view(self, service: Service) -> ClientView:
        module = self._module(service.package)
        struct_name = self._take(
            module.path,
            f"{_type_ident(service.name)}Client",
            f"the client of the host service `{service.full_name}`",
        )
        methods = []
        for method, ident in zip(service.methods, _method_idents(service.methods), strict=True):
            input_type = self._type_ref(method.input, module.path)
            output_type = self._type_ref(method.output, module.path)
            # Inside the module's `impl` block.
            indent = 4 * (len(module.path) + 1)
            signature = (
                f"pub fn {ident}(&self, request: &{input_type}) -> "
                f"Result<{output_type}, ::bridge_guest::Status> {{"
            )
            methods.append(
                ClientMethodView(
                    ident=ident,
                    full_name=method.full_name,
                    input_type=input_type,
                    output_type=output_type,
                    signature_fits=indent + len(signature) <= _MAX_WIDTH,
                )
            )
        return ClientView(service.full_name, struct_name, tuple(methods))

    # -- all -----------------------------------------------------------------------

    def run(self) -> GeneratedFile:
        if not _IDENT.match(self.module) or self.module in _KEYWORDS | _NOT_RAW:
            raise SchemaError(f"{self.module!r} is not a Rust module name")
        self._assign_names()
        for enum in self.enums:
            self._modules[self.names[enum.full_name][0]].enums.append(self._enum_view(enum))
        for message in self.messages:
            view = self._message_view(message)
            self._modules[self.names[message.full_name][0]].messages.append(view)
        for service in self.schema.target_services():
            view_s = self._service_view(service)
            self._module(service.package).services.append(view_s)
        for service in self.schema.host_services():
            client = self._client_view(service)
            self._module(service.package).clients.append(client)
        _sort_children(self.root)
        env = template_env("rust")
        env.globals.update(_LAYOUT)
        rt = env.get_template("rt.rs.j2").render(max_depth=MAX_DEPTH).rstrip("\n")

        def render(module: ModuleView) -> str:
            children = [{"ident": child.ident, "body": render(child)} for child in module.children]
            text = env.get_template("package.rs.j2").render(
                module=module,
                children=children,
                rt=rt,
                module_name=self.module,
                max_depth=MAX_DEPTH,
            )
            return text.strip("\n")

        text = env.get_template("module.rs.j2").render(
            header=header("//", self.schema.targets),
            module_name=self.module,
            body=render(self.root),
        )
        return GeneratedFile(f"{self.module}.rs", text)


# ---------------------------------------------------------------------------
# rustfmt's layout of the lines that grow with names: each helper gets the column of the
# module's items (`base`) and the statement's indentation in the template (`ind`), and
# lays the statement out on one line when it fits in 100 columns, else as rustfmt does.


#: rustfmt's `chain_width`: a method chain longer than this goes one call a line.
_CHAIN_WIDTH = 60


def _fits(base: int, ind: int, text: str) -> bool:
    return base + ind + len(text) <= _MAX_WIDTH


def _split_last_call(expr: str) -> tuple[str, str, str]:
    """`Some(A::B(value))` -> (`Some(A::B(`, `value`, `))`): the arguments of the call
    that is the outer call's argument (rustfmt overflows one level)."""
    first = expr.index("(")
    second = expr.find("(", first + 1)
    cut = second + 1 if second > 0 else first + 1
    close = 2 if second > 0 else 1
    return expr[:cut], expr[cut : len(expr) - close], expr[len(expr) - close :]


def _assign(base: int, ind: int, lhs: str, rhs: str, end: str = ";") -> str:
    """`lhs = rhs` + end."""
    pad = " " * ind
    if _fits(base, ind, f"{lhs} = {rhs}{end}"):
        return f"{pad}{lhs} = {rhs}{end}"
    if _fits(base, ind + 4, f"{rhs}{end}"):
        return f"{pad}{lhs} =\n{pad}    {rhs}{end}"
    head, arg, tail = _split_last_call(rhs)
    return f"{pad}{lhs} = {head}\n{pad}    {arg},\n{pad}{tail}{end}"


def _arm_assign(base: int, ind: int, pattern: str, lhs: str, rhs: str) -> str:
    """A match arm whose body is `lhs = rhs`."""
    pad = " " * ind
    if _fits(base, ind, f"{pattern} => {lhs} = {rhs},"):
        return f"{pad}{pattern} => {lhs} = {rhs},"
    body = _assign(base, ind + 4, lhs, rhs, "")
    return f"{pad}{pattern} => {{\n{body}\n{pad}}}"


def _push(base: int, ind: int, place: str, value: str) -> str:
    """`place.push(value);`"""
    pad = " " * ind
    chain = f"{place}.push({value})"
    if _fits(base, ind, f"{chain};") and len(chain) <= _CHAIN_WIDTH:
        return f"{pad}{chain};"
    return f"{pad}{place}\n{pad}    .push({value});"


def _field_chain(base: int, ind: int, head: str, place: str, call: str, tail: str) -> str:
    """`head place.call tail` (`place` is `self.<field>`), split at each dot of the chain
    when it is too long, as rustfmt splits it."""
    pad = " " * ind
    chain = f"{place}.{call}"
    if _fits(base, ind, f"{head}{chain}{tail}") and len(chain) <= _CHAIN_WIDTH:
        return f"{pad}{head}{chain}{tail}"
    root, _, member = place.partition(".")
    return f"{pad}{head}{root}\n{pad}    .{member}\n{pad}    .{call}{tail}"


def _arm_push(base: int, ind: int, pattern: str, place: str, value: str) -> str:
    """A match arm whose body is `place.push(value)` (`place` is `self.<field>`)."""
    return _field_chain(base, ind, f"{pattern} => ", place, f"push({value})", ",")


def _if_let(base: int, ind: int, pattern: str, value: str) -> str:
    """`if let pattern = value {`"""
    pad = " " * ind
    if _fits(base, ind, f"if let {pattern} = {value} {{"):
        return f"{pad}if let {pattern} = {value} {{"
    return f"{pad}if let {pattern} =\n{pad}    {value}\n{pad}{{"


def _let_chain(base: int, ind: int, name: str, place: str, call: str) -> str:
    """`let name = place.call;` (`place` is `self.<field>`)."""
    return _field_chain(base, ind, f"let {name} = ", place, call, ";")


def _debug_tuple(base: int, ind: int, type_name: str) -> str:
    """The Debug arm of an enum number without a name."""
    pad = " " * ind
    chain = f'f.debug_tuple("{type_name}").field(&self.0).finish()'
    if _fits(base, ind, f"None => {chain},") and len(chain) <= _CHAIN_WIDTH:
        return f"{pad}None => {chain},"
    inner = pad + "    "
    return (
        f'{pad}None => f\n{inner}.debug_tuple("{type_name}")\n{inner}.field(&self.0)'
        f"\n{inner}.finish(),"
    )


def _member(base: int, ind: int, ident: str, rust_type: str) -> str:
    """A struct field: `pub ident: type,`."""
    pad = " " * ind
    if _fits(base, ind, f"pub {ident}: {rust_type},"):
        return f"{pad}pub {ident}: {rust_type},"
    return f"{pad}pub {ident}:\n{pad}    {rust_type},"


def _chain(base: int, ind: int, chain: str) -> str:
    """A method chain on `self.<field>` as a statement of its own (no `;`)."""
    pad = " " * ind
    if _fits(base, ind, chain) and len(chain) <= _CHAIN_WIDTH:
        return pad + chain
    root, *calls = chain.split(".")
    first = f"{root}.{calls.pop(0)}"
    return pad + first + "".join(f"\n{pad}    .{call}" for call in calls)


def _signature(base: int, ind: int, head: str, params: list[str], returns: str) -> str:
    """`head(params) -> returns {` (`head`: `pub fn name`)."""
    pad = " " * ind
    line = f"{head}({', '.join(params)}) -> {returns} {{"
    if _fits(base, ind, line):
        return pad + line
    lines = "".join(f"{pad}    {param},\n" for param in params)
    return f"{pad}{head}(\n{lines}{pad}) -> {returns} {{"


def _const(base: int, ind: int, head: str, value: str) -> str:
    """`head = value;` (`head`: `pub const X: T`), broken after `=` when too long."""
    pad = " " * ind
    if _fits(base, ind, f"{head} = {value};"):
        return f"{pad}{head} = {value};"
    return f"{pad}{head} =\n{pad}    {value};"


def _arm(base: int, ind: int, pattern: str, value: str) -> str:
    """`pattern => value,`, in a block when too long."""
    pad = " " * ind
    if _fits(base, ind, f"{pattern} => {value},"):
        return f"{pad}{pattern} => {value},"
    return f"{pad}{pattern} => {{\n{pad}    {value}\n{pad}}}"


def _impl(base: int, trait: str, type_name: str) -> str:
    """`impl trait for type_name {`."""
    line = f"impl {trait} for {type_name} {{"
    if _fits(base, 0, line):
        return line
    return f"impl {trait}\n    for {type_name}\n{{"


_LAYOUT = {
    "impl_for": _impl,
    "chain": _chain,
    "signature": _signature,
    "const": _const,
    "arm": _arm,
    "struct_field": _member,
    "assign": _assign,
    "arm_assign": _arm_assign,
    "push": _push,
    "arm_push": _arm_push,
    "if_let": _if_let,
    "let_chain": _let_chain,
    "debug_tuple": _debug_tuple,
}


def _sort_children(module: ModuleView) -> None:
    module.children.sort(key=lambda m: m.ident)
    for child in module.children:
        _sort_children(child)


def _method_idents(methods: Iterable[Method]) -> list[str]:
    """The Rust method of each RPC: snake case, clashes resolved in declaration order
    by suffixing `_`."""
    taken: set[str] = set()
    idents = []
    for method in methods:
        ident = _field_ident(method.name)
        while ident.removeprefix("r#") in taken:
            ident = f"{ident.removeprefix('r#')}_"
        taken.add(ident.removeprefix("r#"))
        idents.append(ident)
    return idents


def _rust_str(text: str) -> str:
    """A Rust string literal of `text`."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or not ch.isprintable():
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _rust_bytes(data: bytes) -> str:
    """A Rust byte string literal of `data`."""
    out = []
    for b in data:
        ch = chr(b)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{b:02x}")
    return 'b"' + "".join(out) + '"'


_INT_LIMITS = {
    ("i32", -(2**31)): "i32::MIN",
    ("i64", -(2**63)): "i64::MIN",
}


def _literal(kind: FieldKind, value: object, rust_type: str) -> str:
    """A declared default as a Rust constant expression of `rust_type`."""
    if kind is FieldKind.STRING:
        assert isinstance(value, str)
        return _rust_str(value)
    if kind is FieldKind.BYTES:
        assert isinstance(value, bytes)
        return _rust_bytes(value)
    if kind is FieldKind.BOOL:
        return "true" if value else "false"
    if kind is FieldKind.ENUM:
        return f"{rust_type}({value})"
    if kind in (FieldKind.DOUBLE, FieldKind.FLOAT):
        assert isinstance(value, float)
        if math.isnan(value):
            return f"{rust_type}::NAN"
        if math.isinf(value):
            return f"{rust_type}::{'INFINITY' if value > 0 else 'NEG_INFINITY'}"
        text = repr(value)
        return text if any(c in text for c in ".eE") else f"{text}.0"
    assert isinstance(value, int)
    return _INT_LIMITS.get((rust_type, value), str(value))


def _proto_decl(f: Field) -> str:
    kind = f.type_name if f.type_name else f.kind.value
    return f"{kind} {f.name} = {f.number}"


def service_view(schema: Schema, service: str, *, module: str = "bridge_gen") -> ServiceView:
    """The Rust names the glue gives `service` (trait, macro, methods, type paths), for
    `bridge init` to write a user file that fits them."""
    emitter = _Emitter(schema, module)
    emitter._assign_names()
    return emitter._service_view(schema.services[service])


def emit(schema: Schema, *, module: str = "bridge_gen") -> list[GeneratedFile]:
    """The Rust module `<module>.rs` for the schema's target files (see the module doc)."""
    return [_Emitter(schema, module).run()]
