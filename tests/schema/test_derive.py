"""Type hints -> .proto (schema/derive.py), and field numbers kept across runs
(schema/numbering.py). Every derived file is compiled by protoc here: it must be valid."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, Optional, TypedDict

import pytest
from google.protobuf import descriptor_pb2

from bridge.errors import SchemaError
from bridge.schema.compile import compile_protos
from bridge.schema.derive import derive, rpc_name
from bridge.schema.numbering import assign_numbers, read_previous
from bridge.schema.protofile import ProtoFile


class Color(enum.IntEnum):
    """A colour."""

    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    LEVEL_NONE = 0
    LEVEL_HIGH = 5


@dataclasses.dataclass
class Node:
    """A tree: a message that holds itself."""

    name: str
    children: list[Node]


class Pair(NamedTuple):
    """Two numbers."""

    a: int
    b: float


class Row(TypedDict):
    key: str
    at: datetime.datetime


def everything(
    i: int,
    f: float,
    s: str,
    b: bytes,
    flag: bool,
    maybe: Optional[int],  # noqa: UP045 - typing.Optional, as legacy code spells it
    maybe_pair: Pair | None,
    many: list[str],
    seq: Sequence[Color],
    by_name: dict[str, Node],
    by_id: dict[int, Decimal],
    by_flag: dict[bool, datetime.timedelta],
    color: Color,
    level: Level,
    row: Row,
    at: datetime.datetime,
    wait: datetime.timedelta,
    price: Decimal,
) -> Pair:
    """Takes one of each."""
    return Pair(i, f)


def _compiled(proto: ProtoFile, tmp_path: Path, name: str = "derived.proto") -> Path:
    path = tmp_path / name
    path.write_text(proto.text())
    compile_protos([path])  # SchemaError, with protoc's message, if it is not valid
    return path


def _derive(*functions: Callable[..., Any], previous: Path | None = None) -> ProtoFile:
    proto = derive([(f"m:{f.__name__}", f) for f in functions], "test.v1", "Svc")
    assign_numbers(proto, read_previous(previous) if previous else None)
    return proto


def _declarations(proto: ProtoFile, message: str) -> dict[str, str]:
    return {f.name: f"{f.declaration} = {f.number}" for f in proto.message(message).fields}


def test_every_supported_type_maps_as_documented(tmp_path: Path) -> None:
    proto = _derive(everything)
    _compiled(proto, tmp_path)
    assert _declarations(proto, "EverythingRequest") == {
        "i": "int64 = 1",
        "f": "double = 2",
        "s": "string = 3",
        "b": "bytes = 4",
        "flag": "bool = 5",
        "maybe": "optional int64 = 6",
        "maybe_pair": "Pair = 7",  # a message has presence already
        "many": "repeated string = 8",
        "seq": "repeated Color = 9",
        "by_name": "map<string, Node> = 10",
        "by_id": "map<int64, string> = 11",
        "by_flag": "map<bool, google.protobuf.Duration> = 12",
        "color": "Color = 13",
        "level": "Level = 14",
        "row": "Row = 15",
        "at": "google.protobuf.Timestamp = 16",
        "wait": "google.protobuf.Duration = 17",
        "price": "string = 18",
    }
    # a record result is the response's fields (binding.py fills it from them)
    assert _declarations(proto, "EverythingResponse") == {"a": "int64 = 1", "b": "double = 2"}
    assert _declarations(proto, "Node") == {"name": "string = 1", "children": "repeated Node = 2"}
    assert _declarations(proto, "Row") == {
        "key": "string = 1",
        "at": "google.protobuf.Timestamp = 2",
    }
    assert proto.imports == ["google/protobuf/duration.proto", "google/protobuf/timestamp.proto"]


def test_enums_start_at_zero_with_prefixed_names() -> None:
    enums = {e.name: e.values for e in _derive(everything).enums}
    # proto3 needs a zero first: added when the IntEnum has none, its own when it has one
    assert enums["Color"] == [("COLOR_UNSPECIFIED", 0), ("COLOR_RED", 1), ("COLOR_GREEN", 2)]
    assert enums["Level"] == [("LEVEL_NONE", 0), ("LEVEL_HIGH", 5)]


def test_docstrings_become_comments() -> None:
    proto = _derive(everything)
    text = proto.text()
    assert "  // Takes one of each.\n  rpc Everything(" in text
    assert "// A tree: a message that holds itself.\nmessage Node {" in text
    assert "// A colour.\nenum Color {" in text
    # the docstring a NamedTuple makes up itself is not a comment
    assert "Pair(a, b)" not in text and "// Two numbers.\nmessage Pair {" in text


def test_single_results_are_the_one_field_result() -> None:
    def when(x: int) -> datetime.datetime | None:
        raise NotImplementedError

    def names(x: int) -> list[str]:
        raise NotImplementedError

    proto = _derive(when, names)
    assert _declarations(proto, "WhenResponse") == {
        "result": "google.protobuf.Timestamp = 1"  # a message: presence without `optional`
    }
    assert _declarations(proto, "NamesResponse") == {"result": "repeated string = 1"}


def test_methods_and_decorated_functions() -> None:
    class Shop:
        def line_total(self, cents: int) -> int:
            raise NotImplementedError

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    @decorator
    def vat_cents(net: int) -> int:
        raise NotImplementedError

    proto = _derive(Shop.line_total, vat_cents)
    assert [r.name for r in proto.rpcs] == ["LineTotal", "VatCents"]
    assert _declarations(proto, "LineTotalRequest") == {"cents": "int64 = 1"}
    assert _declarations(proto, "VatCentsRequest") == {"net": "int64 = 1"}


def test_rpc_names_are_camel_case() -> None:
    assert rpc_name("line_total") == "LineTotal"
    assert rpc_name("_vat") == "Vat"
    assert rpc_name("quoteV2") == "QuoteV2"


#: Another class named Pair (from another module, say).
OtherPair = NamedTuple("Pair", [("a", int)])  # type: ignore[name-match]  # noqa: UP014


@dataclasses.dataclass
class FRequest:
    x: int


def test_two_classes_with_one_name_are_refused() -> None:
    def f(x: Pair, y: OtherPair) -> int:
        raise NotImplementedError

    with pytest.raises(SchemaError, match="two types would be message Pair"):
        _derive(f)


def test_a_class_named_like_an_rpc_message_is_refused() -> None:
    def f(x: FRequest) -> int:
        raise NotImplementedError

    with pytest.raises(SchemaError, match="two types would be message FRequest"):
        _derive(f)


def test_hints_that_cannot_be_resolved_are_refused() -> None:
    def f(x: Undefined) -> int:  # type: ignore[name-defined]  # noqa: F821
        raise NotImplementedError

    with pytest.raises(SchemaError, match="m:f: its type hints cannot be resolved"):
        _derive(f)


def test_bad_package_and_service_names() -> None:
    def f(x: int) -> int:
        raise NotImplementedError

    with pytest.raises(SchemaError, match="not a protobuf package name"):
        derive([("m:f", f)], "shop-v1", "S")
    with pytest.raises(SchemaError, match="give it plain"):
        derive([("m:f", f)], "shop.v1", "shop.v1.S")


def test_numbers_survive_changes_and_removed_ones_stay_reserved(tmp_path: Path) -> None:
    def price(a: int, b: str, c: list[int], d: dict[str, Pair], e: float | None) -> int:
        raise NotImplementedError

    path = _compiled(_derive(price), tmp_path, "evolving.proto")

    def price(a: int, c: list[int], d: dict[str, Pair], e: float | None) -> int:  # type: ignore[no-redef]
        raise NotImplementedError

    second = _derive(price, previous=path)
    assert _declarations(second, "PriceRequest") == {
        "a": "int64 = 1",
        "c": "repeated int64 = 3",
        "d": "map<string, Pair> = 4",
        "e": "optional double = 5",
    }
    request = second.message("PriceRequest")
    assert (request.reserved_numbers, request.reserved_names) == ([(2, 2)], ["b"])
    path = _compiled(second, tmp_path, "evolving.proto")

    # b comes back (its name is free again, its old number is not); e drops `optional`
    def price(a: int, b: str, c: list[int], d: dict[str, Pair], e: float) -> int:  # type: ignore[no-redef]
        raise NotImplementedError

    third = _derive(price, previous=path)
    assert _declarations(third, "PriceRequest") == {
        "a": "int64 = 1",
        "b": "string = 6",
        "c": "repeated int64 = 3",
        "d": "map<string, Pair> = 4",
        "e": "double = 7",
    }
    request = third.message("PriceRequest")
    assert (request.reserved_numbers, request.reserved_names) == ([(2, 2), (5, 5)], [])
    _compiled(third, tmp_path, "evolving.proto")


def test_dropped_messages_enums_and_rpcs_are_reported(tmp_path: Path) -> None:
    def paint(c: Color) -> int:
        raise NotImplementedError

    def weigh(x: float) -> float:
        raise NotImplementedError

    path = _compiled(_derive(paint, weigh), tmp_path, "dropping.proto")
    proto = derive([("m:weigh", weigh)], "test.v1", "Svc")
    changes = assign_numbers(proto, read_previous(path))
    assert changes.dropped_rpcs == ["Svc/Paint"]
    assert changes.dropped_messages == ["PaintRequest", "PaintResponse"]
    assert changes.dropped_enums == ["Color"]


def test_a_previous_file_that_does_not_compile_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.proto"
    path.write_text('syntax = "proto3";\nmessage {\n')
    with pytest.raises(SchemaError, match="broken.proto"):
        read_previous(path)


def test_the_previous_descriptor_is_the_files_own(tmp_path: Path) -> None:
    def f(x: int) -> int:
        raise NotImplementedError

    path = _compiled(_derive(f), tmp_path, "own.proto")
    previous = read_previous(path)
    assert isinstance(previous, descriptor_pb2.FileDescriptorProto)
    assert previous.name == "own.proto" and previous.package == "test.v1"
    assert read_previous(tmp_path / "absent.proto") is None
