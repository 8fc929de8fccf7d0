"""A legacy function's signature against its rpc's messages: checked once, at decoration."""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import sys
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any, NamedTuple, TypedDict

import pytest
from grpc_tools import protoc

from bridge.errors import InvalidArguments, RouteError
from bridge.routing.binding import bind, plain
from bridge.schema.compile import well_known_include

QUOTE = "pricing.v1.Pricing/Quote"
NORMALIZE = "pricing.v1.Pricing/NormalizeSku"


def test_arguments_bind_by_position_keyword_and_default(pricing_pb2: ModuleType) -> None:
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str = "EUR") -> Any: ...

    binding = bind(quote, QUOTE)
    expected = pricing_pb2.QuoteRequest(sku="pear", quantity=3, unit_price_cents=75, currency="EUR")
    assert binding.encode("pear", 3, 75) == expected
    assert binding.encode(quantity=3, sku="pear", unit_price_cents=75) == expected
    request: Any = binding.encode("pear", 3, unit_price_cents=75, currency="USD")
    assert request.currency == "USD"


def test_a_bad_call_fails_like_the_original(pricing_pb2: ModuleType) -> None:
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> Any: ...

    binding = bind(quote, QUOTE)
    with pytest.raises(TypeError, match=r"quote\(\) missing 1 required positional argument"):
        binding.encode("pear", 3, 75)
    with pytest.raises(InvalidArguments, match="do not fit pricing.v1.QuoteRequest"):
        binding.encode("pear", "three", 75, "EUR")


def test_methods_keyword_only_and_positional_only(pricing_pb2: ModuleType) -> None:
    class Shop:
        def quote(
            self, sku: str, /, quantity: int, *, unit_price_cents: int, currency: str = ""
        ) -> Any: ...

    binding = bind(Shop.quote, QUOTE)
    request: Any = binding.encode(Shop(), "kiwi", 2, unit_price_cents=10)
    assert (request.sku, request.quantity, request.unit_price_cents) == ("kiwi", 2, 10)
    with pytest.raises(TypeError):
        binding.encode(Shop(), "kiwi", 2, 10)  # unit_price_cents is keyword-only


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("def f(sku: str, qty: int, unit_price_cents: int, currency: str): ...",
         "parameter qty is not a field; field quantity has no parameter"),
        ("def f(sku: str): ...", "field quantity, unit_price_cents, currency has no parameter"),
        ("def f(sku: int, quantity: int, unit_price_cents: int, currency: str): ...",
         "parameter sku: int is not str for pricing.v1.QuoteRequest.sku"),
        ("def f(sku: str, quantity: float, unit_price_cents: int, currency: str): ...",
         "parameter quantity: float is not int"),
        ("def f(sku: str, quantity: bool, unit_price_cents: int, currency: str): ...",
         "parameter quantity: bool is not int"),
        ("def f(sku: str | None, quantity: int, unit_price_cents: int, currency: str): ...",
         "allows None, which a field without presence cannot hold"),
        ("def f(sku: str, *args: int): ...", "no *args or **kwargs"),
        ("def f(sku: str, quantity: int, unit_price_cents: int, currency: str) -> int: ...",
         "returns int, which cannot hold pricing.v1.QuoteResponse (6 fields)"),
    ],
)  # fmt: skip
def test_a_mismatch_is_reported_at_decoration(
    pricing_pb2: ModuleType, source: str, fragment: str
) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102
    with pytest.raises(RouteError) as raised:
        bind(namespace["f"], QUOTE)
    assert fragment in str(raised.value)


def test_unknown_rpc_says_to_import_the_stubs(pricing_pb2: ModuleType) -> None:
    def f(sku: str) -> Any: ...

    with pytest.raises(RouteError, match="import its generated _pb2 module"):
        bind(f, "pricing.v1.Pricing/Nope")
    with pytest.raises(RouteError, match="name the rpc in full"):
        bind(f, "Quote")


