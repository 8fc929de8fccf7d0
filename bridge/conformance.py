"""`bridge conformance`: check the generated Go and Rust codecs on the user's own schema.

For every message type the target .proto files define (nested ones too, map entries
not), a synthetic schema declares one echo method:

    // bridge_conformance.proto, in a temporary directory
    syntax = "proto3";
    package bridge.conformance;
    import "kitchen/v1/kitchen.proto";
    service Conformance {
      rpc Echo_0(.kitchen.v1.Everything) returns (.kitchen.v1.Everything);
      ...
    }

Go and Rust glue is generated for it, and a guest whose every method answers with its
request (templates in codegen/templates/{go,rust}/conformance/) is built once per
language in a temporary directory. Then messages made by Python protobuf from the
schema's descriptors go through each echo method: the empty message, edge values (the
bounds of every integer kind, -0.0, infinities, NaN, subnormals, empty, unicode and long
strings and bytes, every enum value and, for open enums, an unknown number, each oneof
case at its default and not, explicit-presence fields set to their defaults, maps with
edge keys, repeated fields with 0, 1 and many elements, nested messages and groups, the
declared extensions, unknown fields of every wire type), a maximal message (every field
set, a few levels deep) and `count` seeded random messages (`MessageGenerator`), every
one with its proto2 required fields set.

A message passes when the reply decodes and its canonical bytes (deterministic
serialization: map order does not matter) equal the original's, unknown fields and
extensions included (an echo keeps what it does not know), so -0.0 and NaN count as
they are; a guest error, a trap or a difference fails it, and the first failing input
of each type is kept, as hex, for the report (`check_type`). That is the valid-message
half of one rule (`judge`), which the codec tests also hold the Go and Rust codecs to on
any bytes: refuse what Python's protobuf refuses, read and write back what it reads.

The user's files, proto3 or proto2, are compiled as they are first, with the checks of
`bridge gen`: what bridge cannot run is rejected with the SchemaError naming the file
and line (see `prepare`).
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from .codegen import go, rust, write_files
from .codegen.base import GeneratedFile, template_env
from .errors import CallError, GuestError, SchemaError, StatusCode, ToolchainError
from .guest import sdk, toolchain
from .guest.build import Language, build
from .guest.scaffold import GO_PACKAGE, RUST_MODULE
from .schema.messages import MessageTypes, missing_required
from .schema.model import INT_RANGES, Schema

__all__ = [
    "DEFAULT_COUNT",
    "DEFAULT_SEED",
    "ConformanceReport",
    "EchoPlan",
    "MessageGenerator",
    "Skipped",
    "TypeResult",
    "build_guest",
    "check_messages",
    "check_type",
    "judge",
    "prepare",
    "run_conformance",
    "synthetic_proto",
    "tag",
    "varint",
    "wire_value",
]

DEFAULT_COUNT = 200
DEFAULT_SEED = 0
PACKAGE = "bridge.conformance"
SERVICE = "Conformance"
SYNTHETIC_FILE = "bridge_conformance.proto"
GO_MODULE = "bridge.local/conformance"
#: How deeply the edge-case and maximal messages nest (the top-level message is 0).
EDGE_DEPTH = 3
#: How deeply random messages nest.
RANDOM_DEPTH = 5
#: The length of the long strings and bytes (a 3-byte length prefix).
LONG = 70_000
#: How many elements the "many" repeated fields get.
MANY = 300
#: At most this many edge-value messages per type (a large enum adds one per value).
MAX_EDGE_MESSAGES = 256
#: How often a random message (at any depth) gets unknown fields.
UNKNOWN_RATE = 0.3
#: The largest field number.
_MAX_FIELD = 2**29 - 1

ProgressFn = Callable[[str], contextlib.AbstractContextManager[None]]
CallFn = Callable[[bytes], bytes]
# A message, field or enum descriptor: protobuf's stubs type upb's descriptors apart from
# the pure-Python ones (and their links as optional), so they go untyped here.
_Desc = Any


def _no_progress(message: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


# ---- the synthetic schema ----


@dataclass(frozen=True)
class EchoPlan:
    """The user's schema, and the synthetic one that echoes each of its message types."""

    user: Schema
    schema: Schema  # the synthetic file (its only target) with the user's files
    #: Message full name -> the echo method's gRPC name, in the user's declaration order.
    methods: dict[str, str]

    @property
    def service(self) -> str:
        return f"{PACKAGE}.{SERVICE}"


def synthetic_proto(imports: Iterable[str], messages: Sequence[str]) -> str:
    """The .proto text of the echo service: `Echo_<n>` takes and returns `messages[n]`."""
    lines = [
        "// Generated by bridge conformance: one echo method per message type.",
        'syntax = "proto3";',
        "",
        f"package {PACKAGE};",
        "",
        *(f'import "{name}";' for name in imports),
        "",
        f"service {SERVICE} {{",
        *(f"  rpc Echo_{i}(.{name}) returns (.{name});" for i, name in enumerate(messages)),
        "}",
        "",
    ]
    return "\n".join(lines)


def prepare(protos: Sequence[Path], includes: Sequence[Path], workdir: Path) -> EchoPlan:
    """Compile the user's files, then the echo service over their message types.

    The user's files are compiled first as `bridge gen` compiles them, so what bridge
    cannot run fails here with its SchemaError (file:line). The synthetic file is
    written into `workdir`.
    """
    user = Schema.compile(protos, includes)
    messages = [m.full_name for m in user.target_messages()]
    if not messages:
        raise SchemaError(f"{', '.join(user.targets)} define no message types to check")
    workdir.mkdir(parents=True, exist_ok=True)
    synthetic = workdir / SYNTHETIC_FILE
    synthetic.write_text(synthetic_proto(user.targets, messages), encoding="utf-8")
    roots = [i.resolve() for i in includes] or sorted({p.resolve().parent for p in protos})
    schema = Schema.compile([synthetic], [workdir, *roots])
    methods = {name: f"{PACKAGE}.{SERVICE}/Echo_{i}" for i, name in enumerate(messages)}
    return EchoPlan(user=user, schema=schema, methods=methods)


# ---- the guests ----


