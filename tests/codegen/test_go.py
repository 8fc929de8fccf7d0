"""The Go emitter: golden files, determinism, gofmt, and a real guest built from its output.

The guest (tests/codegen/go-host, with the generated package written into bridgegen/ of
a temporary copy) is built once per session; messages made by Python protobuf go
through kitchen.v1.Kitchen/Echo and must come back equal, and malformed ones must be
answered INVALID_ARGUMENT, never with a trap: the rule of tests/codegen/differential.py,
the same for the Rust guest.
"""

from __future__ import annotations

import importlib
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bridge
from bridge.codegen.base import GeneratedFile, write_files
from bridge.codegen.go import emit, go_camel_case
from bridge.conformance import varint
from bridge.errors import GuestError, SchemaError, StatusCode, UnknownMethod
from bridge.guest import toolchain
from bridge.guest.build import Language, build
from bridge.guest.scaffold import init_project
from bridge.schema.model import Schema

from ..conformance.conftest import source_or_skip
from ..conftest import LEGACY_PROTO as LEGACY_EXAMPLE
from ..conftest import has_go
from .differential import (
    NESTING,
    assert_agrees,
    assert_round_trips,
    assert_rule_has_teeth,
    echo,
    generated,
    mutations,
    padded_varints,
    prefixes,
    random_messages,
)
from .golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto" / "examples"
KITCHEN_PROTO = PROTO / "kitchen" / "v1" / "kitchen.proto"
PRICING_PROTO = PROTO / "pricing" / "v1" / "pricing.proto"
SHOP_PROTO = PROTO / "shop" / "v1" / "shop.proto"
HOST = Path(__file__).resolve().parent / "go-host"
ECHO = "kitchen.v1.Kitchen/Echo"
PING = "kitchen.v1.Kitchen/Ping"

needs_go = pytest.mark.skipif(not has_go(), reason="no Go toolchain")


@pytest.fixture(scope="module")
def kitchen() -> Schema:
    return Schema.compile([KITCHEN_PROTO], [PROTO])


@pytest.fixture(scope="module")
def pricing() -> Schema:
    return Schema.compile([PRICING_PROTO], [PROTO])


@pytest.fixture(scope="module")
def shop() -> Schema:
    return Schema.compile([SHOP_PROTO], [PROTO])


# ---- the generated text ----


def test_golden_pricing(pricing: Schema) -> None:
    assert_golden(emit(pricing), "pricing", "go")


def test_golden_kitchen(kitchen: Schema) -> None:
    assert_golden(emit(kitchen), "kitchen", "go")


def test_golden_shop(shop: Schema) -> None:
    assert_golden(emit(shop), "shop", "go")


@pytest.fixture(scope="module")
def legacy_example() -> Schema:
    """The proto2 example: required, defaults, groups, closed enums, extensions."""
    return Schema.compile([LEGACY_EXAMPLE], [PROTO])


def test_golden_legacy(legacy_example: Schema) -> None:
    assert_golden(emit(legacy_example), "legacy", "go")


STREAM_PROTO = ROOT / "tests" / "guests" / "stream-go" / "proto" / "stream" / "v1" / "numbers.proto"


@pytest.fixture(scope="module")
def numbers() -> Schema:
    """stream.v1.Numbers: an RPC of each kind (tests/guests/stream-go)."""
    return Schema.compile([STREAM_PROTO], [STREAM_PROTO.parents[2]])


def test_golden_stream(numbers: Schema) -> None:
    assert_golden(emit(numbers), "stream", "go")


def test_streaming_methods_get_grpc_go_shapes(numbers: Schema) -> None:
    text = next(f.text for f in emit(numbers) if f.path == "services.bridge.go")
    for declaration in (
        "Add(req *AddRequest) (*Number, error)",
        "Count(req *CountRequest, stream *Numbers_CountServer) error",
        "Sum(stream *Numbers_SumServer) (*Total, error)",
        "Echo(stream *Numbers_EchoServer) error",
        "func (s *Numbers_CountServer) Send(m *Number) error",
        "func (s *Numbers_CountServer) SendUncompressed(m *Number) error",
        "func (s *Numbers_SumServer) Recv() (*Number, error)",
        "func (s *Numbers_EchoServer) Recv() (*Chat, error)",
        "func (s *Numbers_EchoServer) Send(m *Chat) error",
        "return guest.HandleServerStream(reqPtr, reqLen, numbersCount)",
        "return guest.HandleClientStream(numbersSum)",
        "return guest.HandleBidiStream(numbersEcho)",
        # bridge_served lists every RPC, streaming ones too.
        '"stream.v1.Numbers/Add\\nstream.v1.Numbers/Count\\nstream.v1.Numbers/Sum\\n'
        'stream.v1.Numbers/Echo\\nstream.v1.Numbers/Inspect\\n"',
    ):
        assert declaration in text, declaration
    for method in ("Add", "Count", "Sum", "Echo", "Inspect"):
        assert f"//go:wasmexport stream.v1.Numbers/{method}\n" in text
    assert "func (s *Numbers_CountServer) Recv" not in text  # it has no requests to receive
    assert "func (s *Numbers_SumServer) Send" not in text
    assert "OracleClient" in text and "//go:wasmexport stream.v1.Oracle/" not in text


@needs_go
def test_init_stubs_of_every_kind_build_and_answer_unimplemented(
    numbers: Schema, tmp_path: Path
) -> None:
    """`bridge init`'s main.go has a stub of the right shape for each kind of RPC; each
    answers UNIMPLEMENTED, as unary ones do."""
    project = tmp_path / "numbers"
    init_project(
        Language.GO, numbers, "stream.v1.Numbers", project,
        protos=[STREAM_PROTO], includes=[STREAM_PROTO.parents[2]],
    )  # fmt: skip
    main_go = (project / "main.go").read_text()
    for stub in (
        "Count(req *bridgegen.CountRequest, stream *bridgegen.Numbers_CountServer) error {",
        "Sum(stream *bridgegen.Numbers_SumServer) (*bridgegen.Total, error) {",
        "Echo(stream *bridgegen.Numbers_EchoServer) error {",
    ):
        assert stub in main_go, stub
    wasm = build(project, tmp_path / "numbers.wasm").output
    with bridge.load(wasm) as guest:
        assert len(guest.methods) == 5
        calls: dict[str, Callable[[str], object]] = {
            "Add": lambda m: guest.call(m, b""),
            "Count": lambda m: list(guest.stream(m, b"")),
            "Sum": lambda m: guest.invoke(m, iter(())),
            "Echo": lambda m: list(guest.stream(m, iter(()))),
        }
        for name, call in calls.items():
            method = f"stream.v1.Numbers/{name}"
            with pytest.raises(GuestError, match=f"{method} is not implemented yet") as raised:
                call(method)
            assert raised.value.code is StatusCode.UNIMPLEMENTED


