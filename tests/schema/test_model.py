"""The schema model, from real .proto files through grpcio-tools."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bridge.errors import SchemaError
from bridge.schema import FieldKind, Schema
from tests.conftest import ROOT

PROTO = ROOT / "proto" / "examples"


@pytest.fixture(scope="module")
def kitchen() -> Schema:
    return Schema.compile([PROTO / "kitchen" / "v1" / "kitchen.proto"], [PROTO])


def test_targets_messages_and_services(kitchen: Schema) -> None:
    assert kitchen.targets == ("kitchen/v1/kitchen.proto",)
    names = {m.full_name for m in kitchen.target_messages()}
    assert {"kitchen.v1.Scalars", "kitchen.v1.Node", "kitchen.v1.Node.Label"} <= names
    assert not any(n.endswith("Entry") for n in names)  # map entries are not messages to emit
    [service] = kitchen.target_services()
    assert [m.full_name for m in service.methods] == [
        "kitchen.v1.Kitchen/Echo",
        "kitchen.v1.Kitchen/Ping",
    ]
    assert kitchen.method("kitchen.v1.Kitchen/Ping").input == "google.protobuf.Empty"


def test_every_scalar_kind_is_modelled(kitchen: Schema) -> None:
    kinds = {f.kind for f in kitchen.message("kitchen.v1.Scalars").fields}
    assert kinds == set(FieldKind) - {FieldKind.MESSAGE}


def test_packing_follows_proto3_and_the_option(kitchen: Schema) -> None:
    fields = {f.name: f for f in kitchen.message("kitchen.v1.Repeated").fields}
    assert fields["r_int32"].packed and fields["r_double"].packed and fields["r_color"].packed
    assert not fields["r_unpacked"].packed
    assert not fields["r_string"].packed and not fields["r_message"].packed


def test_maps_presence_and_oneofs(kitchen: Schema) -> None:
    maps = {f.name: f for f in kitchen.message("kitchen.v1.Maps").fields}
    entry = maps["m_message_value"]
    assert entry.is_map and entry.map_key is not None and entry.map_value is not None
    assert entry.map_key.kind is FieldKind.STRING
    assert entry.map_value.type_name == "kitchen.v1.Scalars"
    presence = kitchen.message("kitchen.v1.Presence")
    fields = {f.name: f for f in presence.fields}
    assert fields["o_int32"].optional and fields["o_int32"].has_presence
    assert fields["o_int32"].oneof is None  # proto3 optional's synthetic oneof is hidden
    assert fields["message"].has_presence
    assert presence.oneofs == (
        ("choice", ("c_string", "c_int64", "c_message", "c_color", "c_bytes")),
    )
    assert fields["c_color"].has_presence


def test_nesting_links_both_ways(kitchen: Schema) -> None:
    label = kitchen.message("kitchen.v1.Node.Label")
    assert label.parent == "kitchen.v1.Node"
    kind = kitchen.enum("kitchen.v1.Node.Kind")
    assert kind.values == (("KIND_UNSPECIFIED", 0), ("KIND_LEAF", 1), ("KIND_BRANCH", 2))
    children = next(f for f in kitchen.message("kitchen.v1.Node").fields if f.name == "children")
    assert children.type_name == "kitchen.v1.Node"  # recursive
    assert kitchen.enum("kitchen.v1.Color").values[-1] == ("COLOR_BLUE", -1)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.proto"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('syntax = "proto3";\nmessage M { int32 x = 1 }\n', 'case.proto:2:25: Expected ";"'),
        ('syntax = "proto3";\nimport "missing.proto";\n', "missing.proto: File not found"),
    ],
)
def test_broken_schemas_name_file_and_line(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(SchemaError) as info:
        Schema.compile([_write(tmp_path, text)])
    assert says in str(info.value)


def test_proto2_presence_defaults_required_groups_and_closed_enums(tmp_path: Path) -> None:
    schema = Schema.compile(
        [
            _write(
                tmp_path,
                'syntax = "proto2";\npackage t;\nmessage A {\n'
                "  optional B.E e = 1 [default = Y];\n"
                '  optional bytes b = 2 [default = "jo\\001\\"sh"];\n'
                "  optional double d = 3 [default = -inf];\n"
                "  required int64 r = 4;\n"
                "  optional group G = 5 { optional int32 x = 6; }\n"
                "  extensions 100 to 200;\n"
                "  optional B.E plain = 7;\n"
                "  repeated int32 loose = 8;\n"
                "  repeated int32 tight = 9 [packed = true];\n}\n"
                "message B { enum E { X = 3; Y = 4; } }\n"
                "extend A { optional int32 ext = 100; }\n",
            )
        ]
    )
    a = schema.message("t.A")
    f = {x.name: x for x in a.fields}
    assert (f["e"].default, f["b"].default, f["d"].default) == (4, b'jo\x01"sh', -math.inf)
    assert schema.default_of(f["plain"]) == 3  # a closed enum's first value, not 0
    assert schema.default_of(f["r"]) == 0 and f["r"].required and f["r"].has_presence
    assert a.required == (f["r"],)
    assert f["g"].group and f["g"].type_name == "t.A.G" and f["g"].wire_type == 3
    assert all(x.optional for x in a.fields if not x.repeated)
    assert (f["loose"].packed, f["tight"].packed) == (False, True)
    assert a.extension_ranges == ((100, 201),)
    assert schema.enum("t.B.E").closed


def test_proto3_enums_are_open(kitchen: Schema) -> None:
    assert not any(e.closed for e in kitchen.enums.values() if e.file in kitchen.targets)


def test_streaming_rpcs_are_kept_apart_not_refused(tmp_path: Path) -> None:
    schema = Schema.compile(
        [
            _write(
                tmp_path,
                'syntax = "proto3";\npackage p;\nmessage M {}\nservice S {\n'
                "  rpc Unary(M) returns (M);\n  rpc Up(stream M) returns (M);\n"
                "  rpc Down(M) returns (stream M);\n  rpc Both(stream M) returns (stream M);\n}\n",
            )
        ]
    )
    service = schema.services["p.S"]
    assert [m.name for m in service.methods] == ["Unary"]
    assert [m.name for m in service.streaming] == ["Up", "Down", "Both"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no .proto file at"):
        Schema.compile([tmp_path / "nope.proto"])


def test_relative_paths_with_and_without_includes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "proto")
    alone = Schema.compile([Path("examples/pricing/v1/pricing.proto")])
    assert alone.targets == ("pricing.proto",)
    rooted = Schema.compile([Path("examples/pricing/v1/pricing.proto")], [Path("examples")])
    assert rooted.targets == ("pricing/v1/pricing.proto",)