def guest_files(language: Language, plan: EchoPlan) -> tuple[list[GeneratedFile], str]:
    """The project's files (user files and glue) and the glue's directory in it."""
    env = template_env(language.value)
    sources = ", ".join(plan.user.targets)
    if language is Language.GO:
        view_go = go.service_view(plan.schema, plan.service, package=GO_PACKAGE)
        files = [
            GeneratedFile(
                "go.mod",
                env.get_template("project/go.mod.j2").render(module=GO_MODULE),
            ),
            GeneratedFile(
                "main.go",
                env.get_template("conformance/main.go.j2").render(
                    module=GO_MODULE, package=GO_PACKAGE, service=view_go, sources=sources
                ),
            ),
        ]
        glue = [
            GeneratedFile(f"{GO_PACKAGE}/{f.path}", f.text)
            for f in go.emit(plan.schema, package=GO_PACKAGE)
        ]
        return files + glue, GO_PACKAGE
    view_rust = rust.service_view(plan.schema, plan.service, module=RUST_MODULE)
    context = {
        "name": "bridge-conformance",
        "service": view_rust,
        "module": RUST_MODULE,
        "sources": sources,
    }
    files = [
        # The manifest `bridge init` writes: the codecs are checked as a user's build has them.
        GeneratedFile("Cargo.toml", env.get_template("project/Cargo.toml.j2").render(context)),
        GeneratedFile("src/lib.rs", env.get_template("conformance/lib.rs.j2").render(context)),
    ]
    glue = [
        GeneratedFile(f"src/{f.path}", f.text) for f in rust.emit(plan.schema, module=RUST_MODULE)
    ]
    return files + glue, "src"


def build_guest(language: Language, plan: EchoPlan, workdir: Path) -> Path:
    """Write the echo guest's project under `workdir` and build it; the .wasm's path."""
    project = workdir / f"{language.value}-guest"
    files, _ = guest_files(language, plan)
    write_files(files, project)
    # The manifests `bridge init` writes expect the SDK vendored beside them.
    sdk.vendor(project, language, gen="")
    output = workdir / f"conformance-{language.value}.wasm"
    return build(project, output, language=language, schema=plan.schema.descriptor_set).output


def check_toolchain(language: Language) -> None:
    """ToolchainError when `language`'s guest cannot be built on this machine."""
    if language is Language.GO:
        toolchain.require_go()
    else:
        toolchain.require_rust(toolchain.RUST_TARGETS[0])


# ---- messages ----

_T = FieldDescriptor
_I32, _I64 = INT_RANGES[_T.TYPE_INT32], INT_RANGES[_T.TYPE_INT64]
_U32, _U64 = INT_RANGES[_T.TYPE_UINT32], INT_RANGES[_T.TYPE_UINT64]
_INT_EDGES: dict[tuple[int, int], tuple[int, ...]] = {
    _I32: (0, 1, -1, 127, 128, _I32[0], _I32[1], -300),
    _I64: (0, 1, -1, _I64[0], _I64[1], 2**31, _I32[0] - 1, 2**53 + 1),
    _U32: (0, 1, 127, 128, 2**31, _U32[1], 16384),
    _U64: (0, 1, 2**63, _U64[1], 2**32, 2**56 - 1),
}
_DOUBLE_EDGES = (
    *(0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan),
    *(5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308),
)
_FLOAT_EDGES = (
    *(0.0, -0.0, 1.5, math.inf, -math.inf, math.nan, 1.401298464324817e-45),
    *(1.1754943508222875e-38, 3.4028234663852886e38, -3.4028234663852886e38),
)
_UNICODE = "é\u4e16\U0001f600\x00\n\u200b\ufffd"
_STRING_EDGES = ("", "a", _UNICODE, "ключ значение", "x" * LONG)
_BYTES_EDGES = (b"", b"\x00", bytes(range(256)), b"\xff\xfe", b"\xa5" * LONG)
_ALPHABET = "ab Z09_-é\u4e16\U0001f600\x00\n\t\u200b\ufffd\U0010ffff"


def _is_message(f: _Desc) -> bool:
    """A message or a group field (a group is a message with another wire format)."""
    return f.type in (_T.TYPE_MESSAGE, _T.TYPE_GROUP)


def _entry(f: _Desc) -> tuple[_Desc, _Desc]:
    """A map field's key and value fields."""
    entry: _Desc = f.message_type
    return entry.fields_by_name["key"], entry.fields_by_name["value"]


def tag(number: int, wire: int) -> bytes:
    """A field's key: `number << 3 | wire`, as a varint."""
    return varint(number << 3 | wire)


def wire_value(wire: int, rng: random.Random) -> bytes:
    """A random value of a wire type (0, 1, 2 or 5)."""
    if wire == 0:
        return varint(rng.choice((0, 1, 150, 2**63, rng.getrandbits(64))))
    if wire == 1:
        return rng.randbytes(8)
    if wire == 5:
        return rng.randbytes(4)
    payload = rng.randbytes(rng.randint(0, 8))
    return varint(len(payload)) + payload


def _is_long(value: object) -> bool:
    return isinstance(value, (str, bytes)) and len(value) >= LONG


