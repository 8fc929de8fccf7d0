"""The legacy shop's migration, end to end: what a user does, in six steps.

Run it with `./scripts/demo` from the bridge checkout (or `python walkthrough.py` here,
in bridge's venv). It

1. builds the Go and the Rust guest into build/ (bridge's build API),
2. runs the shop's own test suite, unchanged, with every route in each mode
   (BRIDGE_MODE=python, wasm, shadow, canary:50),
3. prices a day of orders (seeded) with LineTotal and ReorderQuantity on wasm and Vat in
   shadow mode, the way a deployment sets it: BRIDGE_MODE_<METHOD> variables,
4. prints `bridge report`: calls per side, latency, and the Vat mismatches,
5. replays one mismatch record against Python and Go,
6. flips Vat to wasm at run time, without a restart.

It exits 1 when a step fails: a build, a test suite in some mode, or shadow mode not
finding the rounding difference it is there to find (README.md, "spoiler").
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from bridge import Mismatch

    from shopapp.orders import Order

EXAMPLE = Path(__file__).resolve().parent
BUILD = EXAMPLE / "build"
REPORT = EXAMPLE / ".bridge" / "report"
GUESTS = {"go-pricing": "shop.v1.Pricing", "rust-stock": "shop.v1.Stock"}
TEST_MODES = ("python", "wasm", "shadow", "canary:50")
VAT = "shop.v1.Pricing/Vat"

#: The rollout, per method, as a deployment's environment states it (pyproject.toml
#: says what serves each service; the modes live here, so a fresh clone runs in Python).
ROLLOUT = {
    "BRIDGE_MODE_SHOP_V1_PRICING_LINETOTAL": "wasm",
    "BRIDGE_MODE_SHOP_V1_STOCK_REORDERQUANTITY": "wasm",
    "BRIDGE_MODE_SHOP_V1_PRICING_VAT": "shadow",
}

#: (sku, unit price in cents, VAT in permille): what the shop sells. A few prices end
#: in 50, which makes a VAT of exactly x.5 cents (a tie) common enough to matter.
CATALOG = (
    ("COFFEE-500", 899, 190),
    ("TEA-100", 499, 190),
    ("MUG-BLUE", 1299, 190),
    ("PEN-BLACK", 129, 190),
    ("NOTEBOOK-A5", 450, 190),
    ("CANDLE-S", 279, 190),
    ("SOAP-LAV", 329, 190),
    ("TOWEL-L", 1999, 190),
    ("WINE-RED", 989, 190),
    ("BATTERY-AA", 550, 190),
    ("SCARF-WOOL", 2450, 190),
    ("GIFT-CARD", 2500, 0),
    ("BREAD-1", 349, 70),
    ("APPLES-1KG", 279, 70),
    ("MILK-1L", 119, 70),
    ("BOOK-NOVEL", 1250, 70),
    ("CHEESE-200", 389, 70),
    ("OLIVE-OIL", 1149, 70),
    ("JAM-STRAW", 399, 70),
    ("PASTA-500", 149, 70),
    ("RICE-1KG", 229, 70),
    ("CHOC-DARK", 199, 70),
    ("EGGS-10", 329, 70),
    ("COFFEE-BEANS", 1479, 70),
)
DAY_ORDERS = 3000
DAY_SEED = 2024
STOCK_CHECKS = 24  # reorder_report over the whole catalog, once an hour

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)


class StepFailed(Exception):
    """A step did not do what it is there to show."""


def heading(number: int, title: str) -> None:
    console.print()
    console.rule(f"[bold]{number}. {title}", align="left")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    shown = Table(*headers, box=box.SIMPLE_HEAD, show_header=any(headers))
    for row in rows:
        shown.add_row(*(str(cell) for cell in row))
    console.print(shown)


def size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KiB"


# --- 1. build --------------------------------------------------------------------------


def build_guests() -> None:
    from bridge.guest.build import build

    heading(1, "build the guests: bridge.guest.build.build(project, out)")
    rows = []
    for name, service in GUESTS.items():
        built = build(EXAMPLE / "guests" / name, BUILD / f"{name}.wasm")
        rows.append(
            [
                f"guests/{name}",
                service,
                built.output.relative_to(EXAMPLE),
                built.toolchain.label,
                size(built.size_bytes),
                f"{built.seconds:.1f} s",
            ]
        )
    table(["project", "serves", "module", "toolchain", "size", "time"], rows)


# --- 2. the app's own tests in every mode ------------------------------------------------


def clean_env(**changes: str) -> dict[str, str]:
    """This process's environment without routing variables, plus `changes`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRIDGE_MODE", "BRIDGE_FALL", "BRIDGE_CONFIG"))
    }
    env.update(changes)
    return env


