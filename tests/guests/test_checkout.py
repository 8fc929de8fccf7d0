"""examples/{go,rust}-checkout: guests made by `bridge init`, with only the user file
written by hand, that call back into legacy Python (the host's Inventory service)."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import bridge
from bridge.codegen import go, rust
from bridge.config import RuntimeConfig
from bridge.guest.build import SCHEMA_FILE
from bridge.runtime.hostcalls import HostContext
from bridge.schema import Schema
from tests.conftest import EXAMPLES, ROOT, SHOP_PROTO, _build_or_skip

SUM = "shop.v1.Checkout/Sum"
CATALOGUE = {"APPLE": 50, "PEAR": 75, "PLUM": 120}


class Inventory:
    """The legacy Python the guests still call: shop.v1.Inventory."""

    def __init__(self, pb2: ModuleType) -> None:
        self.pb2 = pb2
        self.asked: list[str] = []

    def Price(self, request: Any, context: HostContext) -> Any:  # noqa: N802 (grpc's names)
        self.asked.append(request.sku)
        if request.sku == "BOOM":
            raise RuntimeError("the legacy database is down")
        if request.sku not in CATALOGUE:
            context.abort(bridge.StatusCode.NOT_FOUND, f"no sku {request.sku}")
        return self.pb2.PriceReply(unit_price_cents=CATALOGUE[request.sku])


@pytest.fixture(scope="module", params=["go", "rust"])
def checkout(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shop_pb2: ModuleType
) -> Iterator[tuple[bridge.GuestModule, Inventory]]:
    name = f"{request.param}-checkout"
    wasm = _build_or_skip(EXAMPLES / name, tmp_path_factory.mktemp(name) / f"{name}.wasm")
    inventory = Inventory(shop_pb2)
    guest = bridge.load(wasm, RuntimeConfig(cache_dir=None), host={"shop.v1.Inventory": inventory})
    with guest:
        yield guest, inventory


def _sum(guest: bridge.GuestModule, pb2: ModuleType, **cart: Any) -> Any:
    reply = guest.call(SUM, pb2.Cart(**cart).SerializeToString())
    return pb2.Total.FromString(reply)


def test_prices_come_from_python(
    checkout: tuple[bridge.GuestModule, Inventory], shop_pb2: ModuleType
) -> None:
    guest, inventory = checkout
    inventory.asked.clear()
    lines = [shop_pb2.Line(sku="APPLE", quantity=3), shop_pb2.Line(sku="PLUM", quantity=1)]
    total = _sum(guest, shop_pb2, lines=lines, coupon="SAVE10")
    assert (total.subtotal_cents, total.discount_cents, total.total_cents) == (270, 27, 243)
    assert inventory.asked == ["APPLE", "PLUM"]


def test_unknown_skus_are_listed(
    checkout: tuple[bridge.GuestModule, Inventory], shop_pb2: ModuleType
) -> None:
    guest, _ = checkout
    lines = [shop_pb2.Line(sku="KIWI", quantity=2), shop_pb2.Line(sku="PEAR", quantity=2)]
    total = _sum(guest, shop_pb2, lines=lines)
    assert total.total_cents == 150
    assert list(total.unknown_skus) == ["KIWI"]


def test_guest_and_host_errors(
    checkout: tuple[bridge.GuestModule, Inventory], shop_pb2: ModuleType
) -> None:
    guest, _ = checkout
    with pytest.raises(bridge.GuestError) as info:
        _sum(guest, shop_pb2, lines=[shop_pb2.Line(sku="APPLE", quantity=0)])
    assert info.value.code is bridge.StatusCode.INVALID_ARGUMENT
    assert info.value.status_message == "line 0: quantity must be at least 1"
    with pytest.raises(bridge.GuestError) as info:
        _sum(guest, shop_pb2, lines=[shop_pb2.Line(sku="BOOM", quantity=1)])
    assert info.value.code is bridge.StatusCode.INTERNAL  # the host's failure, passed on
    assert "the legacy database is down" in info.value.status_message
    assert _sum(guest, shop_pb2).total_cents == 0  # and the guest goes on


@pytest.mark.parametrize("language", ["go", "rust"])
def test_the_examples_glue_is_what_bridge_gen_writes(language: str) -> None:
    """The examples check in their generated glue; it must match today's emitters."""
    schema = Schema.compile([SHOP_PROTO], [ROOT / "proto" / "examples"])
    if language == "go":
        out, files = EXAMPLES / "go-checkout" / "bridgegen", go.emit(schema)
    else:
        out, files = EXAMPLES / "rust-checkout" / "src", rust.emit(schema)
    for file in files:
        assert (out / file.path).read_text() == file.text, (
            f"{out / file.path} is stale: run bridge gen -I proto/examples "
            f"proto/examples/shop/v1/shop.proto --{language}-out {out.relative_to(ROOT)}"
        )
    assert (out / SCHEMA_FILE).read_bytes() == schema.descriptor_set
