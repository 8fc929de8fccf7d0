"""examples/legacy-shop: its own test suite passes, unchanged, with its routes in every
mode, and shadow mode finds the Go port's rounding difference, and only that.

Everything runs in subprocesses, as a user runs it: the example's routes register with
the process-wide router, which this test session must not share. The example's own
pyproject.toml is used, copied beside modules built into a temporary build/, so nothing
is written into the checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.codegen import go, rust
from bridge.guest.build import SCHEMA_FILE
from bridge.routing.stats import merge_reports, read_reports
from bridge.schema import Schema
from tests.conftest import EXAMPLES, _build_or_skip
from tests.sidecar.conftest import serving

EXAMPLE = EXAMPLES / "legacy-shop"
PROTO = "proto/shop/v1/legacy_shop.proto"
VAT = "shop.v1.Pricing/Vat"
LINE_TOTAL = "shop.v1.Pricing/LineTotal"
REORDER = "shop.v1.Stock/ReorderQuantity"
ROUTED = (LINE_TOTAL, VAT, REORDER)
#: As walkthrough.py's ROLLOUT (asserted below): what a deployment sets.
ROLLOUT = {
    "BRIDGE_MODE_SHOP_V1_PRICING_LINETOTAL": "wasm",
    "BRIDGE_MODE_SHOP_V1_STOCK_REORDERQUANTITY": "wasm",
    "BRIDGE_MODE_SHOP_V1_PRICING_VAT": "shadow",
}


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the example's pyproject.toml and build/ holding both guests."""
    folder = tmp_path_factory.mktemp("legacy-shop")
    for name in ("go-pricing", "rust-stock"):
        _build_or_skip(EXAMPLE / "guests" / name, folder / "build" / f"{name}.wasm")
    (folder / "pyproject.toml").write_text((EXAMPLE / "pyproject.toml").read_text())
    return folder