def test_every_mode() -> None:
    heading(2, "the shop's own tests, unchanged, in every mode: BRIDGE_MODE=... pytest")
    rows, failed = [], []
    for mode in TEST_MODES:
        started = time.perf_counter()
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=EXAMPLE,
            env=clean_env(BRIDGE_MODE=mode, BRIDGE_REPORT_DIR="off"),
            capture_output=True,
            text=True,
            check=False,
        )
        lines = ran.stdout.strip().splitlines()
        summary = lines[-1].strip("= ") if lines else "(no output)"
        rows.append([mode, "ok" if ran.returncode == 0 else "FAILED", summary.split(" in ")[0]])
        rows[-1].append(f"{time.perf_counter() - started:.1f} s")
        if ran.returncode != 0:
            failed.append(mode)
            console.print(ran.stdout[-3000:], ran.stderr[-2000:], markup=False)
    table(["BRIDGE_MODE", "result", "tests", "time"], rows)
    if failed:
        raise StepFailed(f"the shop's tests fail in mode {', '.join(failed)}")


# --- 3. a day of orders ------------------------------------------------------------------


def day_of_orders(count: int = DAY_ORDERS, seed: int = DAY_SEED) -> list[Order]:
    """`count` realistic carts: mostly one to three articles, a few bought in bulk, a few
    with the customer's discount."""
    from shopapp.orders import Line, Order

    rng = random.Random(seed)
    orders = []
    for _ in range(count):
        articles = rng.sample(CATALOG, rng.choice((1, 1, 2, 2, 2, 3, 3, 4, 5)))
        lines = [
            Line(
                sku,
                price,
                rng.choices((1, 2, 3, 4, 6, 10, 12, 24, 60), (40, 20, 10, 6, 6, 6, 5, 4, 3))[0],
                rng.choices((0, 5, 10, 15), (80, 8, 8, 4))[0],
                vat,
            )
            for sku, price, vat in articles
        ]
        tier = rng.choices(("basic", "silver", "gold"), (6, 3, 1))[0]
        orders.append(Order(lines, customer_tier=tier))
    return orders


@dataclass(frozen=True)
class Day:
    orders: int
    revenue_cents: int
    reordered_units: int
    seconds: float