def test_a_single_field_response_unwraps(pricing_pb2: ModuleType) -> None:
    def normalize_sku(sku: str) -> Any: ...

    binding = bind(normalize_sku, NORMALIZE)
    response = pricing_pb2.NormalizeSkuResponse(sku="PEAR-2")
    assert binding.to_python(response) == "PEAR-2"
    assert binding.to_message("PEAR-2") == response
    assert binding.to_kwargs(pricing_pb2.NormalizeSkuRequest(sku="x")) == {"sku": "x"}


@dataclasses.dataclass
class Quote:
    sku: str
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    currency: str
    notes: list[str]


class QuoteTuple(NamedTuple):
    sku: str
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    currency: str
    notes: list[str]


@pytest.mark.parametrize("result", [Quote, QuoteTuple, dict])
def test_records_fill_from_the_response(pricing_pb2: ModuleType, result: type) -> None:
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> Any: ...

    quote.__annotations__["return"] = result
    binding = bind(quote, QUOTE)
    response = pricing_pb2.QuoteResponse(
        sku="PEAR", subtotal_cents=900, discount_cents=90, total_cents=810, currency="EUR",
        notes=["volume"],
    )  # fmt: skip
    value = binding.to_python(response)
    fields = dict(plain(value))
    assert fields == {
        "sku": "PEAR", "subtotal_cents": 900, "discount_cents": 90, "total_cents": 810,
        "currency": "EUR", "notes": ["volume"],
    }  # fmt: skip
    assert type(fields["notes"]) is list
    assert binding.to_message(value) == response


@dataclasses.dataclass
class Partial:
    sku: str


def test_a_record_that_does_not_fit_the_response(pricing_pb2: ModuleType) -> None:
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> Partial:
        raise NotImplementedError

    with pytest.raises(RouteError, match=r"returns Partial \(sku\), which does not fit"):
        bind(quote, QUOTE)


def test_message_fields_take_dataclasses_and_dicts(kitchen_pb2: ModuleType) -> None:
    @dataclasses.dataclass
    class Scalars:
        f_int64: int
        f_string: str

    def echo(
        scalars: Any, repeated: Any, maps: Any, presence: Any, tree: Any, well_known: Any
    ) -> Any: ...

    binding = bind(echo, "kitchen.v1.Kitchen/Echo")
    request: Any = binding.encode(
        Scalars(7, "seven"), {"r_int64": [1, 2]}, {"m_int32": {1: "a"}}, None, None, None
    )
    assert request.scalars.f_int64 == 7 and request.scalars.f_string == "seven"
    assert list(request.repeated.r_int64) == [1, 2]
    assert dict(request.maps.m_int32) == {1: "a"}
    assert not request.HasField("presence")


# --- the conversions a schema derived by `bridge proto` needs ---------------------------

CONVERSIONS = """
syntax = "proto3";
package conv.v1;
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";
service Conv {
  rpc Book(BookRequest) returns (BookResponse);
  rpc Total(TotalRequest) returns (TotalResponse);
  rpc Grow(Tree) returns (Tree);
}
message Tree { string name = 1; repeated Tree children = 2; }
message Slot { google.protobuf.Timestamp at = 1; optional int64 seats = 2; string fee = 3; }
message Span { double a = 1; double b = 2; }
message BookRequest {
  google.protobuf.Timestamp at = 1;
  google.protobuf.Duration length = 2;
  string price = 3;
  repeated string prices = 4;
  map<string, Slot> slots = 5;
  Span span = 6;
}
message BookResponse { Slot slot = 1; repeated Span spans = 2; map<int64, string> fees = 3; }
message TotalRequest { repeated string prices = 1; }
message TotalResponse { string result = 1; }
"""
UTC = datetime.timezone.utc


class Span(NamedTuple):
    a: float
    b: float


@dataclasses.dataclass
class Slot:
    at: datetime.datetime
    seats: int | None
    fee: Decimal