def test_stream_names_are_claimed(tmp_path: Path) -> None:
    schema = _schema(
        tmp_path,
        {
            "s.proto": 'syntax = "proto3"; package s; message E {} message S_WatchServer {} '
            "service S { rpc Watch(E) returns (stream E); }",
        },
        ["s.proto"],
    )
    with pytest.raises(SchemaError, match="Go name collision.*'S_WatchServer'"):
        emit(schema)


def test_only_the_services_asked_for(tmp_path: Path) -> None:
    """`services`: the glue of the services a guest implements, no export for the others
    (bridge gen --service, which bridge init passes for its one service)."""
    schema = _schema(
        tmp_path,
        {
            "two.proto": 'syntax = "proto3"; package two; import "bridge/options.proto"; '
            "message M { int32 x = 1; } "
            "service A { rpc Get(M) returns (M); rpc Watch(M) returns (stream M); } "
            "service B { rpc Get(M) returns (M); } "
            "service H { option (bridge.host) = true; rpc Ask(M) returns (M); }",
        },
        ["two.proto"],
    )
    everything = {f.path: f.text for f in emit(schema)}
    only_a = {f.path: f.text for f in emit(schema, services=["two.A"])}
    assert "//go:wasmexport two.B/Get" in everything["services.bridge.go"]
    text = only_a["services.bridge.go"]
    assert "//go:wasmexport two.A/Get" in text and "//go:wasmexport two.A/Watch" in text
    assert "two.B" not in text and "BServer" not in text
    assert "type HClient struct{}" in text  # host clients stay: the guest may call them
    assert '"two.A/Get\\ntwo.A/Watch\\n"' in text
    # The messages are the same whichever services are asked for.
    assert only_a["messages.bridge.go"] == everything["messages.bridge.go"]
    assert emit(schema, services=[]) != emit(schema)
    assert "//go:wasmexport" not in {f.path: f.text for f in emit(schema, services=[])}.get(
        "services.bridge.go", ""
    )
    with pytest.raises(SchemaError, match="no service two.C in the schema: did you mean two.[AB]"):
        emit(schema, services=["two.C"])
    with pytest.raises(SchemaError, match="two.H is a host service"):
        emit(schema, services=["two.H"])


def test_deterministic_shop(shop: Schema) -> None:
    assert emit(shop) == emit(Schema.compile([SHOP_PROTO], [PROTO]))


def test_host_service_gets_a_client_and_no_exports(shop: Schema) -> None:
    text = next(f.text for f in emit(shop) if f.path == "services.bridge.go")
    for declaration in (
        "type InventoryClient struct{}",
        "func (InventoryClient) Price(req *PriceRequest) (*PriceReply, error)",
        'guest.HostCall("shop.v1.Inventory/Price", b)',
        "//go:wasmexport shop.v1.Checkout/Sum",
    ):
        assert declaration in text, declaration
    assert "//go:wasmexport shop.v1.Inventory/" not in text
    assert "InventoryServer" not in text


def test_host_services_alone_and_their_types(tmp_path: Path) -> None:
    # Only a host service: services.bridge.go holds its client, and the types of its
    # methods are generated even when they live in a file that is not a target.
    schema = _schema(
        tmp_path,
        {
            "t.proto": 'syntax = "proto3"; package t; message Q { int32 x = 1; }',
            "h.proto": 'syntax = "proto3"; package h; import "bridge/options.proto"; '
            'import "t.proto"; service Stock { option (bridge.host) = true; '
            "rpc Get(t.Q) returns (t.Q); }",
        },
        ["h.proto"],
    )
    files = {f.path: f.text for f in emit(schema)}
    assert "services.bridge.go" in files
    assert "type StockClient struct{}" in files["services.bridge.go"]
    assert "//go:wasmexport" not in files["services.bridge.go"]
    assert "type Q struct" in files["messages.bridge.go"]


def test_client_name_collision(tmp_path: Path) -> None:
    schema = _schema(
        tmp_path,
        {
            "c.proto": 'syntax = "proto3"; package c; import "bridge/options.proto"; '
            "message E {} message StockClient {} "
            "service Stock { option (bridge.host) = true; rpc Get(E) returns (E); }",
        },
        ["c.proto"],
    )
    with pytest.raises(SchemaError, match="Go name collision.*'StockClient'"):
        emit(schema)


def test_deterministic(kitchen: Schema) -> None:
    first = emit(kitchen)
    again = emit(Schema.compile([KITCHEN_PROTO], [PROTO]))
    assert first == again
    assert [f.path for f in first] == [
        "enums.bridge.go",
        "messages.bridge.go",
        "services.bridge.go",
    ]  # the helpers are guest-go's (guest.AppendMessage, guest.SortedKeys, ...)
    for file in first:
        assert file.text.startswith("// Code generated by bridge ")
        assert file.text.splitlines()[0].endswith("from kitchen/v1/kitchen.proto; DO NOT EDIT.")


def test_package_name(pricing: Schema) -> None:
    files = emit(pricing, package="pricingpb")
    assert all("\npackage pricingpb\n" in f.text for f in files)
    with pytest.raises(SchemaError, match="not a valid Go package name"):
        emit(pricing, package="not-a-name")


def test_names(kitchen: Schema) -> None:
    text = "".join(f.text for f in emit(kitchen))
    for declaration in (
        "type Node_Label struct",
        "type Node_Kind int32",
        "Node_KIND_LEAF",
        "Color_COLOR_BLUE",
        "type isPresence_Choice interface",
        "type Presence_CMessage struct",
        "OInt32        *int32",
        "MMessageValue map[string]*Scalars",
        "type Timestamp struct",  # well-known types, generated like any message
        "type Value struct",
        "NullValue_NULL_VALUE",
        "//go:wasmexport kitchen.v1.Kitchen/Echo",
        "func RegisterKitchenServer(s KitchenServer)",
        "Ping(req *Empty) (*Empty, error)",
    ):
        assert declaration in text, declaration
    assert go_camel_case("f_double") == "FDouble"


def _schema(tmp_path: Path, files: dict[str, str], targets: list[str]) -> Schema:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return Schema.compile([tmp_path / t for t in targets], [tmp_path])


