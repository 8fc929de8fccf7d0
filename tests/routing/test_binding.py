"""A legacy function's signature against its rpc's messages: checked once, at decoration."""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any, NamedTuple

import pytest

from bridge.errors import InvalidArguments, RouteError
from bridge.routing.binding import bind, plain

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
