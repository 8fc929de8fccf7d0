"""The hand-written pricing guests (Go and Rust), called through ABI v1 from Python.

Both guests implement the same three functions; each answer is compared byte for byte
with what Python's own protobuf produces for the expected message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import bridge
from bridge import StatusCode

QUOTE = "pricing.v1.Pricing/Quote"
NORMALIZE = "pricing.v1.Pricing/NormalizeSku"
LOOKUP = "pricing.v1.Pricing/Lookup"


@pytest.fixture(scope="module")
def guest(pricing_wasm: Path) -> Iterator[bridge.GuestModule]:
    with bridge.load(pricing_wasm) as module:
        yield module


def test_methods(guest: bridge.GuestModule) -> None:
    assert guest.methods == (LOOKUP, NORMALIZE, QUOTE)


def test_quote_without_discount(guest: bridge.GuestModule, pricing_pb2: ModuleType) -> None:
    request = pricing_pb2.QuoteRequest(sku=" apple 1 ", quantity=3, unit_price_cents=250)
    expected = pricing_pb2.QuoteResponse(
        sku="APPLE-1", subtotal_cents=750, total_cents=750, currency="USD"
    )
    reply = guest.call(QUOTE, request.SerializeToString())
    assert reply == expected.SerializeToString()


def test_quote_with_volume_discount(guest: bridge.GuestModule, pricing_pb2: ModuleType) -> None:
    request = pricing_pb2.QuoteRequest(
        sku="pear-2", quantity=12, unit_price_cents=75, currency="EUR"
    )
    reply = pricing_pb2.QuoteResponse.FromString(guest.call(QUOTE, request.SerializeToString()))
    assert reply == pricing_pb2.QuoteResponse(
        sku="PEAR-2",
        subtotal_cents=900,
        discount_cents=90,
        total_cents=810,
        currency="EUR",
        notes=["volume discount 10%"],
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sku": "apple", "quantity": 0, "unit_price_cents": 1}, "quantity must be at least 1"),
        ({"sku": "  ", "quantity": 1, "unit_price_cents": 1}, "sku is required"),
        (
            {"sku": "a", "quantity": 1, "unit_price_cents": -1},
            "unit_price_cents must not be negative",
        ),
        (
            {"sku": "a", "quantity": 4_000_000_000, "unit_price_cents": 2**62},
            "subtotal overflows int64",
        ),
    ],
)
def test_quote_application_errors(
    guest: bridge.GuestModule, pricing_pb2: ModuleType, fields: dict[str, object], message: str
) -> None:
    request = pricing_pb2.QuoteRequest(**fields)
    with pytest.raises(bridge.GuestError) as info:
        guest.call(QUOTE, request.SerializeToString())
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    assert info.value.status_message == message


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("apple 1", "APPLE-1"),
        ("\t plum \n 3 \r", "PLUM-3"),
        ("", ""),
        ("   ", ""),
        ("café au lait", "CAFé-AU-LAIT"),  # ASCII upper-casing only: bytes above 127 stay
    ],
)
def test_normalize_sku(
    guest: bridge.GuestModule, pricing_pb2: ModuleType, raw: str, normal: str
) -> None:
    request = pricing_pb2.NormalizeSkuRequest(sku=raw)
    reply = guest.call(NORMALIZE, request.SerializeToString())
    assert reply == pricing_pb2.NormalizeSkuResponse(sku=normal).SerializeToString()


def test_lookup_found(guest: bridge.GuestModule, pricing_pb2: ModuleType) -> None:
    request = pricing_pb2.LookupRequest(sku="plum 3")
    reply = pricing_pb2.LookupResponse.FromString(guest.call(LOOKUP, request.SerializeToString()))
    assert reply == pricing_pb2.LookupResponse(sku="PLUM-3", name="Plum", unit_price_cents=120)


def test_lookup_not_found(guest: bridge.GuestModule, pricing_pb2: ModuleType) -> None:
    request = pricing_pb2.LookupRequest(sku="kiwi 9")
    with pytest.raises(bridge.GuestError) as info:
        guest.call(LOOKUP, request.SerializeToString())
    assert info.value.code is StatusCode.NOT_FOUND
    assert info.value.status_message == 'sku "KIWI-9" not found'


def test_unknown_fields_are_skipped(guest: bridge.GuestModule, pricing_pb2: ModuleType) -> None:
    known = pricing_pb2.LookupRequest(sku="apple 1").SerializeToString()
    # field 9 varint, field 10 fixed64, field 11 bytes, field 12 fixed32: all unknown
    unknown = b"\x48\x96\x01" + b"\x51" + bytes(8) + b"\x5a\x03abc" + b"\x65" + bytes(4)
    reply = guest.call(LOOKUP, unknown + known)
    assert pricing_pb2.LookupResponse.FromString(reply).name == "Apple"


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x0a\x05ab",  # length past the end
        b"\x10",  # truncated varint
        b"\x10" + b"\xff" * 10 + b"\x01",  # overlong varint
        b"\x0f",  # wire type 7 does not exist
        b"\x00\x01",  # field number 0
    ],
)
def test_malformed_requests_are_invalid_argument_not_traps(
    guest: bridge.GuestModule, garbage: bytes
) -> None:
    with pytest.raises(bridge.GuestError) as info:
        guest.call(QUOTE, garbage)
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    # the guest is still healthy: the same instance answers the next call
    assert guest.call(NORMALIZE, b"\x0a\x01a") == b"\x0a\x01A"


def test_many_calls_in_a_row_stay_correct(
    guest: bridge.GuestModule, pricing_pb2: ModuleType
) -> None:
    for quantity in range(1, 300):
        request = pricing_pb2.QuoteRequest(sku="apple 1", quantity=quantity, unit_price_cents=7)
        reply = pricing_pb2.QuoteResponse.FromString(guest.call(QUOTE, request.SerializeToString()))
        subtotal = 7 * quantity
        discount = subtotal // 10 if quantity >= 10 else 0
        assert (reply.subtotal_cents, reply.total_cents) == (subtotal, subtotal - discount)
