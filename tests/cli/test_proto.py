"""bridge proto: a schema derived from type hints is the one @bridge.route binds the
functions to; it survives gen, init and build; re-running it keeps field numbers."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest

from bridge import load
from bridge.config import BridgeConfig, Mode, RouteConfig, SidecarConfig
from bridge.errors import GuestError
from bridge.routing import Router
from bridge.sidecar.server import ERROR_KIND_KEY
from bridge.testing import diff
from tests.cli.conftest import assert_one_line_error, run
from tests.conftest import has_go
from tests.grpc_server import serve_generic

# Four functions that use every type bridge proto maps, in parameters and results.
SHOP = '''
from __future__ import annotations

import dataclasses
import datetime
import enum
from decimal import Decimal
from typing import NamedTuple, Optional, TypedDict


class Tier(enum.IntEnum):
    """A customer's tier."""

    BRONZE = 1
    GOLD = 2


@dataclasses.dataclass
class Line:
    """One order line."""

    sku: str
    quantity: int
    unit_price: Decimal


class Point(NamedTuple):
    x: float
    y: float


class Totals(TypedDict):
    net: int
    lines: list[Line]


@dataclasses.dataclass
class Quote:
    total: Decimal
    tier: Tier
    valid_until: datetime.datetime
    note: str | None


def quote(
    lines: list[Line], tier: Tier, at: datetime.datetime, coupon: Optional[str] = None
) -> Quote:
    """Price an order: the sum of its lines."""
    total = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    return Quote(total, tier, at + datetime.timedelta(days=7), coupon)


def stats(counts: dict[str, int], weights: dict[int, float], flags: dict[bool, bytes],
          where: Point, ok: bool, blob: bytes) -> Totals:
    net = sum(v > 0 for v in counts.values()) + len(weights) + len(flags) + int(where.x) + ok
    net += len(blob)
    return {"net": net, "lines": [Line(k, v, Decimal("0.5")) for k, v in sorted(counts.items())]}


def wait(d: datetime.timedelta, by_tier: dict[str, Tier]) -> datetime.timedelta:
    return d if Tier.GOLD in by_tier.values() else -d


def ratio(a: float, b: int, origin: Point | None = None) -> float | None:
    return None if b == 0 else a / b