def simulate_day(count: int = DAY_ORDERS, seed: int = DAY_SEED) -> Day:
    """Price `count` orders through shopapp.orders.order_total, and check the stock once
    an hour with shopapp.stock.reorder_report (which reorders what sold); in the routing
    modes the environment sets. Waits for the shadow candidates before it returns."""
    import bridge

    from shopapp.orders import order_total
    from shopapp.stock import StockItem, reorder_report

    orders = day_of_orders(count, seed)
    rng = random.Random(seed + 1)
    on_hand = {sku: rng.randrange(20, 400) for sku, _, _ in CATALOG}
    demand = {sku: rng.randrange(2, 40) for sku, _, _ in CATALOG}
    revenue = reordered = 0
    started = time.perf_counter()
    per_hour = -(-count // STOCK_CHECKS)
    for hour in range(STOCK_CHECKS):
        for order in orders[hour * per_hour : (hour + 1) * per_hour]:
            revenue += order_total(order).gross_cents
            for line in order.lines:
                on_hand[line.sku] = max(on_hand[line.sku] - line.quantity, 0)
        items = [
            StockItem(sku, on_hand[sku], 0, demand[sku], lead_time_days=2, pack_size=6)
            for sku, _, _ in CATALOG
        ]
        for sku, units in reorder_report(items).items():
            on_hand[sku] += units  # delivered overnight, say
            reordered += units
    if not bridge.routes.drain(timeout_s=30):
        raise StepFailed("the shadow candidates did not finish within 30 s")
    return Day(len(orders), revenue, reordered, time.perf_counter() - started)


def run_day() -> None:
    heading(3, "a day of orders: LineTotal, ReorderQuantity on wasm; Vat in shadow")
    for name, value in ROLLOUT.items():
        console.print(f"  {name}={value}")
    for name in ("BRIDGE_CONFIG", "BRIDGE_REPORT_DIR", "BRIDGE_MODE"):
        os.environ.pop(name, None)  # this example's pyproject.toml, and its report folder
    os.environ.update(ROLLOUT)  # before shopapp is imported: @bridge.route reads it then
    import bridge

    for path in REPORT.glob("*.json"):  # a clean report for this run
        path.unlink()
    day = simulate_day()
    written = bridge.routes.flush()
    console.print(
        f"  {day.orders} orders ({day.revenue_cents / 100:,.2f} EUR) and {STOCK_CHECKS} stock "
        f"checks ({day.reordered_units} units reordered) in {day.seconds:.1f} s\n"
        f"  bridge.routes.drain(), bridge.routes.flush() -> "
        f"{written and written.relative_to(EXAMPLE)}"
    )


# --- 4. the report ---------------------------------------------------------------------


def bridge_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The venv's `bridge` command, run in the example (as a user would)."""
    script = Path(sys.executable).with_name("bridge")
    argv = [str(script)] if script.is_file() else [sys.executable, "-m", "bridge"]
    return subprocess.run([*argv, *args], cwd=EXAMPLE, capture_output=True, text=True, check=False)


def show_report() -> None:
    heading(4, "bridge report --dir .bridge/report --mismatches 3")
    folder = str(REPORT.relative_to(EXAMPLE))
    ran = bridge_cli("report", "--dir", folder, "--mismatches", "3")
    console.print(ran.stdout.rstrip(), ran.stderr.rstrip(), markup=False)
    as_json = bridge_cli("report", "--dir", folder, "--json")
    if ran.returncode or as_json.returncode:
        raise StepFailed(f"bridge report failed: {ran.stderr or as_json.stderr}")
    rows = json.loads(as_json.stdout)["rows"]
    vat = [r for r in rows if r["method"] == VAT and r["side"] == "wasm"]
    mismatches = sum(r["mismatches"] for r in vat)
    calls = sum(r["calls"] for r in vat)
    if not mismatches:
        raise StepFailed("shadow mode found no Vat mismatch: it should find the rounding one")
    fallbacks = sum(r["fallbacks"] + r["errors"] for r in rows)
    if fallbacks:
        raise StepFailed(f"{fallbacks} calls failed or fell back; none should")
    console.print(
        f"  Vat: {mismatches} of {calls} shadow calls ({100 * mismatches / calls:.1f}%) disagree; "
        "LineTotal and ReorderQuantity: no errors, no fallbacks"
    )


# --- 5. replay ---------------------------------------------------------------------------


def replay_one() -> Mapping[str, int]:
    import bridge

    heading(5, f'replay a mismatch: bridge.routes["{VAT}"].replay(mismatch)')
    route = bridge.routes[VAT]
    kept = bridge.routes.mismatches(VAT)
    checked: list[tuple[dict[str, int], Mismatch]] = []
    for m in kept:  # each must be a tie that Python rounds down to even and Go up
        if m.request is None or m.control.value is None or m.candidate.value is None:
            raise StepFailed(f"a mismatch without its request or an answer: {m}")
        asked = route.binding.to_kwargs(m.request)
        python = route.binding.to_python(m.control.value)
        go = route.binding.to_python(m.candidate.value)
        tie = asked["net_cents"] * asked["rate_permille"] % 1000 == 500
        if not (tie and python % 2 == 0 and go == python + 1):
            raise StepFailed(f"a mismatch that is not the rounding of a tie: {m}")
        checked.append((asked, m))
    if not checked:
        raise StepFailed("no Vat mismatch record was kept")
    kwargs, mismatch = min(checked, key=lambda pair: sorted(pair[0].items()))
    exact = kwargs["net_cents"] * kwargs["rate_permille"] / 1000
    again = route.replay(mismatch)
    table(
        ["", ""],
        [
            ["records", f"{len(kept)} kept (the newest 100 at most): each a tie, x.5 cents"],
            ["request", f"VatRequest {json.dumps(kwargs)}: {exact} cents exactly"],
            ["python", f"{mismatch.control.describe()}  round(): half to even"],
            ["go", f"{mismatch.candidate.describe()}  math.Round: half away from zero"],
            ["replayed", f"still differs: {'; '.join(again.differences)}" if again else "agree"],
        ],
    )
    if again is None:
        raise StepFailed("the replayed mismatch no longer differs")
    return kwargs


# --- 6. flip at run time -------------------------------------------------------------------


def flip(kwargs: Mapping[str, int]) -> None:
    import bridge

    from shopapp.pricing import vat_cents

    heading(6, f'flip Vat at run time: bridge.routes.set_mode("{VAT}", "wasm")')
    call = f"vat_cents({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    rows = [[bridge.routes.mode(VAT), call, vat_cents(**kwargs), "Python answers"]]
    bridge.routes.set_mode(VAT, "wasm")
    rows.append([bridge.routes.mode(VAT), call, vat_cents(**kwargs), "Go answers, same process"])
    bridge.routes.reset(VAT)
    rows.append([bridge.routes.mode(VAT), "bridge.routes.reset()", "", "the environment rules"])
    table(["mode", "call", "answer", ""], rows)
    if rows[0][2] == rows[1][2]:
        raise StepFailed("the answer did not change with the mode")
    console.print(
        "Next: fix the Go port (math.RoundToEven in guests/go-pricing/main.go), rebuild, run "
        "Vat in shadow again until `bridge report --fail-on-mismatch` is clean, then "
        "canary:N, then wasm; then delete vat_cents's Python body (docs/migration.md)."
    )


def main() -> int:
    try:
        build_guests()
        started = time.perf_counter()
        test_every_mode()
        run_day()
        show_report()
        flip(replay_one())
    except StepFailed as exc:
        console.print(f"[bold red]walkthrough failed:[/] {exc}")
        return 1
    except Exception as exc:  # a build or bridge error: one line, not a traceback
        from bridge import BridgeError

        if not isinstance(exc, BridgeError):
            raise
        console.print(f"[bold red]walkthrough failed:[/] {type(exc).__name__}: {exc}")
        return 1
    console.print(
        f"\nAll six steps passed; {time.perf_counter() - started:.1f} s after the builds."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