def test_foreign_names_get_a_prefix_only_on_a_clash(tmp_path: Path) -> None:
    schema = _schema(
        tmp_path,
        {
            "a.proto": 'syntax = "proto3"; package a.v1; import "b.proto"; import '
            '"google/protobuf/timestamp.proto"; message Thing { b.v1.Thing other = 1; '
            "google.protobuf.Timestamp at = 2; }",
            "b.proto": 'syntax = "proto3"; package b.v1; message Thing { int32 x = 1; }',
        },
        ["a.proto"],
    )
    text = "".join(f.text for f in emit(schema))
    assert "type Thing struct" in text
    assert "type BV1_Thing struct" in text
    assert "type Timestamp struct" in text


def test_collisions_are_schema_errors(tmp_path: Path) -> None:
    schema = _schema(
        tmp_path,
        {
            "c.proto": 'syntax = "proto3"; package c; message A_B { int32 x = 1; } '
            "message A { message B { int32 y = 1; } B b = 1; }",
        },
        ["c.proto"],
    )
    with pytest.raises(SchemaError, match="Go name collision.*'A_B'"):
        emit(schema)


def test_field_names_that_clash_with_methods(tmp_path: Path) -> None:
    schema = _schema(
        tmp_path,
        {
            "d.proto": 'syntax = "proto3"; package d; message M { int32 marshal = 1; int32 x = 2; '
            "int32 get_x = 3; }"
        },
        ["d.proto"],
    )
    text = next(f.text for f in emit(schema) if f.path == "messages.bridge.go")
    assert re.search(r"\tMarshal_ +int32\n", text)
    assert re.search(r"\tGetX_ +int32\n", text)
    assert "func (m *M) GetGetX_() int32" in text


TRICKY = {
    "tricky.proto": """
        syntax = "proto3";
        import "other.proto";
        message Outer {
          message Mid {
            message Inner { enum E { E_ZERO = 0; E_ONE = 1; } E e = 1; Outer back = 2; }
            Inner inner = 1;
          }
          optional Mid mid = 1;
          int32 marshal = 2;
          int32 x = 3;
          int32 get_x = 4;
          map<string, o.Kind> kinds = 5;
          oneof pick { Outer self = 6; o.Thing thing = 7; o.Thing.Deep deep = 8; }
          repeated o.Kind ks = 9;
          map<bool, Outer> flags = 10;
          repeated bytes bs = 11;
          optional double d = 12;
          repeated sint64 zs = 13 [packed = false];
        }
        message Nothing {}
        service Svc { rpc Do(Outer) returns (Nothing); rpc Other(o.Thing) returns (o.Thing); }
    """,
    "other.proto": """
        syntax = "proto3";
        package o;
        enum Kind { option allow_alias = true; KIND_A = 0; KIND_B = 5; KIND_C = 5; }
        message Thing { message Deep { string s = 1; } Deep deep = 1; }
        message Unused {}
        service NotMine { rpc X(Thing) returns (Thing); }
    """,
}


def test_tricky_schema(tmp_path: Path) -> None:
    """No package, deep nesting, aliases, name clashes with methods, imported services."""
    files = emit(_schema(tmp_path / "proto", TRICKY, ["tricky.proto"]))
    text = "".join(f.text for f in files)
    assert "type Outer_Mid_Inner_E int32" in text
    assert "Outer_Mid_Inner_E_ONE" in text
    assert "//go:wasmexport Svc/Do" in text
    assert "NotMine" not in text and "Unused" not in text
    assert 'case 5:\n\t\treturn "KIND_B"' in text
    _vet({"gen": files}, tmp_path / "project")