class MessageGenerator:
    """Messages of any type, driven by its descriptor: edge cases, maximal, random.

    The random messages come from `random.Random(f"{seed}:{type}")`, so that a type's
    messages depend on the seed and the type only.

    proto2 as well as proto3: required fields are always set, at every depth (`complete`),
    closed enums get declared values only, groups are filled as messages, and the
    extensions the schema declares for a message are set (`Message.Extensions`), so that
    a codec that keeps them as unknown fields is checked on them. Random messages also
    carry unknown fields (`unknown_fields`: new numbers of every wire type, groups
    included, known numbers with another wire type, undeclared numbers of closed enums),
    at every depth: upb cannot set unknown fields, so they are appended to a message's
    bytes and parsed back.
    """

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        self._synthetic: dict[str, frozenset[str]] = {}
        self._extensions: dict[str, list[_Desc]] = {}

    # -- what the descriptors say --

    def _synthetic_oneofs(self, desc: _Desc) -> frozenset[str]:
        """The oneofs that are proto3 `optional` fields, not real oneofs."""
        if desc.full_name not in self._synthetic:
            proto = descriptor_pb2.DescriptorProto()
            desc.CopyToProto(proto)
            names = frozenset(
                proto.oneof_decl[f.oneof_index].name for f in proto.field if f.proto3_optional
            )
            self._synthetic[desc.full_name] = names
        return self._synthetic[desc.full_name]

    def _oneofs(self, desc: _Desc) -> list[list[_Desc]]:
        synthetic = self._synthetic_oneofs(desc)
        return [list(o.fields) for o in desc.oneofs if o.name not in synthetic]

    def _plain_fields(self, desc: _Desc) -> list[_Desc]:
        """Fields outside real oneofs (proto3 `optional` ones included)."""
        in_oneof = {f.name for case in self._oneofs(desc) for f in case}
        return [f for f in desc.fields if f.name not in in_oneof]

    def extensions(self, desc: _Desc) -> list[_Desc]:
        """The extensions of `desc` that its pool knows (those the schema declares)."""
        if desc.full_name not in self._extensions:
            found = desc.file.pool.FindAllExtensions(desc) if desc.extension_ranges else []
            self._extensions[desc.full_name] = sorted(found, key=lambda e: e.number)
        return self._extensions[desc.full_name]

    @staticmethod
    def _is_map(f: _Desc) -> bool:
        return bool(f.is_repeated and _is_message(f) and f.message_type.GetOptions().map_entry)

    @staticmethod
    def _enum_numbers(enum: _Desc) -> list[int]:
        numbers = list(dict.fromkeys(v.number for v in enum.values))
        if not enum.is_closed:  # open enums keep unknown numbers
            unknown = max(numbers) + 1 if max(numbers) < _I32[1] else min(numbers) - 1
            numbers.append(unknown)
        return numbers

    def edges(self, f: _Desc) -> tuple[Any, ...]:
        """The edge values of one (scalar or enum) field's type; the default first."""
        kind = f.type
        if kind in INT_RANGES:
            return _INT_EDGES[INT_RANGES[kind]]
        if kind == _T.TYPE_DOUBLE:
            return _DOUBLE_EDGES
        if kind == _T.TYPE_FLOAT:
            return _FLOAT_EDGES
        if kind == _T.TYPE_BOOL:
            return (False, True)
        if kind == _T.TYPE_STRING:
            return _STRING_EDGES
        if kind == _T.TYPE_BYTES:
            return _BYTES_EDGES
        if kind == _T.TYPE_ENUM:
            numbers = self._enum_numbers(f.enum_type)
            default = f.enum_type.values[0].number
            return (default, *(n for n in numbers if n != default))
        raise ValueError(f"{f.full_name}: no edge values for a message field")

    def _short_edges(self, f: _Desc) -> tuple[Any, ...]:
        return tuple(v for v in self.edges(f) if not _is_long(v))

    # -- setting fields --

    def _set_scalar(self, m: Message, f: _Desc, value: Any) -> None:
        setattr(m, f.name, value)

    def _fill_map(
        self,
        m: Message,
        f: _Desc,
        entries: Iterable[tuple[Any, Any]],
        fill_value: Callable[[Message], None],
    ) -> None:
        container = getattr(m, f.name)
        for key, value in entries:
            if _is_message(_entry(f)[1]):
                fill_value(container[key])
            else:
                container[key] = value

    # -- edge cases --

    def edge_cases(self, cls: type[Message]) -> Iterator[tuple[str, Message]]:
        """(what, message) pairs: empty, presence defaults, oneof cases, edge values, and
        many elements (those from `random.Random(f"{seed}:{type}:many")`)."""
        desc = cls.DESCRIPTOR
        yield "empty", cls()
        presence = cls()
        for f in self._plain_fields(desc):
            if f.is_repeated or not f.has_presence:
                continue
            if _is_message(f):
                getattr(presence, f.name).SetInParent()
            else:
                self._set_scalar(presence, f, f.default_value)
        if presence.ListFields():
            yield "explicit-presence fields set to their defaults", presence
        for case in self._oneofs(desc):
            for f in case:
                for pick in (0, 1):
                    m = cls()
                    if _is_message(f):
                        sub = getattr(m, f.name)
                        sub.SetInParent()
                        if pick:
                            self._edge_fill(sub, 0, 1)
                    else:
                        edges = self.edges(f)
                        self._set_scalar(m, f, edges[pick % len(edges)])
                    yield f"oneof case {f.name} ({'default' if pick == 0 else 'set'})", m
        lengths = [len(self.edges(f)) for f in desc.fields if not _is_message(f)]
        maps = [f for f in desc.fields if self._is_map(f)]
        lengths += [len(self.edges(_entry(f)[0])) for f in maps]
        rounds = min(max([4, *lengths]), MAX_EDGE_MESSAGES)
        for k in range(rounds):
            m = cls()
            self._edge_fill(m, 0, k)
            yield f"edge values #{k}", m
        many = self._many(cls, random.Random(f"{self.seed}:{desc.full_name}:many"))
        if many.ListFields():
            yield "many elements", many
        if self.extensions(desc):
            m = cls()
            rng = random.Random(f"{self.seed}:{desc.full_name}:ext")
            self._fill_extensions(m, 0, rng, every=True)
            yield "extensions set", m
        unknown = cls()
        unknown.MergeFromString(self.every_unknown_field(desc))
        yield "unknown fields of every wire type", unknown

    def _edge_fill(self, m: Message, depth: int, k: int) -> None:
        """Round `k` of edge values: scalar i gets its edge value k, lists vary in length."""
        desc = m.DESCRIPTOR
        for f in self._plain_fields(desc):
            if self._is_map(f):
                self._edge_map(m, f, depth, k)
            elif _is_message(f):
                if depth >= EDGE_DEPTH:
                    continue
                if f.is_repeated:
                    for j in range((1, 2, 0, 1)[k % 4]):
                        self._edge_fill(getattr(m, f.name).add(), depth + 1, k + j)
                elif k % 4 == 0:
                    getattr(m, f.name).SetInParent()  # set, and empty
                else:
                    self._edge_fill(getattr(m, f.name), depth + 1, k)
            elif f.is_repeated:
                short = self._short_edges(f)
                n = (1, len(short), 0, 2)[k % 4]
                getattr(m, f.name).extend(short[(k + j) % len(short)] for j in range(n))
            else:
                edges = self.edges(f)
                if f.has_presence and k % len(edges) == 0 and k % 2:
                    continue  # explicit presence: sometimes unset rather than the default
                self._set_scalar(m, f, edges[k % len(edges)])
        for n, case in enumerate(self._oneofs(desc)):
            pick = (k + n) % (len(case) + 1)
            if pick == len(case):
                continue  # no case
            f = case[pick]
            if _is_message(f):
                sub = getattr(m, f.name)
                sub.SetInParent()
                if depth < EDGE_DEPTH:
                    self._edge_fill(sub, depth + 1, k + 1)
            else:
                edges = self.edges(f)
                self._set_scalar(m, f, edges[(k // (len(case) + 1)) % len(edges)])

    def _edge_map(self, m: Message, f: _Desc, depth: int, k: int) -> None:
        """Round `k` of a map: one entry, every edge key, none, or two entries."""
        phase = k % 4
        if phase == 2:
            return
        key_f, value_f = _entry(f)
        keys = self.edges(key_f)
        chosen = [keys[k % len(keys)]] if phase == 0 else list(keys) if phase == 1 else keys[:2]
        if _is_message(value_f):
            values: tuple[Any, ...] = (None,)
        else:
            values = self.edges(value_f) if len(chosen) == 1 else self._short_edges(value_f)
        entries = [(key, values[(k + j) % len(values)]) for j, key in enumerate(chosen)]

        def fill(sub: Message) -> None:
            if depth < EDGE_DEPTH and phase != 0:  # phase 0: an empty message value
                self._edge_fill(sub, depth + 1, k + 1)

        self._fill_map(m, f, entries, fill)

    def _many(self, cls: type[Message], rng: random.Random) -> Message:
        """Every repeated field with many elements, every map with many entries."""
        m = cls()
        for f in self._plain_fields(cls.DESCRIPTOR):
            if self._is_map(f):
                key_f, value_f = _entry(f)
                keys = dict.fromkeys(self._random_value(key_f, rng) for _ in range(MANY // 6))
                is_message = _is_message(value_f)
                entries = [
                    (key, None if is_message else self._random_value(value_f, rng)) for key in keys
                ]
                self._fill_map(m, f, entries, lambda sub: None)
            elif f.is_repeated and not _is_message(f):
                values = (self._random_value(f, rng) for _ in range(MANY))
                getattr(m, f.name).extend(values)
            elif f.is_repeated:
                for _ in range(MANY // 10):
                    getattr(m, f.name).add()
        return m

    # -- the maximal message --

    def maximal(self, cls: type[Message]) -> Message:
        """Every field set (one case per oneof), nested messages to EDGE_DEPTH levels, the
        declared extensions of the top-level message too."""
        m = cls()
        self._maximal_fill(m, 0)
        rng = random.Random(f"{self.seed}:{cls.DESCRIPTOR.full_name}:max")
        self._fill_extensions(m, 0, rng, every=True)
        return m

    def _maximal_fill(self, m: Message, depth: int) -> None:
        desc = m.DESCRIPTOR
        fields = self._plain_fields(desc) + [case[-1] for case in self._oneofs(desc)]
        for f in fields:
            if self._is_map(f):
                key_f, value_f = _entry(f)
                keys = self._short_edges(key_f)[-2:]
                value = None if _is_message(value_f) else self._short_edges(value_f)[-1]

                def fill(sub: Message, depth: int = depth) -> None:
                    if depth < EDGE_DEPTH:
                        self._maximal_fill(sub, depth + 1)

                self._fill_map(m, f, [(key, value) for key in keys], fill)
            elif _is_message(f):
                if f.is_repeated:
                    for _ in range(2):
                        sub = getattr(m, f.name).add()
                        if depth < EDGE_DEPTH:
                            self._maximal_fill(sub, depth + 1)
                else:
                    sub = getattr(m, f.name)
                    sub.SetInParent()
                    if depth < EDGE_DEPTH:
                        self._maximal_fill(sub, depth + 1)
            else:
                short = self._short_edges(f)
                values = short[1:] or short  # not the default, so that it is written
                if f.is_repeated:
                    getattr(m, f.name).extend(values)
                else:
                    self._set_scalar(m, f, values[-1])

    # -- random messages --

    def random_message(self, cls: type[Message], rng: random.Random) -> Message:
        """A random message of `cls` from `rng`, nesting at most RANDOM_DEPTH levels, its
        required fields set."""
        m = cls()
        self._random_fill(m, 0, rng)
        return self.complete(m)

    def _random_value(self, f: _Desc, rng: random.Random, *, short: bool = False) -> Any:
        if rng.random() < 0.25:
            return rng.choice(self._short_edges(f))  # long values: in the edge cases only
        kind = f.type
        if kind in INT_RANGES:
            lo, hi = INT_RANGES[kind]
            if rng.random() < 0.5:
                return max(lo, min(hi, rng.randint(-300, 300)))
            bits = rng.randint(1, 64 if hi > _U32[1] else 32)
            value = rng.randint(0, 2**bits - 1)
            return value if lo == 0 else max(lo, min(hi, value * rng.choice((1, -1))))
        if kind == _T.TYPE_DOUBLE:
            if rng.random() < 0.5:
                return rng.uniform(-1e6, 1e6)
            return struct.unpack("<d", rng.randbytes(8))[0]
        if kind == _T.TYPE_FLOAT:
            if rng.random() < 0.5:
                return float(rng.randint(-1000, 1000)) / 8
            return struct.unpack("<f", rng.randbytes(4))[0]
        if kind == _T.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == _T.TYPE_STRING:
            n = rng.randint(0, 300 if rng.random() < 0.1 else 16)
            return "".join(rng.choice(_ALPHABET) for _ in range(n))
        if kind == _T.TYPE_BYTES:
            return rng.randbytes(rng.randint(0, 300 if rng.random() < 0.1 else 16))
        if kind == _T.TYPE_ENUM:
            numbers = self._enum_numbers(f.enum_type)
            if not f.enum_type.is_closed and rng.random() < 0.1:
                return rng.randint(*_I32)
            return rng.choice(numbers)
        raise ValueError(f"{f.full_name}: no random value for a message field")

    def _random_fill(self, m: Message, depth: int, rng: random.Random) -> None:
        desc = m.DESCRIPTOR
        nest = depth < RANDOM_DEPTH and rng.random() < 0.8 ** (depth + 1) * 1.25
        for f in self._plain_fields(desc):
            if rng.random() < 0.4:
                continue
            if self._is_map(f):
                key_f, value_f = _entry(f)
                n = rng.randint(0, 4)
                keys = [self._random_value(key_f, rng) for _ in range(n)]
                is_message = _is_message(value_f)
                entries = [
                    (key, None if is_message else self._random_value(value_f, rng)) for key in keys
                ]

                def fill(sub: Message, depth: int = depth, nest: bool = nest) -> None:
                    if nest:
                        self._random_fill(sub, depth + 1, rng)

                self._fill_map(m, f, entries, fill)
            elif _is_message(f):
                if not nest and rng.random() < 0.8:
                    continue
                if f.is_repeated:
                    for _ in range(rng.randint(0, 3 if depth < 2 else 1)):
                        sub = getattr(m, f.name).add()
                        if nest:
                            self._random_fill(sub, depth + 1, rng)
                else:
                    sub = getattr(m, f.name)
                    sub.SetInParent()
                    if nest:
                        self._random_fill(sub, depth + 1, rng)
            elif f.is_repeated:
                getattr(m, f.name).extend(
                    self._random_value(f, rng) for _ in range(rng.randint(0, 5))
                )
            else:
                self._set_scalar(m, f, self._random_value(f, rng))
        for case in self._oneofs(desc):
            if rng.random() < 0.25:
                continue
            f = rng.choice(case)
            if _is_message(f):
                sub = getattr(m, f.name)
                sub.SetInParent()
                if nest:
                    self._random_fill(sub, depth + 1, rng)
            else:
                self._set_scalar(m, f, self._random_value(f, rng))
        if self.extensions(desc) and rng.random() < 0.5:
            self._fill_extensions(m, depth, rng, nest=nest)
        if rng.random() < UNKNOWN_RATE:
            self._add_unknown(m, rng)

    # -- extensions, required fields, unknown fields --

    def _fill_extensions(
        self, m: Message, depth: int, rng: random.Random, *, nest: bool = True, every: bool = False
    ) -> None:
        """Set some (or `every` one) of the declared extensions of `m`, at random."""
        extensions = self.extensions(m.DESCRIPTOR)
        if not extensions:
            return
        ext_map: Any = m.Extensions
        for ext in extensions:
            if not every and rng.random() < 0.3:
                continue
            if _is_message(ext):
                subs = [ext_map[ext].add() for _ in range(2)] if ext.is_repeated else [ext_map[ext]]
                for sub in subs:
                    sub.SetInParent()
                    if nest and depth < RANDOM_DEPTH:
                        self._random_fill(sub, depth + 1, rng)
            elif ext.is_repeated:
                ext_map[ext].extend(self._random_value(ext, rng) for _ in range(3))
            else:
                ext_map[ext] = self._random_value(ext, rng)

    def complete(self, m: Message) -> Message:
        """`m` with every required field set, at every depth (proto2: protobuf refuses to
        read or write a message that lacks one); `m` itself."""
        desc = m.DESCRIPTOR
        for f in desc.fields:
            if f.is_required and not m.HasField(f.name):
                if _is_message(f):
                    getattr(m, f.name).SetInParent()
                else:
                    self._set_scalar(m, f, f.default_value)
        for f, value in m.ListFields():  # extensions included
            if not _is_message(f):
                continue
            if self._is_map(f):
                if _is_message(_entry(f)[1]):
                    for sub in value.values():
                        self.complete(sub)
            elif f.is_repeated:
                for sub in value:
                    self.complete(sub)
            else:
                self.complete(value)
        return m

    def _unknown_numbers(self, desc: _Desc) -> set[int]:
        """Field numbers `desc` gives a meaning: its fields' and its extensions'."""
        return {f.number for f in desc.fields} | {e.number for e in self.extensions(desc)}

    def _new_number(self, desc: _Desc, rng: random.Random) -> int:
        taken = self._unknown_numbers(desc)
        while True:
            number = rng.choice(
                (rng.randint(1, 40), rng.randint(1, 3000), rng.randint(1, _MAX_FIELD))
            )
            if number not in taken:
                return number

    def unknown_field(self, desc: _Desc, rng: random.Random, depth: int = 0) -> bytes:
        """One field `desc` does not know: a new number with any wire type (a group
        too), a scalar field's number with another wire type, or an undeclared number
        of a closed enum."""
        how = rng.randrange(8)
        fields = [f for f in desc.fields if not _is_message(f)]
        closed = [f for f in fields if f.type == _T.TYPE_ENUM and f.enum_type.is_closed]
        if how == 6 and fields:  # a known number, another wire type (never "packed")
            f = rng.choice(fields)
            wire = rng.choice([w for w in (0, 1, 5) if w != _WIRE_TYPES.get(f.type, 0)])
            return tag(f.number, wire) + wire_value(wire, rng)
        if how == 7 and closed:
            f = rng.choice(closed)
            declared = {v.number for v in f.enum_type.values}
            number = rng.choice((max(declared) + 1, min(declared) - 1, rng.randint(*_I32)))
            if number in declared:
                number = max(declared) + 1
            return tag(f.number, 0) + varint(number)
        number = self._new_number(desc, rng)
        wire = (0, 1, 5, 2, 2, 3, 0, 0)[how]
        if wire == 3:
            inner = b"".join(
                self._new_group_field(rng) for _ in range(rng.randint(0, 2 if depth < 2 else 0))
            )
            return tag(number, 3) + inner + tag(number, 4)
        return tag(number, wire) + wire_value(wire, rng)

    def _new_group_field(self, rng: random.Random) -> bytes:
        wire = rng.choice((0, 1, 2, 5))
        return tag(rng.randint(1, 100), wire) + wire_value(wire, rng)

    def unknown_fields(self, desc: _Desc, rng: random.Random) -> bytes:
        """One to four fields `desc` does not know (see `unknown_field`)."""
        return b"".join(self.unknown_field(desc, rng) for _ in range(rng.randint(1, 4)))

    def every_unknown_field(self, desc: _Desc) -> bytes:
        """Fields `desc` does not know, of every kind: a new number of each wire type
        (an empty group and one with fields), every scalar field's number with another
        wire type, and an undeclared number of each closed-enum field."""
        rng = random.Random(f"{self.seed}:{desc.full_name}:unknown")
        number = self._new_number(desc, rng)
        out = bytearray()
        for wire in (0, 1, 5, 2):
            out += tag(number, wire) + wire_value(wire, rng)
        out += tag(number, 3) + tag(number, 4)
        out += tag(number, 3) + tag(1, 0) + b"\x01" + tag(2, 2) + b"\x01a" + tag(number, 4)
        for f in desc.fields:
            if _is_message(f):
                continue
            expected = _WIRE_TYPES.get(f.type, 0)
            wire = 5 if expected == 0 else 0
            out += tag(f.number, wire) + wire_value(wire, rng)
            if f.type == _T.TYPE_ENUM and f.enum_type.is_closed:
                out += tag(f.number, 0) + varint(max(v.number for v in f.enum_type.values) + 1)
        return bytes(out)

    def _add_unknown(self, m: Message, rng: random.Random) -> None:
        """Give `m` unknown fields: upb cannot set them, so `m`'s bytes get some appended
        and are read back."""
        data = m.SerializePartialToString() + self.unknown_fields(m.DESCRIPTOR, rng)
        m.Clear()
        m.MergeFromString(data)

    # -- all of them --

    def messages(self, cls: type[Message], count: int) -> Iterator[tuple[str, Message]]:
        """(what, message): the edge cases, the maximal message, `count` random ones."""
        for what, m in self.edge_cases(cls):
            yield what, self.complete(m)
        yield "maximal", self.complete(self.maximal(cls))
        rng = random.Random(f"{self.seed}:{cls.DESCRIPTOR.full_name}")
        for i in range(count):
            yield f"random #{i} (seed {self.seed})", self.random_message(cls, rng)


# ---- checking ----


@dataclass(frozen=True, slots=True)
class TypeResult:
    """How one message type fared in one language."""

    language: str
    message_type: str
    messages: int
    passed: int
    failed: int
    #: The first failing input, as hex, what it was and what went wrong.
    first_failure: str | None = None
    first_failure_kind: str | None = None
    first_failure_reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "language": self.language,
            "message_type": self.message_type,
            "messages": self.messages,
            "passed": self.passed,
            "failed": self.failed,
            "first_failure": self.first_failure,
            "first_failure_kind": self.first_failure_kind,
            "first_failure_reason": self.first_failure_reason,
        }


def _canonical(message: Message) -> bytes:
    return message.SerializePartialToString(deterministic=True)


def _difference(original: Message, reply: Message) -> str:
    """Which top-level fields differ between two messages of one type."""
    differ = []
    desc: _Desc = original.DESCRIPTOR
    for f in desc.fields:
        a, b = type(original)(), type(reply)()
        for target, source in ((a, original), (b, reply)):
            value = getattr(source, f.name)
            if f.is_repeated:
                if MessageGenerator._is_map(f):
                    container = getattr(target, f.name)
                    for key in value:
                        if _is_message(_entry(f)[1]):
                            container[key].CopyFrom(value[key])
                        else:
                            container[key] = value[key]
                elif _is_message(f):
                    for item in value:
                        getattr(target, f.name).add().CopyFrom(item)
                else:
                    getattr(target, f.name).extend(value)
            elif f.has_presence and not source.HasField(f.name):
                continue
            elif _is_message(f):
                getattr(target, f.name).CopyFrom(value)
            else:
                setattr(target, f.name, value)
        if _canonical(a) != _canonical(b):
            differ.append(f.name)
    if not differ:
        return "the reply differs in its unknown fields or extensions"
    return f"the reply differs in {', '.join(differ)}"


# ---- the rule: what a codec must do with any bytes ----
#
# One rule for the Go and Rust codecs, used by `check_type` (valid messages) and by the
# codec tests (hostile and mutated bytes, tests/codegen/differential.py): the guest
# refuses what Python's protobuf (upb) refuses, and reads and writes back what it reads,
# unknown fields kept.

_MASK64 = 2**64 - 1
#: The wire type of each non-message field type (the rest are varints).
_WIRE_TYPES: dict[int, int] = {
    _T.TYPE_DOUBLE: 1,
    _T.TYPE_FIXED64: 1,
    _T.TYPE_SFIXED64: 1,
    _T.TYPE_STRING: 2,
    _T.TYPE_BYTES: 2,
    _T.TYPE_GROUP: 3,
    _T.TYPE_FLOAT: 5,
    _T.TYPE_FIXED32: 5,
    _T.TYPE_SFIXED32: 5,
}
#: Nine bytes with the continuation bit, then a last byte above 1: the only shape of a
#: varint over 64 bits that upb reads (it keeps the low 64 bits). A cheap first look.
_OVERFLOW_SHAPE = re.compile(rb"[\x80-\xff]{9}[\x02-\x7f]")


def _wire_of(f: _Desc) -> int:
    """The wire type of a field's (unpacked) values."""
    return 2 if f.type == _T.TYPE_MESSAGE else _WIRE_TYPES.get(f.type, 0)


class _Unreadable(Exception):
    """`_Wire` cannot read bytes upb read: bridge's model of upb is wrong."""


def varint(value: int) -> bytes:
    """`value` as a protobuf varint (negative numbers as their 64-bit two's complement)."""
    value &= 2**64 - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _Wire:
    """upb's reading of bytes it accepted, field by field: `entries` gives the bytes that
    stand for the codecs' reading, and notes in `overflow` whether a varint carried more
    than 64 bits and in `zero_in_group` whether a group held field number 0.

    The codecs keep unknown fields as upb does, but for two documented differences
    (docs/decisions.md):
    - a map entry holding a field its entry type does not know (or a key or value with
      another wire type) is kept by upb whole, as an unknown field of the map's message;
      the Go and Rust codecs (like Go's protobuf) keep the entry and drop the field inside
      it. `entries` rewrites such entries without their unknown fields, so that upb reads
      them as the codecs do. An entry whose value is a closed enum with an undeclared
      number is an unknown field for both: it stays as it is.
    - upb reads field number 0 inside an unknown group (it refuses it anywhere else);
      protobuf C++ and Go, and the codecs, refuse it there too.
    """

    def __init__(self) -> None:
        self.overflow = False
        self.zero_in_group = False
        self.bad_utf8 = False

    def varint(self, data: bytes, pos: int, end: int) -> tuple[int, int]:
        value = 0
        for i in range(min(10, end - pos)):
            byte = data[pos + i]
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                self.overflow |= i == 9 and byte > 1
                return value & _MASK64, pos + i + 1
        raise _Unreadable(f"no varint at byte {pos}")

    def skip(self, data: bytes, pos: int, end: int, number: int, wire: int) -> int:
        """The end of the value of a field whose tag ended at `pos` (a group's: after
        its end-group tag)."""
        if wire == 0:
            return self.varint(data, pos, end)[1]
        if wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            size, pos = self.varint(data, pos, end)
            pos += size
        elif wire == 3:
            return self.group_end(data, pos, end, number)[1]
        else:
            raise _Unreadable(f"wire type {wire} at byte {pos}")
        if pos > end:
            raise _Unreadable("a field runs past its message")
        return pos

    def group_end(self, data: bytes, pos: int, end: int, number: int) -> tuple[int, int]:
        """Where the end-group tag of the group `number` whose fields start at `pos`
        starts, and where it ends."""
        while True:
            at = pos
            tag, pos = self.varint(data, pos, end)
            self.zero_in_group |= tag >> 3 == 0
            if tag & 7 == 4:
                if tag >> 3 != number:
                    raise _Unreadable(f"end-group {tag >> 3} closes group {number}")
                return at, pos
            pos = self.skip(data, pos, end, tag >> 3, tag & 7)

    def fields(self, data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
        """The fields of a message's bytes: (start, number, wire type, where the value
        starts, where the field ends), in order."""
        pos, end = 0, len(data)
        while pos < end:
            start = pos
            tag, pos = self.varint(data, pos, end)
            value_at = pos
            pos = self.skip(data, pos, end, tag >> 3, tag & 7)
            yield start, tag >> 3, tag & 7, value_at, pos

    def entries(self, desc: _Desc, data: bytes) -> bytes:
        """`data` (a `desc` message upb read) with the unknown fields inside map entries
        dropped, at every depth; everything else as it was."""
        out = bytearray()
        end = len(data)
        for start, number, wire, value_at, pos in self.fields(data):
            f = desc.fields_by_number.get(number)
            if f is not None and _is_message(f) and wire == _wire_of(f):
                if wire == 3:  # a group: its fields, then the end tag
                    inner_end = self.group_end(data, value_at, end, number)[0]
                    inner = self.entries(f.message_type, data[value_at:inner_end])
                    out += data[start:value_at] + inner + data[inner_end:pos]
                    continue
                size_at = self.varint(data, value_at, end)[1]
                payload = data[size_at:pos]
                if MessageGenerator._is_map(f):
                    inner = self.entry(f, payload)
                else:
                    inner = self.entries(f.message_type, payload)
                out += data[start:value_at] + varint(len(inner)) + inner
                continue
            if f is not None and wire == 2 and f.is_repeated and _WIRE_TYPES.get(f.type, 0) == 0:
                at = self.varint(data, value_at, end)[1]  # packed varints, for `overflow`
                while at < pos:
                    at = self.varint(data, at, pos)[1]
            if f is not None and wire == 2:
                self.check_utf8(f, data, value_at, pos)
            out += data[start:pos]
        return bytes(out)

    def check_utf8(self, f: _Desc, data: bytes, value_at: int, end: int) -> None:
        """Note in `bad_utf8` a string field (upb read it: a proto2 one) that holds
        invalid UTF-8."""
        if f.type == _T.TYPE_STRING:
            try:
                data[self.varint(data, value_at, end)[1] : end].decode("utf-8")
            except UnicodeDecodeError:
                self.bad_utf8 = True

    def entry(self, f: _Desc, data: bytes) -> bytes:
        """A map entry of the map field `f` as the codecs read it: its key and value
        fields (a message value rewritten by `entries`), nothing else; unless its value is
        a closed enum with an undeclared number (then the entry is unknown as it is)."""
        key_f, value_f = _entry(f)
        kept = bytearray()
        end = len(data)
        for start, number, wire, value_at, pos in self.fields(data):
            field = {1: key_f, 2: value_f}.get(number)
            if field is None or wire != _wire_of(field):
                continue  # unknown inside the entry: dropped
            if field.type == _T.TYPE_ENUM and field.enum_type.is_closed and number == 2:
                value = self.varint(data, value_at, end)[0] & 0xFFFFFFFF  # an int32
                value -= (value >> 31) << 32
                if value not in {v.number for v in field.enum_type.values}:
                    return data
            if number == 2 and _is_message(field):
                size_at = self.varint(data, value_at, end)[1]
                inner = self.entries(field.message_type, data[size_at:pos])
                kept += data[start:value_at] + varint(len(inner)) + inner
                continue
            self.check_utf8(field, data, value_at, pos)
            kept += data[start:pos]
        return bytes(kept)


def _overflows(desc: _Desc, request: bytes) -> bool:
    """Whether upb, reading `request`, meets a varint of more than 64 bits."""
    if _OVERFLOW_SHAPE.search(request) is None:
        return False
    wire = _Wire()
    wire.entries(desc, request)
    return wire.overflow


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _refusal(cls: type[Message], request: bytes) -> tuple[Message, str | None]:
    """What protobuf reads from `request`, and why it refuses it (None: it does not).
    A message that lacks a required field, at any depth, is refused, as protobuf C++'s
    ParseFromString refuses it (upb's Python reads it partially)."""
    theirs = cls()
    try:
        theirs.MergeFromString(request)
    except Exception as exc:  # protobuf's DecodeError, or upb's own
        return theirs, _one_line(exc)
    return theirs, missing_required(theirs)


#: (pool, message type) -> the type without declared extensions, see `_without_extensions`.
_PLAIN: dict[tuple[int, str], type[Message] | None] = {}


def _without_extensions(cls: type[Message]) -> type[Message] | None:
    """`cls` as a pool that declares no extensions builds it (its files and their imports
    only, every `extend` removed), or None when no extension of its pool reaches it.

    The codecs keep the declared extensions as unknown fields, unread, as they keep any
    field they do not know; upb reads them, so it refuses a malformed extension value (or
    one lacking its required fields) that the codecs keep as bytes: the second documented
    difference. Read with this type, upb reads extensions as the codecs do.
    """
    desc: _Desc = cls.DESCRIPTOR
    pool = desc.file.pool
    key = (id(pool), desc.full_name)
    if key in _PLAIN:
        return _PLAIN[key]
    reached, todo, extended = set(), [desc], False
    while todo and not extended:
        d = todo.pop()
        if d.full_name in reached:
            continue
        reached.add(d.full_name)
        extended = bool(d.extension_ranges and pool.FindAllExtensions(d))
        todo += [f.message_type for f in d.fields if f.message_type is not None]
    plain: type[Message] | None = None
    if extended:
        new = descriptor_pool.DescriptorPool()
        added: set[str] = set()

        def add(file: _Desc) -> None:
            if file.name in added:
                return
            added.add(file.name)
            for dependency in file.dependencies:
                add(dependency)
            proto = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(proto)
            del proto.extension[:]
            messages = list(proto.message_type)
            while messages:
                message = messages.pop()
                del message.extension[:]
                messages += message.nested_type
            new.Add(proto)

        add(desc.file)
        plain = message_factory.GetMessageClass(new.FindMessageTypeByName(desc.full_name))
    _PLAIN[key] = plain
    return plain


def judge(
    cls: type[Message], request: bytes, call: CallFn, *, proto2_utf8: bool = False
) -> str | None:
    """Why the guest's answer to `request` (through `call`) breaks the codec rule, or
    None when it keeps it. `request` may be any bytes.

    The rule: the guest refuses, with INVALID_ARGUMENT, exactly what Python's protobuf
    (upb) refuses, a message missing a required field (protobuf C++ refuses it; upb's
    Python reads it partially), and a varint of more than 64 bits (upb keeps its low 64
    bits: docs/decisions.md); anything else the guest reads comes back as protobuf
    reads and writes it, unknown fields KEPT: the same canonical bytes (maps in any
    order, -0.0 and NaN by their bits, extensions and unknown fields included). Three
    differences are allowed, all documented: a map entry with an unknown field inside
    (`_Wire`: the codecs keep the entry, and so may refuse it for a required field its
    value lacks), declared extensions read as unknown fields (`_without_extensions`),
    and field number 0 in an unknown group, refused (`_Wire`). Any other error (a trap,
    another status) breaks it.

    `proto2_utf8`: the codec also refuses invalid UTF-8 in proto2 strings, which protobuf
    does not check (generated Rust keeps them as `String`, UTF-8 only): a refusal of a
    request with such a string is then allowed too.
    """
    reason = _judge(cls, request, call, proto2_utf8)
    if reason is not None:
        plain = _without_extensions(cls)
        if plain is not None and _judge(plain, request, call, proto2_utf8) is None:
            return None
    return reason


def _judge(cls: type[Message], request: bytes, call: CallFn, proto2_utf8: bool) -> str | None:
    desc: _Desc = cls.DESCRIPTOR
    theirs, refusal = _refusal(cls, request)
    try:
        reply = call(request)
    except CallError as exc:
        invalid = isinstance(exc, GuestError) and exc.code is StatusCode.INVALID_ARGUMENT
        if invalid and (refusal is not None or _overflows(desc, request)):
            return None
        if invalid:
            wire = _Wire()
            if _refusal(cls, wire.entries(desc, request))[1] is not None:
                return None  # a map entry upb keeps as unknown bytes lacks a required field
            if wire.zero_in_group:
                return None  # field number 0 in an unknown group: upb alone reads it
            if proto2_utf8 and wire.bad_utf8:
                return None  # invalid UTF-8 in a proto2 string, which this codec refuses
        return f"{type(exc).__name__}: {_one_line(exc)}"
    if refusal is not None:
        return f"the guest accepted what protobuf refuses ({refusal})"
    if _overflows(desc, request):
        return "the guest accepted a varint of more than 64 bits"
    ours = cls()
    try:
        ours.MergeFromString(reply)
    except Exception as exc:
        # What protobuf read at its depth limit may not read back (a map entry's value
        # is written even when it is absent, one level deeper): compare the bytes then.
        if reply == _canonical(theirs):
            return None
        return f"the reply does not decode: {exc}"
    if _canonical(ours) == _canonical(theirs):
        return None
    try:
        rewritten = _Wire().entries(desc, request)
    except _Unreadable as exc:  # a bug in _Wire, not in the guest: say so
        return f"bridge cannot read what protobuf read: {exc}"
    if rewritten != request:  # map entries with unknown fields inside: read as the codecs do
        expected = cls()
        expected.MergeFromString(rewritten)
        if _canonical(ours) == _canonical(expected):
            return None
        theirs = expected
    return _difference(theirs, ours)


def check_type(
    language: str,
    cls: type[Message],
    messages: Iterable[tuple[str, Message]],
    call: CallFn,
) -> TypeResult:
    """Echo each message through `call` and `judge` the answer; the first failure is kept.

    A message passes when the reply decodes as `cls` and its canonical bytes equal the
    original's, unknown fields included; a CallError (guest error, trap, ...), an
    undecodable reply or any difference is a failure.
    """
    total = passed = 0
    first: tuple[str, str, str] | None = None
    for what, message in messages:
        total += 1
        request = message.SerializePartialToString()
        reason = judge(cls, request, call)
        if reason is None:
            passed += 1
        elif first is None:
            first = (request.hex(), what, reason)
    failed = total - passed
    return TypeResult(
        language=language,
        message_type=cls.DESCRIPTOR.full_name,
        messages=total,
        passed=passed,
        failed=failed,
        first_failure=first[0] if first else None,
        first_failure_kind=first[1] if first else None,
        first_failure_reason=first[2] if first else None,
    )


# ---- the whole run ----


@dataclass(frozen=True, slots=True)
class Skipped:
    language: str
    reason: str


@dataclass
class ConformanceReport:
    """Every (language, type) result, the languages skipped, and the run's parameters."""

    files: tuple[str, ...]
    count: int
    seed: int
    results: list[TypeResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.failed == 0 for r in self.results)

    @property
    def failures(self) -> list[TypeResult]:
        return [r for r in self.results if r.failed]

    def to_json(self) -> dict[str, object]:
        return {
            "files": list(self.files),
            "count": self.count,
            "seed": self.seed,
            "ok": self.ok,
            "results": [r.to_json() for r in self.results],
            "skipped": [{"language": s.language, "reason": s.reason} for s in self.skipped],
        }


def check_messages(
    language: str,
    plan: EchoPlan,
    call: Callable[[str, bytes], bytes],
    *,
    count: int = DEFAULT_COUNT,
    seed: int = DEFAULT_SEED,
    types: MessageTypes | None = None,
) -> list[TypeResult]:
    """Every message type of the plan through `call(method, request) -> reply` (a loaded
    guest's `call`, or a stand-in), one TypeResult per type in declaration order."""
    types = types or MessageTypes(plan.schema)
    generator = MessageGenerator(seed)
    results = []
    for full_name, method in plan.methods.items():
        cls = types.message_class(full_name)

        def echo(request: bytes, method: str = method) -> bytes:
            return call(method, request)

        results.append(check_type(language, cls, generator.messages(cls, count), echo))
    return results


def run_conformance(
    protos: Sequence[Path],
    includes: Sequence[Path] = (),
    languages: Sequence[Language] = (Language.GO, Language.RUST),
    *,
    explicit: bool = False,
    count: int = DEFAULT_COUNT,
    seed: int = DEFAULT_SEED,
    progress: ProgressFn = _no_progress,
    on_skip: Callable[[str, str], None] | None = None,
) -> ConformanceReport:
    """Check every message type of `protos` through each language's echo guest.

    A language whose toolchain is missing is skipped (`on_skip(language, reason)`)
    unless `explicit` (the user asked for it), when its ToolchainError propagates.
    """
    from .config import RuntimeConfig
    from .runtime import load

    with tempfile.TemporaryDirectory(prefix="bridge-conformance-") as tmp:
        workdir = Path(tmp)
        plan = prepare(protos, includes, workdir / "proto")
        report = ConformanceReport(files=plan.user.targets, count=count, seed=seed)
        types = MessageTypes(plan.schema)
        config = RuntimeConfig.from_env()
        for language in languages:
            try:
                check_toolchain(language)
            except ToolchainError as exc:
                if explicit:
                    raise
                report.skipped.append(Skipped(language.value, str(exc)))
                if on_skip is not None:
                    on_skip(language.value, str(exc))
                continue
            with progress(f"building the {language.value} conformance guest ..."):
                wasm = build_guest(language, plan, workdir)
            with (
                progress(f"checking {len(plan.methods)} message types in {language.value} ..."),
                load(wasm, config) as guest,
            ):
                report.results += check_messages(
                    language.value, plan, guest.call, count=count, seed=seed, types=types
                )
    return report