'''
PACKAGE = "derived.v1"
SERVICE = "Shop"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The module of the functions above, importable from the current directory (tmp_path),
    under a name of its own per test: a module is imported once per process."""
    name = f"proto_shop_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(SHOP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)


def _arguments(shop: Any) -> dict[str, tuple[tuple[Any, ...], dict[str, Any]]]:
    at = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone.utc)
    return {
        "Quote": (([shop.Line("pear", 3, Decimal("1.10"))], shop.Tier.GOLD, at), {"coupon": "X"}),
        "Stats": (
            ({"a": 1, "b": 2}, {3: 0.5}, {True: b"x"}, shop.Point(4.0, 2.0), True, b"\x00\xff"),
            {},
        ),
        "Wait": ((dt.timedelta(seconds=90), {"k": shop.Tier.BRONZE, "j": shop.Tier.GOLD}), {}),
        "Ratio": ((1.5, 3), {"origin": shop.Point(0.0, 1.0)}),
    }


def test_derive_gen_init_build_and_route(shop: Any, tmp_path: Path) -> None:
    functions = [f"{shop.__name__}:{f}" for f in ("quote", "stats", "wait", "ratio")]
    derived = run("proto", *functions, "--package", PACKAGE, "--service", SERVICE,
                  "-o", "proto/shop.proto", "--json")  # fmt: skip
    assert derived.exit_code == 0, derived.stderr
    report = json.loads(derived.stdout)
    assert [r["name"] for r in report["rpcs"]] == ["Quote", "Stats", "Wait", "Ratio"]
    assert report["enums"] == ["Tier"] and {"Line", "Point"} <= set(report["messages"])
    text = (tmp_path / "proto" / "shop.proto").read_text()
    assert "rpc Quote(QuoteRequest) returns (QuoteResponse);" in text
    assert "// Price an order: the sum of its lines." in text  # the docstring
    assert "// A customer's tier." in text
    for declaration in ("repeated Line lines = 1;", "optional string coupon = 4;",
                        "map<int64, double> weights = 2;", "map<bool, bytes> flags = 3;",
                        "google.protobuf.Duration result = 1;", "TIER_UNSPECIFIED = 0;",
                        "optional double result = 1;", "Point origin = 3;",
                        "string unit_price = 3;", "google.protobuf.Timestamp at = 3;"):  # fmt: skip
        assert declaration in text, declaration

    # derived again from the same functions: every field, of every type, keeps its number
    again = run("proto", *functions, "--package", PACKAGE, "--service", SERVICE,
                "-o", "proto/shop.proto", "--check")  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert "proto/shop.proto: unchanged" in again.stderr

    gen = run("gen", "proto/shop.proto", "--python-out", "gen")
    assert gen.exit_code == 0, gen.stderr
    sys.path.insert(0, str(tmp_path / "gen"))
    try:
        importlib.import_module("shop_pb2")
    finally:
        sys.path.remove(str(tmp_path / "gen"))

    router = Router(BridgeConfig(), name="proto-roundtrip")
    try:
        for rpc, (args, kwargs) in _arguments(shop).items():
            fn = getattr(shop, rpc.lower())
            # @bridge.route checks the function against the rpc's messages here.
            routed = router.route(f"{PACKAGE}.{SERVICE}/{rpc}")(fn)
            expected = fn(*args, **kwargs)
            assert routed(*args, **kwargs) == expected
            # Both directions of the binding: arguments and result survive the messages.
            binding = routed.__bridge_route__.binding  # type: ignore[attr-defined]
            request = binding.encode(*args, **kwargs)
            called = binding.to_kwargs(type(request).FromString(request.SerializeToString()))
            assert fn(**called) == expected
            response = binding.to_message(expected)
            again = binding.to_python(type(response).FromString(response.SerializeToString()))
            assert again == expected, rpc
    finally:
        router.close()

    if not has_go():
        pytest.skip("needs the go toolchain (scripts/bootstrap installs it)")
    init = run("init", "go", "proto/shop.proto", "--service", f"{PACKAGE}.{SERVICE}",
               "--dir", "guest")  # fmt: skip
    assert init.exit_code == 0, init.stderr
    built = run("build", "guest", "-o", "shop.wasm")
    assert built.exit_code == 0, built.stderr
    with load(tmp_path / "shop.wasm") as module:
        assert set(module.methods) >= {f"{PACKAGE}.{SERVICE}/{r}" for r in _arguments(shop)}
        with pytest.raises(GuestError, match="not implemented yet"):
            module.call(f"{PACKAGE}.{SERVICE}/Quote", b"")


class _PythonPort(grpc.GenericRpcHandler):
    """A port that is the legacy Python itself, behind a real gRPC server: what `bridge
    diff` compares it with must then agree, for every type the schema was derived with.
    A failure is marked as the guest's own answer, as `bridge serve` marks it."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self._routes = routes

    def service(
        self, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        route = self._routes.get(details.method.lstrip("/"))
        if route is None:
            return None

        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            binding = route.binding
            try:
                message = binding.request_class.FromString(request)
                value = route.fn(**binding.to_kwargs(message))
                return bytes(binding.to_message(value).SerializeToString())
            except Exception as exc:  # noqa: BLE001 - the port's answer, as a status
                context.set_trailing_metadata(((ERROR_KIND_KEY, "GuestError"),))
                context.abort(grpc.StatusCode.UNKNOWN, f"{type(exc).__name__}: {exc}")

        return grpc.unary_unary_rpc_method_handler(answer)


def test_diff_runs_on_the_derived_schema(shop: Any, tmp_path: Path) -> None:
    """bridge diff draws requests of every derived type, and the legacy functions agree
    with a port that runs them behind a real sidecar: the schema, the strategies and the
    binding hold together in both directions, errors included."""
    functions = [f"{shop.__name__}:{f}" for f in ("quote", "stats", "wait", "ratio")]
    derived = run("proto", *functions, "--package", PACKAGE, "--service", SERVICE,
                  "-o", "proto/shop.proto")  # fmt: skip
    assert derived.exit_code == 0, derived.stderr
    assert run("gen", "proto/shop.proto", "--python-out", "gen").exit_code == 0
    sys.path.insert(0, str(tmp_path / "gen"))
    try:
        importlib.import_module("shop_pb2")
    finally:
        sys.path.remove(str(tmp_path / "gen"))
    methods = {rpc: f"{PACKAGE}.{SERVICE}/{rpc}" for rpc in _arguments(shop)}
    socket = tmp_path / "port.sock"
    router = Router(
        BridgeConfig(
            sidecar=SidecarConfig(target=f"unix:{socket}"),
            routes={method: RouteConfig(mode=Mode("sidecar")) for method in methods.values()},
        ),
        name="proto-diff",
    )
    try:
        routed = {
            method: router.route(method)(getattr(shop, rpc.lower()))
            for rpc, method in methods.items()
        }
        routes = {method: getattr(fn, "__bridge_route__") for method, fn in routed.items()}  # noqa: B009
        with serve_generic(_PythonPort(routes), socket):
            for method, fn in routed.items():
                # Stats answers an int64: a float's integer part may not fit one.
                where = {"where.x": "-1000..1000"} if method.endswith("/Stats") else None
                result = diff(fn, examples=150, seed=7, where=where)
                assert result.agrees, (method, [d.to_json() for d in result.differences])
    finally:
        router.close()


def test_rerun_keeps_numbers_and_reserves_removed_fields(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"proto_evolve_{tmp_path.name.replace('-', '_')}"
    source = tmp_path / f"{name}.py"
    source.write_text("def vat(net_cents: int, rate_permille: int, region: str) -> int: ...\n")
    args = ["proto", f"{name}:vat", "--package", "evolve.v1", "--service", "Pricing",
            "-o", "evolve.proto"]  # fmt: skip
    first = run(*args)
    assert first.exit_code == 0, first.stderr
    assert "evolve.v1.Pricing/Vat" in first.stdout and f"{name}:vat" in first.stdout
    assert "evolve.proto: written" in first.stderr
    assert run(*args, "--check").exit_code == 0  # unchanged: nothing to do

    # region goes, rate_permille changes type, country and rounding arrive
    source.write_text(
        "def vat(country: str, net_cents: int, rate_permille: float, rounding: bool) -> int: ...\n"
    )
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    assert run(*args, "--check").exit_code == 1
    assert "string region = 3;" in (tmp_path / "evolve.proto").read_text()  # --check wrote nothing
    ran = run(*args, "--json")
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    text = (tmp_path / "evolve.proto").read_text()
    assert "int64 net_cents = 1;" in text
    assert "reserved 2 to 3;" in text and 'reserved "region";' in text
    # new numbers in parameter order, after every number used before
    assert "string country = 4;" in text and "double rate_permille = 5;" in text
    assert "bool rounding = 6;" in text
    assert {"message": "VatRequest", "field": "region", "number": 3} in report["reserved"]

    # a function that goes away takes its rpc and messages with it, and says so
    source.write_text("def vat(net_cents: int) -> int: ...\ndef fee(cents: int) -> int: ...\n")
    sys.modules.pop(name, None)
    ran = run("proto", f"{name}:fee", "--package", "evolve.v1", "--service", "Pricing",
              "-o", "evolve.proto")  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    assert "dropped rpc Pricing/Vat" in ran.stderr
    assert "dropped message VatRequest" in ran.stderr
    assert "Vat" not in (tmp_path / "evolve.proto").read_text().split("syntax")[1]


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("def vat(rates: set[int]) -> int: ...",
         [":vat: parameter 'rates' is set[int], which has no protobuf form; use list[int]"]),
        ("def vat(rates) -> int: ...", ["parameter 'rates' has no type hint"]),
        ("def vat(rate: int): ...", ["the return type has no hint"]),
        ("def vat(m: dict[float, int]) -> int: ...", ["map keys are int, str or bool"]),
        ("def vat(m: list[list[int]]) -> int: ...", ["a container directly in a container"]),
        ("def vat(m: int | str) -> int: ...", ["parameter 'm' is int | str", "use one type"]),
        ("import enum\nclass C(enum.Enum):\n    A = 1\ndef vat(c: C) -> int: ...",
         ["parameter 'c' is C", "use an enum.IntEnum"]),
        ("import datetime\ndef vat(d: datetime.date) -> int: ...", ["use datetime.datetime"]),
        ("def vat(*rates: int) -> int: ...", ["no *args or **kwargs"]),
        ("def vat(x: int) -> dict[str, int]: ...", ["return a TypedDict or a dataclass"]),
        ("import dataclasses\n@dataclasses.dataclass\nclass P:\n    s: set[str]\n"
         "def vat(p: P) -> int: ...", ["field P.s (of parameter 'p')", "use list[str]"]),
        ("def vat(x: int) -> None: ...", ["returns None"]),
        ("def vat(x: int) -> int: ...\nvat = 3", ["is not a function"]),
        ("class vat:\n    x: int", ["is not a function"]),
    ],
)  # fmt: skip
def test_bad_hints_are_one_line_errors(
    source: str, fragments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"proto_bad_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(source + "\n")
    ran = run("proto", f"{name}:vat", "--package", "bad.v1", "--service", "S", "-o", "bad.proto")
    assert_one_line_error(ran, *fragments)
    assert not (tmp_path / "bad.proto").exists()
    sys.modules.pop(name, None)


def test_a_module_that_cannot_be_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ran = run("proto", "no_such_module_here:f", "--package", "a.v1", "--service", "S", "-o", "x")
    assert_one_line_error(ran, "cannot import no_such_module_here: ModuleNotFoundError")
    ran = run("proto", "nocolon", "--package", "a.v1", "--service", "S", "-o", "x")
    assert_one_line_error(ran, "name a function as module:function")


def test_help_has_an_example() -> None:
    ran = run("proto", "--help")
    assert ran.exit_code == 0 and "Example:" in ran.stdout