def test_gofmt_clean(
    kitchen: Schema, pricing: Schema, shop: Schema, legacy_example: Schema, tmp_path: Path
) -> None:
    go = toolchain.find_go()
    if go is None:
        pytest.skip("no Go toolchain")
    gofmt = Path(go.path).with_name("gofmt")
    if not gofmt.exists():
        pytest.skip("no gofmt beside go")
    write_files(emit(kitchen), tmp_path / "kitchen")
    write_files(emit(pricing), tmp_path / "pricing")
    write_files(emit(shop), tmp_path / "shop")
    write_files(emit(legacy_example), tmp_path / "legacy")
    write_files(emit(Schema.compile([STREAM_PROTO], [STREAM_PROTO.parents[2]])), tmp_path / "st")
    done = subprocess.run(
        [str(gofmt), "-l", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


# ---- the built guest ----


def _build_host(files: list[GeneratedFile], out: Path, main_go: str | None = None) -> Path:
    project = out.parent / "project"
    shutil.copytree(HOST, project)
    go_mod = project / "go.mod"
    go_mod.write_text(
        go_mod.read_text().replace("../../../guest-go", str(ROOT / "guest-go")), encoding="utf-8"
    )
    if main_go is not None:
        (project / "main.go").write_text(main_go, encoding="utf-8")
    write_files(files, project / "bridgegen")
    return build(project, out).output


@pytest.fixture(scope="session")
def kitchen_guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bridge.GuestModule]:
    if not has_go():
        pytest.skip("no Go toolchain")
    files = emit(Schema.compile([KITCHEN_PROTO], [PROTO]))
    wasm = _build_host(files, tmp_path_factory.mktemp("go-host") / "kitchen.wasm")
    module = bridge.load(wasm)
    yield module
    module.close()


def _edge_cases(pb2: ModuleType) -> Iterator[Any]:
    wkt = importlib.import_module("google.protobuf.wrappers_pb2")
    struct_pb2 = importlib.import_module("google.protobuf.struct_pb2")
    E = pb2.Everything
    yield E()
    yield E(scalars=pb2.Scalars())  # set but empty: written
    i32, i64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
    u32, u64 = (0, 2**32 - 1), (0, 2**64 - 1)
    for pick in (0, 1):
        yield E(
            scalars=pb2.Scalars(
                f_double=(-1.7976931348623157e308, 1.7976931348623157e308)[pick],
                f_float=(-3.4028234663852886e38, 3.4028234663852886e38)[pick],
                f_int64=i64[pick],
                f_uint64=u64[pick] or 1,
                f_int32=i32[pick],
                f_fixed64=u64[pick] or 1,
                f_fixed32=u32[pick] or 1,
                f_bool=True,
                f_string="é\u4e16\U0001f600\x00",
                f_bytes=bytes(range(256)),
                f_uint32=u32[pick] or 1,
                f_sfixed32=i32[pick],
                f_sfixed64=i64[pick],
                f_sint32=i32[pick],
                f_sint64=i64[pick],
                f_color=pb2.COLOR_BLUE,
            )
        )
    for special in (-0.0, math.inf, -math.inf, math.nan, 5e-324, 1e-45):
        yield E(scalars=pb2.Scalars(f_double=special, f_float=special))
    for number in (-1, 0, 1, 2, 3, 99, 2**31 - 1, -(2**31)):
        yield E(scalars=pb2.Scalars(f_color=number), repeated=pb2.Repeated(r_color=[number, 0]))
    yield E(scalars=pb2.Scalars(f_string="x" * 1_000_000, f_bytes=b"\xff" * 300_000))
    yield E(
        repeated=pb2.Repeated(
            r_double=[0.0, -0.0, 1.5, math.inf],
            r_float=[0.0, -2.5],
            r_int64=[0, -1, *i64],
            r_uint64=[0, *u64],
            r_int32=[0, -1, *i32],
            r_fixed64=[0, *u64],
            r_fixed32=[*u32],
            r_bool=[True, False, True],
            r_string=["", "a", "ü" * 200],
            r_bytes=[b"", b"\x00", b"z" * 300],
            r_uint32=[*u32, 300],
            r_sfixed32=[*i32],
            r_sfixed64=[*i64],
            r_sint32=[*i32, 0],
            r_sint64=[*i64, 0],
            r_color=[0, 1, 2, -1],
            r_unpacked=[0, -1, 1, *i32],
            r_message=[pb2.Scalars(), pb2.Scalars(f_int32=7)],
        )
    )
    yield E(repeated=pb2.Repeated(r_int32=list(range(-5000, 5000))))
    yield E(
        maps=pb2.Maps(
            m_int32={0: "", -1: "a", i32[0]: "min", i32[1]: "max"},
            m_int64={0: "z", i64[0]: "min", i64[1]: "max"},
            m_uint32={0: "", u32[1]: "max"},
            m_uint64={0: "", u64[1]: "max"},
            m_sint32={i32[0]: "a", i32[1]: "b", 0: "c"},
            m_sint64={i64[0]: "a", i64[1]: "b"},
            m_fixed32={u32[1]: "a", 0: ""},
            m_fixed64={u64[1]: "a", 0: ""},
            m_sfixed32={i32[0]: "a", i32[1]: ""},
            m_sfixed64={i64[0]: "a", i64[1]: ""},
            m_bool={True: "t", False: "f"},
            m_string={"": "", "ключ": "значение", "a" * 1000: "b"},
            m_bytes_value={"": b"", "k": b"\x00\xff"},
            m_message_value={"": pb2.Scalars(), "s": pb2.Scalars(f_sint64=-5)},
            m_enum_value={"red": pb2.COLOR_RED, "zero": 0, "unknown": 42, "blue": -1},
            m_double_value={1: -0.0, 2: math.inf, 3: 0.0},
        )
    )
    yield E(presence=pb2.Presence())
    yield E(presence=pb2.Presence(o_int32=0, o_string="", o_color=0, o_bool=False))
    yield E(presence=pb2.Presence(o_int32=-1, o_string="x", o_color=-1, o_bool=True))
    yield E(presence=pb2.Presence(message=pb2.Scalars()))
    for case in (
        {"c_string": ""},
        {"c_string": "s"},
        {"c_int64": 0},
        {"c_int64": -(2**63)},
        {"c_message": pb2.Scalars()},
        {"c_message": pb2.Scalars(f_bool=True)},
        {"c_color": 0},
        {"c_color": 77},
        {"c_bytes": b""},
        {"c_bytes": b"\x00"},
    ):
        yield E(presence=pb2.Presence(**case))
    yield E(tree=_tree(pb2, 90))
    yield E(tree=pb2.Node(kind=2, label=pb2.Node.Label(text="root"), children=[pb2.Node()] * 50))
    yield E(
        well_known=pb2.WellKnown(
            at={"seconds": -62135596800, "nanos": 999_999_999},
            took={"seconds": -315576000000, "nanos": -999_999_999},
            w_int32=wkt.Int32Value(value=0),
            w_int64=wkt.Int64Value(value=-(2**63)),
            w_uint32=wkt.UInt32Value(value=2**32 - 1),
            w_uint64=wkt.UInt64Value(value=2**64 - 1),
            w_float=wkt.FloatValue(value=-0.0),
            w_double=wkt.DoubleValue(value=0.5),
            w_bool=wkt.BoolValue(value=False),
            w_string=wkt.StringValue(value="w"),
            w_bytes=wkt.BytesValue(value=b""),
            nothing={},
            doc=struct_pb2.Struct(
                fields={
                    "null": struct_pb2.Value(null_value=0),
                    "n": struct_pb2.Value(number_value=-0.0),
                    "s": struct_pb2.Value(string_value=""),
                    "b": struct_pb2.Value(bool_value=False),
                    "l": struct_pb2.Value(
                        list_value=struct_pb2.ListValue(
                            values=[struct_pb2.Value(), struct_pb2.Value(number_value=1)]
                        )
                    ),
                    "o": struct_pb2.Value(struct_value=struct_pb2.Struct()),
                }
            ),
            any_value=struct_pb2.Value(list_value=struct_pb2.ListValue()),
        )
    )


def _tree(pb2: ModuleType, depth: int) -> Any:
    node = pb2.Node(kind=1)
    for i in range(depth - 1):
        node = pb2.Node(kind=2, label=pb2.Node.Label(text=str(i)), children=[node])
    return node


@needs_go
def test_round_trip_edge_cases(kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType) -> None:
    assert_round_trips(kitchen_pb2, echo(kitchen_guest), _edge_cases(kitchen_pb2))


@needs_go
def test_round_trip_generated(kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType) -> None:
    """`bridge conformance`'s messages: edge values, maximal, 300 random."""
    messages = generated(kitchen_pb2, 300, seed=20240611)
    assert_round_trips(kitchen_pb2, echo(kitchen_guest), messages)


@needs_go
def test_ping_answers_empty(kitchen_guest: bridge.GuestModule) -> None:
    assert kitchen_guest.call(PING, b"") == b""
    # Ping's handler answers a new Empty: the request's unknown fields are not echoed.
    assert kitchen_guest.call(PING, b"\x08\x01") == b""


def _nested_nodes(levels: int) -> bytes:
    """An Everything whose tree is `levels` Nodes deep (through Node.children)."""
    node = b"\x08\x01"
    for _ in range(levels - 1):
        node = b"\x1a" + varint(len(node)) + node
    return b"\x2a" + varint(len(node)) + node


def _expect_invalid(guest: bridge.GuestModule, request: bytes) -> None:
    with pytest.raises(GuestError) as info:
        guest.call(ECHO, request)
    assert info.value.code is StatusCode.INVALID_ARGUMENT, request.hex()


HOSTILE = {
    "truncated tag": b"\x80",
    "overlong varint": b"\x18" + b"\xff" * 10 + b"\x01",
    "varint 10th byte too big": b"\x0a\x0c\x18" + b"\xff" * 9 + b"\x02",
    "truncated varint value": b"\x0a\x02\x18\xff",
    "length past the end": b"\x0a\x05\x08",
    "huge length": b"\x0a\xff\xff\xff\xff\x0f",
    "length overflows": b"\x0a" + b"\xff" * 9 + b"\x01",
    "wire type 6": b"\x0e",
    "wire type 7": b"\x0f",
    "nested wire type 7": b"\x0a\x01\x0f",
    "field number 0": b"\x00\x01",
    "field number too big": b"\xf8\xff\xff\xff\x7f\x00",
    "stray end group": b"\x0c",
    "unterminated group": b"\x0b\x08\x01",
    "mismatched end group": b"\x0b\x14",
    "invalid UTF-8": b"\x0a\x03\x4a\x01\xff",
    "invalid UTF-8 in a map key": b"\x1a\x07\x62\x05\x0a\x01\xc3\x12\x00",
    "invalid UTF-8 in a repeated string": b"\x12\x04\x4a\x02\xc3\x28",
    "surrogate in a oneof string": b"\x22\x05\x32\x03\xed\xa0\x80",
    "truncated fixed64": b"\x0a\x05\x09\x00\x00\x00\x00",
    "truncated fixed32": b"\x0a\x03\x15\x00\x00",
    "truncated packed varint": b"\x12\x03\x2a\x01\x80",
    "truncated packed fixed32": b"\x12\x04\x3a\x02\x00\x00\x00",
    "truncated map entry": b"\x1a\x04\x0a\x02\x08\x80",
    "nesting 200 deep": _nested_nodes(200),
    "nesting 101 deep": _nested_nodes(101),
}


@needs_go
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bytes(
    kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType, name: str
) -> None:
    _expect_invalid(kitchen_guest, HOSTILE[name])
    assert_agrees(kitchen_pb2, echo(kitchen_guest), HOSTILE[name])
    assert kitchen_guest.call(PING, b"") == b""  # and it keeps answering


@needs_go
def test_nesting_limit_is_100(kitchen_guest: bridge.GuestModule) -> None:
    request = _nested_nodes(100)
    assert kitchen_guest.call(ECHO, request) == request


def _tag(num: int, wt: int) -> bytes:
    return varint(num << 3 | wt)


def _vi(num: int, value: int) -> bytes:
    return _tag(num, 0) + varint(value)


def _ld(num: int, payload: bytes) -> bytes:
    return _tag(num, 2) + varint(len(payload)) + payload


@needs_go
def test_decoding_rules(kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType) -> None:
    pb2 = kitchen_pb2

    def echo(raw: bytes) -> Any:
        return pb2.Everything.FromString(kitchen_guest.call(ECHO, raw))

    # Unpacked and packed repeated scalars are both read, mixed too.
    got = echo(_ld(2, _vi(5, 1) + _vi(5, 2) + _ld(5, b"\x03\x04")))
    assert list(got.repeated.r_int32) == [1, 2, 3, 4]
    assert list(echo(_ld(2, _ld(17, b"\x05\x06"))).repeated.r_unpacked) == [5, 6]
    # Last one wins for scalars; singular messages merge.
    got = echo(_ld(1, _vi(5, 1)) + _ld(1, _vi(5, 2)) + _ld(1, _vi(11, 3)))
    assert (got.scalars.f_int32, got.scalars.f_uint32) == (2, 3)
    # A known number with the wrong wire type is an unknown field: kept, as it was.
    wrong = _ld(1, _tag(5, 5) + b"\x01\x00\x00\x00")
    assert kitchen_guest.call(ECHO, wrong) == wrong
    # Unknown fields, groups included, are kept and written after the known ones, in
    # the order read, as protobuf writes them.
    group = _tag(19, 3) + _vi(1, 1) + _tag(19, 4)
    raw = _vi(127, 1) + _ld(1, group) + _vi(126, 2) + _ld(5, b"")
    assert kitchen_guest.call(ECHO, raw) == _ld(1, group) + _ld(5, b"") + _vi(127, 1) + _vi(126, 2)
    assert kitchen_guest.call(ECHO, raw) == pb2.Everything.FromString(raw).SerializeToString()
    # Merging a message twice appends its unknown fields.
    twice = _ld(1, _vi(99, 1)) + _ld(1, _vi(99, 2))
    assert kitchen_guest.call(ECHO, twice) == _ld(1, _vi(99, 1) + _vi(99, 2))
    # A map entry without key or value has the defaults; duplicate keys: last wins.
    entries = _ld(1, b"") + _ld(1, _vi(1, 1) + _ld(2, b"a")) + _ld(1, _vi(1, 1) + _ld(2, b"b"))
    got = echo(_ld(3, entries + _ld(14, b"") + _ld(14, _ld(1, b"k"))))
    assert dict(got.maps.m_int32) == {0: "", 1: "b"}
    assert dict(got.maps.m_message_value) == {"": pb2.Scalars(), "k": pb2.Scalars()}
    # oneof: the last case wins; the same message case merges.
    got = echo(_ld(4, _ld(6, b"")) + _ld(4, _vi(7, 5)))
    assert (got.presence.WhichOneof("choice"), got.presence.c_int64) == ("c_int64", 5)
    got = echo(_ld(4, _ld(8, _vi(5, 1))) + _ld(4, _ld(8, _vi(11, 2))))
    assert (got.presence.c_message.f_int32, got.presence.c_message.f_uint32) == (1, 2)
    # int32 keeps the low 32 bits of a 64-bit varint; bool is any non-zero varint.
    got = echo(_ld(1, _vi(5, 2**64 - 1) + _vi(11, 2**32 + 5) + _vi(8, 2) + _vi(16, 65537)))
    assert (got.scalars.f_int32, got.scalars.f_uint32) == (-1, 5)
    assert (got.scalars.f_bool, got.scalars.f_color) == (True, 65537)


@needs_go
def test_every_prefix(kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType) -> None:
    valid = max(random_messages(kitchen_pb2, 20, seed=7), key=lambda m: m.ByteSize())
    for request in prefixes(valid.SerializeToString()):
        assert_agrees(kitchen_pb2, echo(kitchen_guest), request)


@needs_go
def test_random_mutations(kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType) -> None:
    seeds = [m.SerializeToString() for m in random_messages(kitchen_pb2, 40, seed=99)]
    for request in mutations(seeds, 3000, seed=99):
        assert_agrees(kitchen_pb2, echo(kitchen_guest), request)


@needs_go
def test_the_rule_has_teeth(kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType) -> None:
    assert_rule_has_teeth(kitchen_pb2, echo(kitchen_guest))


@needs_go
@pytest.mark.parametrize("width", [5, 6, 10])
def test_padded_tags_and_lengths(
    kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType, width: int
) -> None:
    """Each tag and each length, at any depth, written in `width` bytes: upb reads them
    in 5 bytes at most, so the guest must too (guest.ConsumeTag, guest.ConsumeBytes)."""
    desc = kitchen_pb2.Everything.DESCRIPTOR
    for message in random_messages(kitchen_pb2, 4, seed=width):
        for request in padded_varints(desc, message.SerializeToString(), width):
            assert_agrees(kitchen_pb2, echo(kitchen_guest), request)


@needs_go
def test_long_tags_and_lengths_are_named(kitchen_guest: bridge.GuestModule) -> None:
    """A 6-byte tag or length is refused for what it is, not as a 64-bit overflow."""
    cases = {
        # Field 99, a varint (1): its tag in 6 bytes.
        "98868080800001": "tag longer than 5 bytes",
        # Everything.scalars (field 1) holding 2 bytes: the length in 6 bytes.
        "0a8280808080002801": "length prefix longer than 5 bytes",
    }
    for hexed, cause in cases.items():
        with pytest.raises(GuestError) as info:
            kitchen_guest.call(ECHO, bytes.fromhex(hexed))
        assert info.value.code is StatusCode.INVALID_ARGUMENT
        assert cause in info.value.status_message, hexed


@needs_go
@pytest.mark.parametrize("case", sorted(NESTING))
def test_nesting_at_the_limit(
    kitchen_guest: bridge.GuestModule, kitchen_pb2: ModuleType, case: str
) -> None:
    """Messages, map entries and groups count toward one limit of 100, as in upb."""
    assert_agrees(kitchen_pb2, echo(kitchen_guest), NESTING[case])


@needs_go
def test_unimplemented_before_registration(tmp_path: Path, kitchen: Schema) -> None:
    main_go = (
        'package main\n\nimport _ "bridge.dev/tests/codegen-go-host/bridgegen"\n\nfunc main() {}\n'
    )
    wasm = _build_host(emit(kitchen), tmp_path / "out" / "bare.wasm", main_go)
    with bridge.load(wasm) as guest:
        # Exported, but no server registered: bridge_served says so, and the host does not
        # serve them (docs/abi.md section 13); a sidecar answers UNIMPLEMENTED.
        assert guest.methods == ()
        for method in (ECHO, PING):
            with pytest.raises(UnknownMethod, match="no server is registered"):
                guest.call(method, b"")


# ---- protobuf's own test schemas, and protoc-gen-go's names ----


def _vet(files: dict[str, list[GeneratedFile]], project: Path) -> None:
    """Write each package under project/<name>, then gofmt -l and go vet them all."""
    go = toolchain.find_go()
    if go is None:
        pytest.skip("no Go toolchain")
    project.mkdir(parents=True, exist_ok=True)
    (project / "go.mod").write_text(
        "module bridge.dev/vetted\n\ngo 1.24\n\nrequire bridge.dev/guest v0.0.0\n\n"
        f"replace bridge.dev/guest => {ROOT / 'guest-go'}\n"
    )
    for name, generated_files in files.items():
        write_files(generated_files, project / name)
    gofmt = Path(go.path).with_name("gofmt")
    if gofmt.exists():
        done = subprocess.run(
            [str(gofmt), "-l", str(project)], capture_output=True, text=True, check=False
        )
        assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr
    env = {**go.env(), "GOOS": "wasip1", "GOARCH": "wasm", "GOTOOLCHAIN": "local"}
    done = subprocess.run(
        [str(go.path), "vet", "./..."],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _protobuf_source() -> Path:
    """The include root of protobuf's test schemas (scripts/test unpacks them), or a skip."""
    return source_or_skip() / "src"


# Protobuf's test schemas, generated unmodified; the names each gets were checked
# against protoc-gen-go's output for the same file (every type, field, getter, enum
# value and Default_ constant of protoc-gen-go's is there, named alike).
PROTOBUF_SCHEMAS = (
    "test_messages_proto3.proto",
    "test_messages_proto2.proto",
    "unittest_proto3.proto",
    "unittest_proto3_optional.proto",
    "unittest_no_field_presence.proto",
    "unittest_mset.proto",
)
# These import unittest.proto, which the protoc of grpcio-tools refuses as it is
# ("Extensions cannot be marked as unverified_lazy", unittest.proto:269): they are
# generated from a copy without that option, which changes no generated code.
PATCHED_SCHEMAS = ("unittest.proto", "map_unittest.proto", "unittest_custom_options.proto")


def test_protobuf_test_schemas_generate_and_vet(tmp_path: Path) -> None:
    root = _protobuf_source()
    patched = tmp_path / "patched"
    (patched / "google" / "protobuf").mkdir(parents=True)
    text = (root / "google" / "protobuf" / "unittest.proto").read_text()
    patched_text = re.sub(r"\s*\[unverified_lazy\s*=\s*true\]", "", text)
    assert patched_text != text
    (patched / "google" / "protobuf" / "unittest.proto").write_text(patched_text)
    packages = {}
    for name in PROTOBUF_SCHEMAS + PATCHED_SCHEMAS:
        folder = patched if (patched / "google" / "protobuf" / name).exists() else root
        schema = Schema.compile([folder / "google" / "protobuf" / name], [patched, root])
        packages[name.removesuffix(".proto")] = emit(schema)
    text = next(f.text for f in packages["test_messages_proto2"] if f.path == "messages.bridge.go")
    # Names as protoc-gen-go makes them (checked against its output for these files).
    for declaration in (
        "type TestAllTypesProto2_Data struct",  # a group's message
        "\tData                    *TestAllTypesProto2_Data\n",
        "\tOptionalInt32           *int32\n",
        "\tOptionalBytes           []byte\n",  # bytes rely on nil, as in protoc-gen-go
        "\tField_0Name6            *int32\n",
        "\tFieldName18__           *int32\n",
        "Default_TestAllTypesProto2_DefaultInt32    = int32(-123456789)",
        'Default_TestAllTypesProto2_DefaultString   = string("Rosebud")',
        'Default_TestAllTypesProto2_DefaultBytes = []byte("joshua")',
        "func (m *TestAllTypesProto2) GetDefaultBytes() []byte {",
        "return append([]byte(nil), Default_TestAllTypesProto2_DefaultBytes...)",
        "type TestAllTypesProto2_OneofNestedMessage struct",
        "func (m *TestAllTypesProto2_Data) mergeGroup(b []byte, depth int, group uint32)",
    ):
        assert declaration in text, declaration
    _vet(packages, tmp_path / "vetted")


# protogen's conflict resolution, case by case: the Go names each schema gets.
NAME_CASES = {
    # A oneof case's wrapper type that a nested type already has gets "_" (protobuf's
    # TestLargeOneof: a field a1, a message A1).
    "message L { message A1 {} message A2 {} enum E1 { X = 0; } "
    "oneof large { A1 a1 = 1; A2 a2 = 2; int32 e1 = 3; int32 b1 = 4; } }": (
        "type L_A1_ struct",
        "type L_A2_ struct",
        "type L_E1_ struct",
        "type L_B1 struct",
        "type L_A1 struct",
        "func (m *L) GetA1() *L_A1 {",
    ),
    # Fields against reserved method names and each other's getters, in order.
    "message M { int32 reset = 1; int32 descriptor = 2; int32 get_x = 3; int32 x = 4; "
    "int32 unknown = 5; int32 marshal_append = 6; }": (
        "\tReset_ ",
        "\tDescriptor_ ",
        "\tGetX ",
        "\tX_ ",
        "\tUnknown_ ",
        "\tMarshalAppend_ ",
        "func (m *M) GetGetX() int32 {",
        "func (m *M) GetX_() int32 {",
    ),
    # A proto3 optional field is a one-field (synthetic) oneof to protogen, "_opt" ->
    # XOpt, which takes that name.
    "message O { optional int32 opt = 1; int32 x_opt = 2; }": (
        "\tOpt           *int32",
        "\tXOpt_         int32",
    ),
}


@pytest.mark.parametrize("body", sorted(NAME_CASES))
def test_protogen_names(tmp_path: Path, body: str) -> None:
    schema = _schema(
        tmp_path / "proto", {"n.proto": f'syntax = "proto3"; package n; {body}'}, ["n.proto"]
    )
    files = emit(schema)
    text = next(f.text for f in files if f.path == "messages.bridge.go")
    for declaration in NAME_CASES[body]:
        assert declaration in text, declaration
    _vet({"n": files}, tmp_path / "vetted")


def test_a_oneof_getter_clash_is_refused(tmp_path: Path) -> None:
    """protogen makes a oneof's name unique without its getter; when the getter then
    clashes (protoc-gen-go's output would not compile), bridge says so."""
    body = "message K { int32 get_k = 1; oneof k { int32 a = 2; } }"
    schema = _schema(tmp_path, {"k.proto": f'syntax = "proto3"; package k; {body}'}, ["k.proto"])
    with pytest.raises(SchemaError, match="Go name collision.*oneof k.K.K.*'GetK'"):
        emit(schema)


# ---- proto2: presence, defaults, required, groups, closed enums, extensions ----

LEGACY_PROTO = r"""
syntax = "proto2";
package p2;

enum Color { RED = 1; GREEN = 2; BLUE = 3; }
enum Shade { NONE = 0; DARK = 1; }  // a map's enum values must start at 0

message Inner { required int32 id = 1; optional string note = 2; }

message Legacy {
  optional int32 count = 1 [default = 7];
  optional string name = 2 [default = "hi \"there\"\n"];
  optional bytes blob = 3 [default = "\001\377"];
  optional Color color = 4 [default = GREEN];
  optional Color plain_color = 5;
  repeated Color colors = 6;
  repeated Color packed_colors = 7 [packed = true];
  map<string, Shade> by_name = 8;
  optional group Data = 9 { optional int32 a = 10; repeated Inner inners = 11; }
  repeated group Item = 12 { required string key = 13; }
  optional Inner inner = 14;
  repeated Inner inners = 15;
  oneof pick { int32 n = 16; Inner m = 17; Color c = 18; }
  optional double d = 19 [default = inf];
  optional float nan_f = 20 [default = nan];
  optional string raw = 21;
  repeated int32 unpacked = 22;
  extensions 100 to 199;
}

extend Legacy { optional int32 ext = 100; }

message Holder { required Legacy legacy = 1; }

service Legacies {
  rpc Echo(Legacy) returns (Legacy);
  rpc Hold(Legacy) returns (Holder);
  rpc Defaults(Legacy) returns (Legacy);
}
"""

LEGACY_MAIN = """package main

import "bridge.dev/tests/codegen-go-host/bridgegen"

func main() {}

type legacies struct{}

func (legacies) Echo(req *bridgegen.Legacy) (*bridgegen.Legacy, error) {
	return req, nil
}

// Hold forgets the required legacy field: the reply cannot be encoded.
func (legacies) Hold(req *bridgegen.Legacy) (*bridgegen.Holder, error) {
	return &bridgegen.Holder{}, nil
}

// Defaults sets every field to what its getter returns on the request.
func (legacies) Defaults(req *bridgegen.Legacy) (*bridgegen.Legacy, error) {
	count, name, color, plain := req.GetCount(), req.GetName(), req.GetColor(), req.GetPlainColor()
	d, nan, raw := req.GetD(), req.GetNanF(), req.GetRaw()
	return &bridgegen.Legacy{
		Count: &count, Name: &name, Blob: req.GetBlob(), Color: &color, PlainColor: &plain,
		D: &d, NanF: &nan, Raw: &raw,
	}, nil
}

func init() {
	bridgegen.RegisterLegaciesServer(legacies{})
}
"""


@pytest.fixture(scope="module")
def legacy(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[bridge.GuestModule, ModuleType]]:
    """The Go guest of LEGACY_PROTO, and its Python module."""
    if not has_go():
        pytest.skip("no Go toolchain")
    from ..conftest import _pb2_module

    folder = tmp_path_factory.mktemp("legacy")
    (folder / "proto").mkdir()
    # Named apart from the other tests' legacy.proto: protobuf's default pool holds one
    # file of a name.
    proto = folder / "proto" / "p2_legacy.proto"
    proto.write_text(LEGACY_PROTO)
    schema = Schema.compile([proto], [folder / "proto"])
    wasm = _build_host(emit(schema), folder / "out" / "legacy.wasm", LEGACY_MAIN)
    pb2 = _pb2_module(tmp_path_factory, proto, "p2_legacy_pb2", include=folder / "proto")
    module = next(pb2)
    guest = bridge.load(wasm)
    yield guest, module
    guest.close()
    next(pb2, None)


def _legacy_echo(legacy: tuple[bridge.GuestModule, ModuleType], raw: bytes) -> bytes:
    guest, pb2 = legacy
    out = guest.call("p2.Legacies/Echo", raw)
    # What upb reads and writes again, unknown fields and all.
    want = pb2.Legacy.FromString(raw).SerializeToString(deterministic=True)
    got = pb2.Legacy.FromString(out).SerializeToString(deterministic=True)
    assert got == want, f"input {raw.hex()}: {out.hex()} != {want.hex()}"
    return out


@needs_go
def test_proto2_presence_and_defaults(legacy: tuple[bridge.GuestModule, ModuleType]) -> None:
    guest, pb2 = legacy
    # Set to the default is still set, and written.
    message = pb2.Legacy(count=7, name="", blob=b"", color=pb2.GREEN, d=0.0, raw="")
    out = _legacy_echo(legacy, message.SerializeToString())
    assert out == message.SerializeToString()
    # Unset fields read as their declared defaults, or a closed enum's first value.
    got = pb2.Legacy.FromString(guest.call("p2.Legacies/Defaults", b""))
    assert (got.count, got.name, got.blob) == (7, 'hi "there"\n', b"\x01\xff")
    assert (got.color, got.plain_color, got.raw) == (pb2.GREEN, pb2.RED, "")
    assert got.d == math.inf and math.isnan(got.nan_f)


@needs_go
def test_proto2_groups_extensions_and_unpacked(
    legacy: tuple[bridge.GuestModule, ModuleType],
) -> None:
    _, pb2 = legacy
    message = pb2.Legacy(
        data=pb2.Legacy.Data(a=5, inners=[pb2.Inner(id=1), pb2.Inner(id=2, note="n")]),
        item=[pb2.Legacy.Item(key="a"), pb2.Legacy.Item(key="")],
        unpacked=[1, -1, 300],
        colors=[pb2.RED, pb2.BLUE],
        packed_colors=[pb2.BLUE, pb2.GREEN],
        by_name={"x": pb2.DARK, "y": pb2.NONE},
        inner=pb2.Inner(id=9),
        c=pb2.BLUE,
    )
    message.Extensions[pb2.ext] = -3
    raw = message.SerializeToString(deterministic=True)  # map entries in key order
    # Groups keep their start and end tags, repeated int32 stays unpacked, and the
    # extension comes back among the unknown fields, after the known ones.
    assert _legacy_echo(legacy, raw) == raw
    # A group's end tag of another number, an unterminated group, a stray end tag.
    for bad in ("4b5008", "4b", "4c", "4b64"):
        with pytest.raises(GuestError) as info:
            legacy[0].call("p2.Legacies/Echo", bytes.fromhex(bad))
        assert info.value.code is StatusCode.INVALID_ARGUMENT, bad


@needs_go
def test_proto2_closed_enums_keep_unknown_numbers_as_unknown_fields(
    legacy: tuple[bridge.GuestModule, ModuleType],
) -> None:
    guest, _ = legacy
    cases = {
        # color = 9 (no such Color): an unknown field, color stays unset.
        _vi(4, 9): _vi(4, 9),
        # colors [1, 9, 3] unpacked: 9 goes to the unknown fields.
        _vi(6, 1) + _vi(6, 9) + _vi(6, 3): _vi(6, 1) + _vi(6, 3) + _vi(6, 9),
        # packed_colors [3, 9, 2, 7] packed: the known stay packed, each unknown one
        # becomes an unpacked varint field.
        _ld(7, b"\x03\x09\x02\x07"): _ld(7, b"\x03\x02") + _vi(7, 9) + _vi(7, 7),
        # by_name {"k": 9}: the whole entry is an unknown field.
        _ld(8, _ld(1, b"k") + _vi(2, 9)): _ld(8, _ld(1, b"k") + _vi(2, 9)),
        # the oneof case c = 9: unknown, and the oneof stays unset.
        _vi(18, 9): _vi(18, 9),
        # A negative number: sign-extended to ten bytes, kept as it came.
        _vi(4, 2**64 - 1): _vi(4, 2**64 - 1),
    }
    for raw, expected in cases.items():
        assert guest.call("p2.Legacies/Echo", raw) == expected, raw.hex()
        _legacy_echo(legacy, raw)


@needs_go
def test_proto2_required_fields(legacy: tuple[bridge.GuestModule, ModuleType]) -> None:
    guest, _ = legacy
    missing = {
        # inner without its id, at depth 1, in a repeated field, in a group, in a oneof
        _ld(14, b""): "p2.Inner.id",
        _ld(15, _vi(1, 1)) + _ld(15, b""): "p2.Inner.id",
        _tag(9, 3) + _ld(11, b"") + _tag(9, 4): "p2.Inner.id",
        _tag(12, 3) + _tag(12, 4): "p2.Legacy.Item.key",
        _ld(17, _ld(2, b"n")): "p2.Inner.id",
    }
    for raw, name in missing.items():
        with pytest.raises(GuestError) as info:
            guest.call("p2.Legacies/Echo", raw)
        assert info.value.code is StatusCode.INVALID_ARGUMENT, raw.hex()
        assert f"required field {name} not set" in info.value.status_message
    # Supplied by a later occurrence of the same message: merged, so it is set.
    _legacy_echo(legacy, _ld(14, _ld(2, b"n")) + _ld(14, _vi(1, 4)))
    # A reply missing a required field is not sent: INTERNAL, naming it.
    with pytest.raises(GuestError) as info:
        guest.call("p2.Legacies/Hold", b"")
    assert info.value.code is StatusCode.INTERNAL
    assert "required field p2.Holder.legacy not set" in info.value.status_message


@needs_go
def test_proto2_strings_are_not_utf8_checked(legacy: tuple[bridge.GuestModule, ModuleType]) -> None:
    raw = _ld(2, b"\xc3") + _ld(21, b"\xff\xfe")
    assert legacy[0].call("p2.Legacies/Echo", raw) == raw