def run_in_example(argv: list[str], config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_MODE")}
    clean.update(BRIDGE_CONFIG=str(config), BRIDGE_REPORT_DIR="off", PYTHONDONTWRITEBYTECODE="1")
    clean.update(env)
    return subprocess.run(
        [sys.executable, *argv],
        cwd=EXAMPLE,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("mode", ["python", "wasm", "shadow", "canary:50"])
def test_the_shops_own_tests_pass_in_every_mode(shop: Path, mode: str, tmp_path: Path) -> None:
    ran = run_in_example(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        shop / "pyproject.toml",
        BRIDGE_MODE=mode,
        BRIDGE_SHADOW_STRICT="1",  # for test suites: a mismatch fails the test that made it
        BRIDGE_REPORT_DIR=str(tmp_path / "report"),
    )
    assert_passed(ran)
    # Passing proves little if Python answered: LineTotal falls back. The report says
    # who answered each call.
    rows = report_rows(tmp_path / "report")
    if mode == "python":
        assert rows == {}  # python mode does no bridge work at all
        return
    sides = ("python", "wasm") if mode.startswith(("shadow", "canary")) else ("wasm",)
    assert set(rows) <= {(method, mode, side) for method in ROUTED for side in sides}
    assert all(not row["fallbacks"] for row in rows.values()), rows
    for method in ROUTED:
        if mode == "canary:50":  # each call picks a side at random: count them all
            continue
        assert rows[method, mode, "wasm"]["calls"] > 0, (method, rows)
        if mode == "shadow":
            python, wasm = rows[method, mode, "python"], rows[method, mode, "wasm"]
            assert wasm["calls"] == python["calls"] and not wasm["dropped"], (method, rows)
    if mode == "canary:50":
        for side in sides:
            assert sum(r["calls"] for k, r in rows.items() if k[2] == side) > 0, (side, rows)


def test_the_shops_own_tests_pass_against_a_sidecar(shop: Path, tmp_path: Path) -> None:
    build = shop / "build"
    modules = (str(build / "go-pricing.wasm"), str(build / "rust-stock.wasm"))
    with serving(*modules, "--no-watch", folder=tmp_path) as served:
        ran = run_in_example(
            ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            shop / "pyproject.toml",
            BRIDGE_MODE="sidecar",
            BRIDGE_SIDECAR=served.target,
            BRIDGE_REPORT_DIR=str(tmp_path / "report"),
        )
        assert_passed(ran)
    rows = report_rows(tmp_path / "report")
    assert set(rows) == {(method, "sidecar", "sidecar") for method in ROUTED}, rows
    assert all(row["calls"] and not row["fallbacks"] for row in rows.values()), rows


def assert_passed(ran: subprocess.CompletedProcess[str]) -> None:
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    summary = ran.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed in ", summary), summary


def report_rows(folder: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """What `bridge report` reads: every process's statistics in `folder`, added up, by
    (method, mode, side)."""
    rows, _ = merge_reports(read_reports(folder)) if folder.is_dir() else ([], [])
    return {row.key: row.to_json() for row in rows}


DAY = """
import json, bridge, walkthrough
from shopapp.pricing import line_total

walkthrough.simulate_day()
ties = expected = 0
for order in walkthrough.day_of_orders():
    net_by_rate = {}
    for line in order.lines:
        net = line_total(line.unit_price_cents, line.quantity, line.discount_percent)
        net_by_rate[line.vat_permille] = net_by_rate.get(line.vat_permille, 0) + net
    for rate, net in net_by_rate.items():
        if net * rate % 1000 == 500:
            ties += 1
            expected += net * rate // 1000 % 2 == 0
print(json.dumps({
    "rollout": walkthrough.ROLLOUT,
    "rows": [row.to_json() for row in bridge.routes.stats()],
    "mismatches": [m.to_json() for m in bridge.routes.mismatches()],
    "ties": ties,
    "expected": expected,
}))
"""


def test_shadow_finds_the_rounding_difference_on_ties_only(shop: Path) -> None:
    ran = run_in_example(["-c", DAY], shop / "pyproject.toml", **ROLLOUT)
    assert ran.returncode == 0, ran.stderr[-4000:]
    day: dict[str, Any] = json.loads(ran.stdout)
    assert day["rollout"] == ROLLOUT
    rows = {(r["method"], r["mode"], r["side"]): r for r in day["rows"]}
    assert set(rows) == {
        ("shop.v1.Pricing/LineTotal", "wasm", "wasm"),
        ("shop.v1.Stock/ReorderQuantity", "wasm", "wasm"),
        (VAT, "shadow", "python"),
        (VAT, "shadow", "wasm"),
    }
    assert all(r["calls"] > 0 and not r["errors"] and not r["fallbacks"] for r in rows.values())
    python, go = rows[VAT, "shadow", "python"], rows[VAT, "shadow", "wasm"]
    assert go["calls"] == python["calls"] and not go["dropped"]
    # Every tie Python rounds down to even, and nothing else: 1-2% of the VAT calls.
    assert 0 < day["expected"] < day["ties"]
    assert go["mismatches"] == day["expected"]
    assert 0.005 < go["mismatches"] / go["calls"] < 0.05
    assert day["mismatches"]
    for record in day["mismatches"]:
        net, rate = int(record["request"]["net_cents"]), int(record["request"]["rate_permille"])
        assert net * rate % 1000 == 500, record
        low = net * rate // 1000
        assert (record["kind"], record["differences"]) == (
            "value",
            [f"vat_cents: {low} != {low + 1}"],
        ), record


@pytest.mark.parametrize(
    ("language", "glue"),
    [("go", "guests/go-pricing/bridgegen"), ("rust", "guests/rust-stock/src")],
)
def test_the_checked_in_glue_is_what_bridge_gen_writes(language: str, glue: str) -> None:
    schema = Schema.compile([EXAMPLE / PROTO], [EXAMPLE / "proto"])
    files = go.emit(schema) if language == "go" else rust.emit(schema)
    for file in files:
        assert (EXAMPLE / glue / file.path).read_text() == file.text, (
            f"{glue}/{file.path} is stale: in examples/legacy-shop, run "
            f"bridge gen -I proto {PROTO} --{language}-out {glue}"
        )
    assert (EXAMPLE / glue / SCHEMA_FILE).read_bytes() == schema.descriptor_set
