"""Each mode with real guests: python, wasm, sidecar, canary, fallback, async, flips."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typing_extensions import assert_type

from bridge.config import BridgeConfig, Mode, RouteConfig, ShadowConfig, SidecarConfig
from bridge.errors import ConfigError, GuestError, GuestTrap, SidecarUnavailable, StatusCode
from bridge.routing import Router
from tests.grpc_server import GuestServicer
from tests.routing.conftest import FAULTY, PRICING, MakeRouter

NORMALIZE = f"{PRICING}/NormalizeSku"
QUOTE = f"{PRICING}/Quote"


def tagged_normalize(router: Router, **options: Any) -> Any:
    """NormalizeSku whose Python answer is marked, to tell who answered."""

    @router.route(NORMALIZE, **options)
    def normalize_sku(sku: str) -> str:
        return "-".join(sku.split()).upper() + " (python)"

    return normalize_sku


def test_python_mode_runs_only_the_original(make_router: MakeRouter) -> None:
    router = make_router()
    normalize_sku = tagged_normalize(router)
    assert normalize_sku(" pear 2 ") == "PEAR-2 (python)"
    assert router[NORMALIZE].plan is None
    assert router.stats() == []
    assert normalize_sku.__name__ == "normalize_sku" and normalize_sku.__wrapped__


def test_wasm_mode_answers_from_the_guest(make_router: MakeRouter, pricing_wasm: Path) -> None:
    router = make_router(
        {NORMALIZE: RouteConfig(mode=Mode("wasm"))}, services={PRICING: pricing_wasm}
    )
    normalize_sku = tagged_normalize(router)
    assert normalize_sku(" pear 2 ") == "PEAR-2"
    assert normalize_sku(sku="apple  1") == "APPLE-1"
    [row] = router.stats()
    assert (row.method, row.mode, row.side, row.calls, row.errors) == (
        NORMALIZE,
        "wasm",
        "wasm",
        2,
        0,
    )


def test_methods_and_records(make_router: MakeRouter, pricing_pb2: ModuleType) -> None:
    router = make_router({QUOTE: RouteConfig(mode=Mode("wasm"))})

    class Shop:
        @router.route(QUOTE)
        def quote(
            self, sku: str, quantity: int, unit_price_cents: int, currency: str = "EUR"
        ) -> dict[str, Any]:
            raise AssertionError("the guest answers")

    answer = Shop().quote("pear", 12, unit_price_cents=75)
    assert answer["total_cents"] == 810 and answer["notes"] == ["volume discount 10%"]


def test_guest_errors_raise_what_the_legacy_code_raised(make_router: MakeRouter) -> None:
    router = make_router({QUOTE: RouteConfig(mode=Mode("wasm"), fallback=True)})

    @router.route(QUOTE, errors={StatusCode.INVALID_ARGUMENT: ValueError})
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> Any:
        raise AssertionError("a guest error is an answer: it never falls back")

    with pytest.raises(ValueError, match="quantity must be at least 1") as raised:
        quote("pear", 0, 75, "EUR")
    assert isinstance(raised.value.__cause__, GuestError)
    [row] = router.stats()
    assert (row.errors, row.fallbacks) == (1, 0)

    @router.route(f"{PRICING}/Lookup")
    def lookup(sku: str) -> Any: ...

    router.set_mode(f"{PRICING}/Lookup", "wasm")
    with pytest.raises(GuestError) as unmapped:
        lookup("kiwi")
    assert unmapped.value.code == StatusCode.NOT_FOUND


def test_fallback_is_counted_and_logged(
    make_router: MakeRouter, faulty_pb2: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    router = make_router({f"{FAULTY}/Panic": RouteConfig(mode=Mode("wasm"), fallback=True)})

    @router.route(f"{FAULTY}/Panic")
    def panic(text: str) -> str:
        return f"python: {text}"

    with caplog.at_level(logging.WARNING, logger="bridge.route"):
        assert [panic(str(i)) for i in range(3)] == ["python: 0", "python: 1", "python: 2"]
    [row] = router.stats()
    assert (row.calls, row.errors, row.fallbacks) == (3, 3, 3)
    fallbacks = [r for r in caplog.records if "python answered instead" in r.getMessage()]
    assert len(fallbacks) == 3 and "trapped" in fallbacks[0].getMessage()

    router.set_mode(f"{FAULTY}/Panic", "wasm", fallback=False)
    with pytest.raises(GuestTrap):
        panic("x")


def test_a_module_that_fails_to_load_falls_back(
    make_router: MakeRouter, tmp_path: Path, pricing_pb2: ModuleType
) -> None:
    broken = tmp_path / "broken.wasm"
    broken.write_bytes(b"\0asm garbage")
    router = make_router(
        {NORMALIZE: RouteConfig(mode=Mode("wasm"), fallback=True)}, services={PRICING: broken}
    )
    normalize_sku = tagged_normalize(router)
    assert normalize_sku("pear") == "PEAR (python)"
    assert normalize_sku("kiwi") == "KIWI (python)"
    [row] = router.stats()
    assert row.fallbacks == 2


def test_sidecar_mode_calls_the_server(
    make_router: MakeRouter, sidecar: tuple[str, GuestServicer]
) -> None:
    target, servicer = sidecar
    router = make_router(
        {NORMALIZE: RouteConfig(mode=Mode("sidecar"))}, sidecar=SidecarConfig(target=target)
    )
    normalize_sku = tagged_normalize(router)
    assert [normalize_sku(s) for s in ("pear 2", "kiwi")] == ["PEAR-2", "KIWI"]
    assert servicer.calls == 2
    assert router.stats()[0].side == "sidecar"


def test_an_unreachable_sidecar(make_router: MakeRouter, tmp_path: Path) -> None:
    target = f"unix:{tmp_path / 'nobody.sock'}"
    config = {NORMALIZE: RouteConfig(mode=Mode("sidecar"), timeout_s=2.0)}
    router = make_router(config, sidecar=SidecarConfig(target=target))
    normalize_sku = tagged_normalize(router)
    with pytest.raises(SidecarUnavailable, match="nobody.sock"):
        normalize_sku("pear")
    router.set_mode(NORMALIZE, "sidecar", fallback=True)
    assert normalize_sku("pear") == "PEAR (python)"


def test_canary_share_and_sticky_keys(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: RouteConfig(mode=Mode("canary", 30))})
    normalize_sku = tagged_normalize(router)
    random.seed(7)
    answers = [normalize_sku("pear") for _ in range(2000)]
    share = answers.count("PEAR") / len(answers)
    assert 0.25 < share < 0.35, share

    sticky = make_router({NORMALIZE: RouteConfig(mode=Mode("canary", 50))})
    keyed = tagged_normalize(sticky, key=lambda sku: sku.split()[0])
    skus = [f"customer{i} item" for i in range(200)]
    first = [keyed(s).endswith("(python)") for s in skus]
    assert first == [keyed(s).endswith("(python)") for s in skus]  # the same side again
    assert 60 < first.count(False) < 140
    rows = {row.side: row.calls for row in sticky.stats()}
    assert rows == {"wasm": 2 * first.count(False), "python": 2 * first.count(True)}


def test_async_functions(make_router: MakeRouter, faulty_pb2: ModuleType) -> None:
    router = make_router({f"{FAULTY}/Panic": RouteConfig(mode=Mode("wasm"), fallback=True)})

    @router.route(NORMALIZE)
    async def normalize_sku(sku: str) -> str:
        await asyncio.sleep(0)
        return "python"

    @router.route(f"{FAULTY}/Panic")
    async def panic(text: str) -> str:
        return f"python: {text}"

    async def main() -> list[str]:
        answers = [await normalize_sku("pear 2")]
        router.set_mode(NORMALIZE, "wasm")
        answers += await asyncio.gather(*(normalize_sku(f"kiwi {i}") for i in range(3)))
        router.set_mode(NORMALIZE, "shadow")
        answers.append(await normalize_sku("fig"))
        answers.append(await panic("x"))
        return answers

    assert asyncio.run(main()) == ["python", "KIWI-0", "KIWI-1", "KIWI-2", "python", "python: x"]
    assert router.drain(10)
    shadow = [r for r in router.stats() if r.mode == "shadow"]
    assert {r.side: r.calls for r in shadow} == {"python": 1, "wasm": 1}
    assert [m.kind for m in router.mismatches()] == ["value"]  # "python" != "FIG"


def test_run_time_flips_under_load(make_router: MakeRouter) -> None:
    router = make_router()

    @router.route(NORMALIZE)
    def normalize_sku(sku: str) -> str:
        return "-".join(sku.split()).upper()

    failures: list[BaseException] = []
    stop = threading.Event()

    def call() -> None:
        while not stop.is_set():
            try:
                assert normalize_sku("pear  2") == "PEAR-2"
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for mode in ["wasm", "shadow", "canary:50", "python", "wasm", "shadow"] * 5:
        router.set_mode(NORMALIZE, mode)
        assert router.mode(NORMALIZE) == Mode.parse(mode)
        stop.wait(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert router.drain(10)
    assert {r.mode for r in router.stats()} == {"wasm", "shadow", "canary:50"}
    assert router.mismatches() == []


def test_a_flip_that_cannot_run_changes_nothing(make_router: MakeRouter) -> None:
    router = make_router(services={})
    tagged_normalize(router)
    with pytest.raises(ConfigError, match="needs a module for pricing.v1.Pricing/NormalizeSku"):
        router.set_mode(NORMALIZE, "wasm")
    with pytest.raises(ConfigError, match="is not a mode"):
        router.set_mode(NORMALIZE, "fast")
    assert router.mode(NORMALIZE) == Mode("python") and router[NORMALIZE].plan is None


def test_configure_reloads_the_file_at_run_time(
    go_pricing_wasm: Path, pricing_pb2: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "bridge.toml"
    services = f'[services]\n"{PRICING}" = "{go_pricing_wasm}"\n'
    path.write_text(services)
    router = Router(path, name="reload")
    try:
        normalize_sku = tagged_normalize(router)
        assert normalize_sku("pear") == "PEAR (python)"
        path.write_text(services + f'[routes."{NORMALIZE}"]\nmode = "wasm"\n')
        router.configure()
        assert normalize_sku("pear") == "PEAR"
        path.write_text(f'[routes."{NORMALIZE}"]\nmode = "wasm"\n')  # no module any more
        with pytest.raises(ConfigError, match="needs a module"):
            router.configure()
        assert normalize_sku("pear") == "PEAR"  # the old configuration still serves
        router.set_mode(NORMALIZE, "python")
        assert normalize_sku("pear") == "PEAR (python)"
        router.reset()
        assert normalize_sku("pear") == "PEAR"
    finally:
        router.close()


def test_the_process_router_reads_config_beside_the_code(
    go_pricing_wasm: Path, pricing_pb2: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "bridge.toml").write_text(
        f'[services]\n"{PRICING}" = "{go_pricing_wasm}"\n[routes."{NORMALIZE}"]\nmode = "wasm"\n'
    )
    source = tmp_path / "legacy.py"
    source.write_text("def normalize_sku(sku: str) -> str:\n    return sku + ' (python)'\n")
    namespace: dict[str, Any] = {"__file__": str(source)}
    exec(compile(source.read_text(), str(source), "exec"), namespace)  # noqa: S102
    router = Router(name="discovery")
    try:
        normalize_sku = router.route(NORMALIZE)(namespace["normalize_sku"])
        assert router.config.source == tmp_path / "bridge.toml"
        assert normalize_sku("pear 2") == "PEAR-2"
    finally:
        router.close()
    assert BridgeConfig().route(NORMALIZE).mode == Mode("python")


def test_converters_and_the_kept_signature(
    make_router: MakeRouter, pricing_pb2: ModuleType
) -> None:
    router = make_router(
        {QUOTE: RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig(inline=True))}
    )

    def to_python(response: Any) -> tuple[int, str]:
        return response.total_cents, response.currency

    def to_message(value: tuple[int, str]) -> Any:
        return pricing_pb2.QuoteResponse(total_cents=value[0], currency=value[1])

    @router.route(QUOTE, to_python=to_python, to_message=to_message)
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> tuple[int, str]:
        return unit_price_cents * quantity, currency or "USD"

    answer = quote("pear", 2, 75, "")
    assert_type(answer, tuple[int, str])  # @route keeps the signature (ParamSpec)
    assert answer == (150, "USD")
    [mismatch] = router.mismatches()  # the guest also fills sku and subtotal_cents
    assert "sku: '' != 'PEAR'" in mismatch.differences, mismatch
    router.set_mode(QUOTE, "wasm")
    assert quote("pear", 12, 75, "EUR") == (810, "EUR")