class Booked(TypedDict):
    slot: Slot
    spans: list[Span]
    fees: dict[int, Decimal]


def book(
    at: datetime.datetime,
    length: datetime.timedelta,
    price: Decimal,
    prices: list[Decimal],
    slots: dict[str, Slot],
    span: Span,
) -> Booked:
    raise NotImplementedError


@dataclasses.dataclass
class Tree:
    name: str
    children: list[Tree]


@pytest.fixture(scope="module")
def conv_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("conv")
    (root / "binding_conversions.proto").write_text(CONVERSIONS)
    argv = ["protoc", f"-I{root}", f"-I{well_known_include()}", f"--python_out={root}"]
    assert protoc.main([*argv, str(root / "binding_conversions.proto")]) == 0
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("binding_conversions_pb2")
    finally:
        sys.path.remove(str(root))


def test_datetimes_durations_and_decimals_cross_both_ways(conv_pb2: ModuleType) -> None:
    binding = bind(book, "conv.v1.Conv/Book")
    at = datetime.datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    kwargs: dict[str, Any] = {
        "at": at,
        "length": datetime.timedelta(minutes=90),
        "price": Decimal("12.30"),
        "prices": [Decimal("1"), Decimal("0.001")],
        "slots": {"x": Slot(at, None, Decimal("2.5")), "y": Slot(at, 3, Decimal("0"))},
        "span": Span(1.0, 2.0),
    }
    request: Any = binding.encode(**kwargs)
    assert request.price == "12.30" and list(request.prices) == ["1", "0.001"]
    assert request.at.ToDatetime(tzinfo=UTC) == at and request.length.seconds == 5400
    assert request.slots["x"].fee == "2.5" and not request.slots["x"].HasField("seats")
    # back, as a replay would: every value has its own Python type again
    assert binding.to_kwargs(request) == kwargs

    booked: Booked = {
        "slot": Slot(at, 2, Decimal("9.99")),
        "spans": [Span(0.5, 1.5)],
        "fees": {7: Decimal("0.07")},
    }
    response = binding.to_message(booked)
    again = binding.to_python(type(response).FromString(response.SerializeToString()))
    assert again == booked
    assert isinstance(again["spans"][0], Span) and isinstance(again["slot"].fee, Decimal)


def test_a_decimal_result_and_list_of_decimals(conv_pb2: ModuleType) -> None:
    def total(prices: list[Decimal]) -> Decimal:
        return sum(prices, Decimal("0"))

    binding = bind(total, "conv.v1.Conv/Total")
    prices = [Decimal("0.1"), Decimal("0.2")]
    assert binding.to_kwargs(binding.encode(prices)) == {"prices": prices}
    response: Any = binding.to_message(total(prices))
    assert response.result == "0.3"
    assert binding.to_python(response) == Decimal("0.3")


def test_a_class_that_holds_itself(conv_pb2: ModuleType) -> None:
    def grow(name: str, children: list[Tree]) -> Tree:
        return Tree(name, children)

    binding = bind(grow, "conv.v1.Conv/Grow")
    tree = Tree("root", [Tree("a", [Tree("a1", [])]), Tree("b", [])])
    assert binding.to_kwargs(binding.encode(tree.name, tree.children)) == {
        "name": "root",
        "children": tree.children,
    }
    assert binding.to_python(binding.to_message(tree)) == tree


@pytest.mark.parametrize(
    ("hint", "fragment"),
    [
        (datetime.date, "date is not a message"),
        (datetime.timedelta, "timedelta is not a message"),  # a Timestamp is no duration
        (float, "float is not a message"),
    ],
)
def test_well_known_fields_take_only_their_own_type(
    conv_pb2: ModuleType, hint: Any, fragment: str
) -> None:
    def book(at, length, price, prices, slots, span):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        raise NotImplementedError

    book.__annotations__ = {"at": hint}
    with pytest.raises(RouteError, match=fragment):
        bind(book, "conv.v1.Conv/Book")
