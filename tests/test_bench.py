"""`bridge bench`: the command's output, and the Extism plugin it times answering exactly
what the bridge guest answers. Nothing here asserts a timing: speed is what the
benchmark itself reports, never what a test checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import bridge
from bridge import bench
from tests.cli.conftest import assert_one_line_error, run
from tests.conftest import has_rust

needs_rust = pytest.mark.skipif(
    not has_rust(), reason="needs rustc with wasm32 (scripts/bootstrap)"
)

# Enough calls to exercise every figure, few enough that a run takes a second or two.
ITERATIONS = "25"


def _has_extism() -> bool:
    try:
        bench.load_extism()
    except bench.FigureSkipped:
        return False
    return True


@pytest.fixture(scope="module")
def ctx() -> bench.Context:
    return bench.Context(bench.checkout_root())


@needs_rust
def test_json_report() -> None:
    ran = run("bench", "--json", "--iterations", ITERATIONS)
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)  # one JSON object on stdout, progress on stderr
    assert {"figures", "machine", "budgets"} <= set(report)

    required = {"python", "wasmtime_naive", "bridge", "bridge_args", "legacy"}
    required |= {"route_python", "route_wasm"} | ({"extism"} if _has_extism() else set())
    assert required <= set(report["figures"])
    for name, figure in report["figures"].items():
        assert set(figure) == {"median_us", "p99_us"}, name
        assert figure["median_us"] > 0, name
        assert figure["p99_us"] > 0, name
        assert report["calls"][name] == int(ITERATIONS)

    machine = report["machine"]
    assert {"cpu", "cores", "python", "wasmtime", "platform"} <= set(machine)
    assert machine["cores"] >= 1

    budgets = {b["name"]: b for b in report["budgets"]}
    assert set(budgets) == {
        "bridge_median",
        "bridge_vs_wasmtime_naive",
        "bridge_vs_extism",
        "route_wasm_overhead",
        "route_python_overhead",
    }
    overhead = (
        report["figures"]["route_wasm"]["median_us"] - report["figures"]["bridge_args"]["median_us"]
    )
    assert budgets["route_wasm_overhead"]["measured"] == pytest.approx(overhead, abs=0.002)
    for budget in budgets.values():
        assert isinstance(budget["budget"], str)
        assert budget["met"] in (True, False, None)
        assert (budget["measured"] is None) == (budget["met"] is None)
    assert budgets["bridge_median"]["measured"] == report["figures"]["bridge"]["median_us"]

    assert report["payload"]["request_bytes"] > 0
    assert "building" in ran.stderr and "timing bridge" in ran.stderr


@pytest.fixture
def no_extism(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as one without the Extism SDK: `import extism` fails."""
    monkeypatch.setitem(sys.modules, "extism", None)


@needs_rust
@pytest.mark.usefixtures("no_extism")
def test_table_without_extism_says_how_to_get_it() -> None:
    ran = run("bench", "--iterations", ITERATIONS)
    assert ran.exit_code == 0, ran.stderr
    assert "skipped extism: " in ran.stderr and "pip install extism" in ran.stderr
    figures_table = ran.stdout.split("budgets")[0]
    rows = {line.split()[0]: line for line in figures_table.splitlines() if line.strip()}
    for name in ("python", "wasmtime_naive", "bridge"):
        assert name in rows, ran.stdout
    assert "pip install extism" in rows["extism"]
    assert "budgets" in ran.stdout
    assert "not measured" in ran.stdout  # bridge vs extism: no extism figure


def test_missing_checkout_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "checkout_root", lambda: tmp_path)
    assert_one_line_error(run("bench", "--json"), "run it from a clone")


def test_python_figure_is_the_guests_logic(ctx: bench.Context) -> None:
    """The reference the bench checks every figure against, on the guest's own cases."""
    response: Any = ctx.response_type.FromString(
        bench.python_quote(
            ctx.request_type,
            ctx.response_type,
            ctx.request_type(sku=" apple 1 ", quantity=10, unit_price_cents=50).SerializeToString(),
        )
    )
    assert (response.sku, response.subtotal_cents, response.discount_cents) == ("APPLE-1", 500, 50)
    assert (response.total_cents, response.currency) == (450, "USD")
    assert list(response.notes) == ["volume discount 10%"]


@needs_rust
def test_extism_plugin_answers_what_the_bridge_guest_answers(ctx: bench.Context) -> None:
    extism = pytest.importorskip("extism")
    requests = [
        ctx.request,
        ctx.request_type(sku="plum 3", quantity=1, currency="EUR"),
        ctx.request_type(sku=" apple 1 ", quantity=10, unit_price_cents=50),
        ctx.request_type(sku="a\x0bb\x0cc\rd", quantity=9, unit_price_cents=7),
    ]
    plugin_wasm = ctx.guest("extism-pricing").read_bytes()
    with (
        bridge.load(ctx.guest("rust-pricing")) as guest,
        extism.Plugin(plugin_wasm, wasi=False, functions=[]) as plugin,
    ):
        for request in requests:
            data = request.SerializeToString()
            want = guest.call(bench.QUOTE_METHOD, data)
            assert plugin.call("quote", data) == want, request
            assert bench.python_quote(ctx.request_type, ctx.response_type, data) == want

        # The same application error, in each one's own way of saying it.
        bad = ctx.request_type(sku=" ", quantity=1).SerializeToString()
        with pytest.raises(bridge.GuestError, match="sku is required"):
            guest.call(bench.QUOTE_METHOD, bad)
        with pytest.raises(extism.Error, match="InvalidArgument: sku is required"):
            plugin.call("quote", bad)
