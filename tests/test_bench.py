"""`bridge bench`: the command's output, and the Extism plugin it times answering exactly
what the bridge guest answers. Nothing here asserts a timing: speed is what the
benchmark itself reports, never what a test checks."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import bridge
from bridge import bench
from bridge.resources import source_root
from bridge.runtime import limits
from tests.cli.conftest import assert_one_line_error, run
from tests.conftest import has_go, has_rust

needs_rust = pytest.mark.skipif(
    not has_rust(), reason="needs rustc with wasm32 (scripts/bootstrap)"
)
needs_go = pytest.mark.skipif(not has_go(), reason="needs Go (scripts/bootstrap)")

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
    return bench.Context(source_root())


PARALLEL_FIGURES = {f"threads_{k}_{n}" for k in ("short", "long") for n in (1, 2, 4)} | {
    "forked_1",
    "forked_2",
}
PARALLEL_BUDGETS = {f"threads_{k}_{n}" for k in ("short", "long") for n in (2, 4)} | {"forked_2"}
VERDICTS = {"met", "missed", "unresolved (noise)", "not measured"}


@needs_rust
@needs_go
def test_json_report() -> None:
    ran = run("bench", "--json", "--iterations", ITERATIONS)
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)  # one JSON object on stdout, progress on stderr
    assert {"figures", "machine", "budgets", "parallel"} <= set(report)

    required = {"python", "wasmtime_naive", "bridge", "bridge_args", "legacy"}
    required |= {"route_python", "route_wasm"} | ({"extism"} if _has_extism() else set())
    # The headline: the guests bridge init + gen make, in Rust and in Go.
    required |= {"bridge_gen_rust", "bridge_gen_go"}
    assert required <= set(report["figures"])
    # Threads and forked workers: calls per second, each round's too.
    assert set(report["parallel"]) == PARALLEL_FIGURES
    for name, parallel in report["parallel"].items():
        assert set(parallel) == {"calls_per_s", "workers", "call_us", "rounds"}, name
        assert parallel["calls_per_s"] > 0 and len(parallel["rounds"]) > 1, name
        assert parallel["workers"] == int(name.rsplit("_", 1)[1])
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
        "bridge_gen_rust_vs_python",
        "bridge_gen_go_vs_python",
        *PARALLEL_BUDGETS,
        "import_bridge",
        "first_call_after_build",
    }
    overhead = (
        report["figures"]["route_wasm"]["median_us"] - report["figures"]["bridge_args"]["median_us"]
    )
    assert budgets["route_wasm_overhead"]["measured"] == pytest.approx(overhead, abs=0.002)
    for budget in budgets.values():
        assert isinstance(budget["budget"], str)
        assert budget["verdict"] in VERDICTS
        assert budget["met"] is {"met": True, "missed": False}.get(budget["verdict"])
        assert (budget["measured"] is None) == (budget["verdict"] == "not measured")
        # Every figure here was timed in rounds: each verdict has its spread.
        low, high = budget["spread"]
        assert low <= high
    assert budgets["bridge_median"]["measured"] == report["figures"]["bridge"]["median_us"]

    assert report["payload"]["request_bytes"] > 0
    assert "building" in ran.stderr and "interleaved rounds" in ran.stderr
    assert "bridge init + gen" in ran.stderr and "timing threads" in ran.stderr
    # The cold start, in fresh processes: milliseconds and what happened.
    assert set(report["cold_start"]) == {"import_bridge", "first_call_after_build"}
    for name, cold in report["cold_start"].items():
        assert set(cold) == {"ms", "runs", "note"} and cold["ms"] > 0, name
    assert report["cold_start"]["first_call_after_build"]["note"] == "a compile cache hit"
    # Without --sidecar, nothing of it: no figure, no throughput, no budget.
    assert "throughput" not in report
    assert not set(report["figures"]) & {fig.name for fig in bench.SIDECAR_FIGURES}
    # Nor of --deadlines, nor of --streaming.
    assert "deadlines" not in report
    assert "stream_payload" not in report
    assert not set(report["figures"]) & STREAM_FIGURES
    assert not {b["name"] for b in report["budgets"]} & STREAM_BUDGETS


SIDECAR_LATENCY = {
    "sidecar_uds",
    "sidecar_tcp",
    "sidecar_p2_uds",
    "sidecar_p2_tcp",
    "grpc_bare_uds",
    "grpc_bare_tcp",
}
SIDECAR_THROUGHPUT = {f"{name}_8" for name in SIDECAR_LATENCY}
SIDECAR_BUDGETS = {
    f"{server}_{transport}_{kind}"
    for server in ("sidecar", "sidecar_p2")
    for transport in ("uds", "tcp")
    for kind in ("latency", "throughput")
}
# The throughput budgets: calls/s at least this many times the bare server's.
THROUGHPUT_LIMITS = {"sidecar": 1.0, "sidecar_p2": 1.5}


@needs_rust
def test_sidecar_json_report() -> None:
    ran = run("bench", "--sidecar", "--json", "--iterations", ITERATIONS)
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    figures = report["figures"]
    assert SIDECAR_LATENCY | {"bridge", "python"} <= set(figures)
    for name in SIDECAR_LATENCY:
        assert set(figures[name]) == {"median_us", "p99_us"}, name
        assert 0 < figures[name]["median_us"] <= figures[name]["p99_us"], name
        assert report["calls"][name] == int(ITERATIONS)

    throughput = report["throughput"]
    assert set(throughput) == SIDECAR_THROUGHPUT
    rounds = len(bench._split(int(ITERATIONS), bench.SIDECAR_ROUNDS))
    for name, entry in throughput.items():
        assert set(entry) == {
            "calls_per_s",
            "clients",
            "calls",
            "seconds",
            "rounds",
            "server_cpu_us_per_call",
            "client_cpu_us_per_call",
            "machine_busy",
        }, name
        assert entry["clients"] == 8
        assert entry["calls"] == 8 * int(ITERATIONS)  # with --iterations, that many per client
        assert entry["calls_per_s"] == pytest.approx(entry["calls"] / entry["seconds"], rel=0.01)
        assert len(entry["rounds"]) == rounds and all(r > 0 for r in entry["rounds"]), name
        # The clients' own CPU time (getrusage) is exact; the server's is read from /proc
        # in clock ticks, so a short run may see none of it.
        assert entry["client_cpu_us_per_call"] > 0, name
        if sys.platform == "linux":
            assert entry["server_cpu_us_per_call"] >= 0, name
            assert entry["machine_busy"] > 0, name

    budgets = {b["name"]: b for b in report["budgets"]}
    assert SIDECAR_BUDGETS | {"bridge_median", "route_wasm_overhead"} <= set(budgets)
    for server, limit in THROUGHPUT_LIMITS.items():
        for transport in ("uds", "tcp"):
            latency = budgets[f"{server}_{transport}_latency"]
            ratio = (
                figures[f"{server}_{transport}"]["median_us"]
                / figures[f"grpc_bare_{transport}"]["median_us"]
            )
            assert latency["measured"] == pytest.approx(ratio, abs=0.002)
            assert (latency["limit"], latency["unit"]) == (1.15, "x")
            # Verdicts from the spread of the per-round ratios, as for the throughput.
            low, high = latency["spread"]
            if latency["met"] is True:
                assert high <= 1.15 and latency["measured"] <= 1.15
            elif latency["met"] is False:
                assert low > 1.15 and latency["measured"] > 1.15
            else:
                assert latency["verdict"] == "unresolved (noise)"
            rate = budgets[f"{server}_{transport}_throughput"]
            ratio = (
                throughput[f"{server}_{transport}_8"]["calls_per_s"]
                / throughput[f"grpc_bare_{transport}_8"]["calls_per_s"]
            )
            assert rate["measured"] == pytest.approx(ratio, abs=0.002)
            assert (rate["limit"], rate["unit"]) == (limit, "x")
            # The verdict comes from the spread of the per-round ratios.
            low, high = rate["spread"]
            assert low <= high
            if rate["met"] is True:
                assert low >= limit and rate["measured"] >= limit
            elif rate["met"] is False:
                assert high < limit and rate["measured"] < limit
            else:
                assert rate["verdict"] == "unresolved (noise)"
    assert "starting the gRPC servers" in ran.stderr


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


def test_missing_sources_are_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "source_root", lambda: tmp_path)
    assert_one_line_error(run("bench", "--json"), "reinstall bridge")


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


def test_sidecar_budgets_and_rows() -> None:
    """Ratios of medians are at most their limit; ratios of calls/s at least theirs."""

    def latency(name: str, median_us: float) -> bench.Measurement:
        return bench.Measurement(name, "", 10, median_us, 2 * median_us)

    def rate(name: str, calls: int) -> bench.Throughput:
        # CPU: 40 us a call on the server's side, 60 us on the clients'.
        return bench.Throughput(
            name, f"{name} what", 8, calls, 2.0, (), calls * 40e-6, calls * 60e-6
        )

    figures = {
        "grpc_bare_uds": latency("grpc_bare_uds", 400.0),
        "sidecar_uds": latency("sidecar_uds", 440.0),
        "sidecar_p2_uds": latency("sidecar_p2_uds", 420.0),
        "grpc_bare_tcp": latency("grpc_bare_tcp", 400.0),
        "sidecar_tcp": latency("sidecar_tcp", 480.0),
        "sidecar_p2_tcp": latency("sidecar_p2_tcp", 480.0),
    }
    throughput = {
        "grpc_bare_uds_8": rate("grpc_bare_uds_8", 10_000),
        "sidecar_uds_8": rate("sidecar_uds_8", 10_500),
        "sidecar_p2_uds_8": rate("sidecar_p2_uds_8", 16_000),
        "grpc_bare_tcp_8": rate("grpc_bare_tcp_8", 10_000),
        "sidecar_tcp_8": rate("sidecar_tcp_8", 8_000),
        "sidecar_p2_tcp_8": rate("sidecar_p2_tcp_8", 14_000),
    }
    budgets = {b.name: b for b in bench.BUDGETS}
    assert set(budgets) >= SIDECAR_BUDGETS
    assert all(budgets[name].sidecar for name in SIDECAR_BUDGETS)
    checks = {name: budgets[name].check(figures, throughput) for name in SIDECAR_BUDGETS}
    assert checks["sidecar_uds_latency"].measured == pytest.approx(1.1)
    assert checks["sidecar_uds_latency"].met is True
    assert checks["sidecar_tcp_latency"].met is False  # 1.2x
    assert checks["sidecar_uds_throughput"].measured == pytest.approx(1.05)
    assert checks["sidecar_uds_throughput"].met is True
    assert checks["sidecar_tcp_throughput"].met is False  # 0.8x
    assert checks["sidecar_tcp_throughput"].measured_text == "0.80x"
    assert checks["sidecar_p2_uds_throughput"].met is True  # 1.6x
    assert checks["sidecar_p2_tcp_throughput"].met is False  # 1.4x
    assert checks["sidecar_p2_tcp_latency"].met is False  # 1.2x
    assert budgets["sidecar_uds_throughput"].text == "sidecar_uds_8 >= 1x grpc_bare_uds_8 (calls/s)"
    assert (
        budgets["sidecar_p2_uds_throughput"].text
        == "sidecar_p2_uds_8 >= 1.5x grpc_bare_uds_8 (calls/s)"
    )
    assert budgets["sidecar_uds_latency"].text == "sidecar_uds <= 1.15x grpc_bare_uds (median)"
    # A figure that did not run: not measured, neither met nor missed.
    assert budgets["sidecar_uds_throughput"].check(figures, {}).met is None
    assert budgets["sidecar_tcp_latency"].check({}, throughput).status == "not measured"

    result = bench.BenchResult(figures, {}, [], {}, throughput=throughput)
    rows = {row[0]: row for row in result.throughput_rows()}
    assert rows["sidecar_tcp_8"][1:5] == ["4,000", "0.80x", "40", "60"]
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    # 8,000 calls of 100 us of CPU in 2 s: 0.4 s of CPU a second.
    assert rows["sidecar_tcp_8"][5] == f"{0.4 / cores:.0%}"
    assert rows["grpc_bare_uds_8"][1:3] == ["5,000", "1.00x"]
    assert rows["sidecar_p2_uds_8"][1:3] == ["8,000", "1.60x"]  # to the bare server's
    report: Any = result.to_json()
    assert report["throughput"]["sidecar_uds_8"] == {
        "calls_per_s": 5250.0,
        "clients": 8,
        "calls": 10_500,
        "seconds": 2.0,
        "rounds": [],
        "server_cpu_us_per_call": 40.0,
        "client_cpu_us_per_call": 60.0,
        "machine_busy": round(10_500 * 100e-6 / 2.0 / cores, 3),
    }
    # Rounds give the verdict a spread: the same median with rounds on both sides of the
    # limit is unresolved, not met.
    noisy = dict(throughput)
    noisy["sidecar_uds_8"] = bench.Throughput(
        "sidecar_uds_8", "", 8, 10_500, 2.0, (4_000.0, 6_500.0, 5_250.0, 4_500.0, 6_000.0)
    )
    noisy["grpc_bare_uds_8"] = bench.Throughput(
        "grpc_bare_uds_8", "", 8, 10_000, 2.0, (5_000.0,) * 5
    )
    check = budgets["sidecar_uds_throughput"].check(figures, noisy)
    assert check.measured == pytest.approx(1.05)
    assert check.spread == pytest.approx((0.8, 1.2))
    assert check.verdict == "unresolved (noise)"
    assert "throughput" not in bench.BenchResult(figures, {}, [], {}).to_json()


def test_a_bench_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    sidecar = next(fig for fig in bench.SIDECAR_FIGURES if fig.name == "sidecar_uds")
    server = bench._ServerProcess(sidecar, tmp_path / "missing.wasm", tmp_path, b"")
    try:
        with pytest.raises(bridge.SidecarError, match=r"sidecar_uds exited .*missing\.wasm"):
            server.ready(60)
    finally:
        server.stop()
    assert server.process.returncode not in (None, 0)


DEADLINE_FIGURES = {"deadline_busy_0", "deadline_busy_1", "deadline_busy_3"}
DEADLINE_KEYS = {
    "busy_threads",
    "deadline_s",
    "calls",
    "late_median_ms",
    "late_max_ms",
    "guest_overrun_median_ms",
    "guest_overrun_max_ms",
    "guest_clock",
    "ticker",
}


def _check_deadline_entries(deadlines: dict[str, Any], calls: int) -> None:
    assert set(deadlines) == DEADLINE_FIGURES
    for name, entry in deadlines.items():
        assert set(entry) == DEADLINE_KEYS, name
        assert entry["busy_threads"] == int(name.rpartition("_")[2])
        assert entry["deadline_s"] == bench.DEADLINE_QUICK_S  # --iterations: the quick run
        assert entry["calls"] == calls
        assert entry["guest_clock"] in ("schedstat", "thread_time")
        assert entry["ticker"] == limits.ticker.kind
        assert entry["late_median_ms"] <= entry["late_max_ms"]
        assert entry["guest_overrun_median_ms"] <= entry["guest_overrun_max_ms"]


@needs_rust
def test_deadlines_json_report() -> None:
    ran = run("bench", "--deadlines", "--json", "--iterations", "1")
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    _check_deadline_entries(report["deadlines"], calls=1)
    # Not timing figures of a call: neither in `figures` nor in `calls`.
    assert not set(report["figures"]) & DEADLINE_FIGURES
    assert "bridge" in report["figures"]

    budgets = {b["name"]: b for b in report["budgets"]}
    overrun = budgets["deadline_overrun_busy_3"]
    assert overrun["measured"] == report["deadlines"]["deadline_busy_3"]["guest_overrun_max_ms"]
    assert (overrun["limit"], overrun["unit"]) == (50.0, "ms")
    assert overrun["met"] is (overrun["measured"] <= 50.0)
    assert "sidecar_uds_latency" not in budgets  # --deadlines alone: no sidecar budget
    assert "timing deadline_busy_3 (1 x 0.05 s)" in ran.stderr


def test_deadlines_need_no_toolchain() -> None:
    """The looping guest is WAT compiled at run time: it runs from a wheel, without Rust."""
    figures = bench.measure_deadlines(iterations=2)
    _check_deadline_entries({name: d.to_json() for name, d in figures.items()}, calls=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("bench-busy-")]


def test_deadline_budget_and_rows() -> None:
    def deadline(busy: int, overrun_ms: tuple[float, ...]) -> bench.DeadlineFigure:
        late_ms = tuple(x + 10 for x in overrun_ms)
        name = f"deadline_busy_{busy}"
        return bench.DeadlineFigure(name, busy, 0.5, "schedstat", "native", late_ms, overrun_ms)

    deadlines = {
        "deadline_busy_0": deadline(0, (3.0, 4.0, 5.0)),
        "deadline_busy_3": deadline(3, (20.0, 60.0, 30.0)),
    }
    budget = next(b for b in bench.BUDGETS if b.name == "deadline_overrun_busy_3")
    assert budget.deadline and not budget.sidecar
    check = budget.check({}, {}, deadlines)
    assert (check.measured, check.met, check.measured_text) == (60.0, False, "60.0 ms")
    assert budget.check({}, {}, {"deadline_busy_3": deadline(3, (49.0, 50.0))}).met is True
    assert budget.check({}, {}, {}).status == "not measured"
    assert budget.text == "deadline_busy_3: the guest runs <= 50 ms past its deadline (max)"

    result = bench.BenchResult({}, {}, [], {}, deadlines=deadlines)
    rows = {row[0]: row for row in result.deadline_rows()}
    assert rows["deadline_busy_3"][1:6] == ["3", "40.0", "70.0", "30.0", "60.0"]
    assert "3 busy Python threads" in rows["deadline_busy_3"][6]
    assert "0.5 s deadline" in result.deadline_title
    report: Any = result.to_json()
    assert report["deadlines"]["deadline_busy_0"]["guest_overrun_max_ms"] == 5.0
    assert "deadlines" not in bench.BenchResult({}, {}, [], {}).to_json()


STREAM_FIGURES = {"stream_bridge", "stream_sidecar_uds", "stream_grpc_bare_uds"}
STREAM_BUDGETS = {"stream_sidecar_uds_throughput"}
STREAM_BUDGET = 0.5
# A few messages, one stream each: the shape of the report, not the speed.
STREAM_ARGS = ("--streaming", "--iterations", "1", "--stream-messages", "3")


@needs_rust
@needs_go
def test_streaming_json_report() -> None:
    ran = run("bench", *STREAM_ARGS, "--json")
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    figures = report["figures"]
    assert STREAM_FIGURES | {"bridge", "python"} <= set(figures)
    for name in STREAM_FIGURES:
        assert set(figures[name]) == {"median_us", "p99_us", "messages_per_s"}, name
        assert 0 < figures[name]["median_us"] <= figures[name]["p99_us"], name
        rate = 1e6 / figures[name]["median_us"]
        assert figures[name]["messages_per_s"] == pytest.approx(rate, rel=1e-3), name
        assert report["calls"][name] == 1  # --iterations: streams per figure
    for name in set(figures) - STREAM_FIGURES:
        assert set(figures[name]) == {"median_us", "p99_us"}, name
    assert report["stream_payload"] == {
        "method": bench.STREAM_METHOD,
        "request_bytes": report["stream_payload"]["request_bytes"],
        "messages": 3,
        "response_bytes": report["stream_payload"]["response_bytes"],
    }
    assert report["stream_payload"]["response_bytes"] > 3 * 10
    assert report["skipped"].keys().isdisjoint(STREAM_FIGURES)

    budgets = {b["name"]: b for b in report["budgets"]}
    assert STREAM_BUDGETS | {"bridge_median"} <= set(budgets)
    assert not {"sidecar_uds_latency", "deadline_overrun_busy_3"} & set(budgets)
    check = budgets["stream_sidecar_uds_throughput"]
    ratio = (
        figures["stream_sidecar_uds"]["messages_per_s"]
        / figures["stream_grpc_bare_uds"]["messages_per_s"]
    )
    assert check["measured"] == pytest.approx(ratio, abs=0.002)
    assert (check["limit"], check["unit"]) == (STREAM_BUDGET, "x")
    assert check["met"] is (check["measured"] >= STREAM_BUDGET)
    assert "starting the streaming servers" in ran.stderr
    assert "(1 x 3 messages)" in ran.stderr


@needs_rust
@needs_go
def test_streaming_table() -> None:
    ran = run("bench", *STREAM_ARGS)
    assert ran.exit_code == 0, ran.stderr
    title = "server streaming, routeguide.RouteGuide/ListFeatures: 3 messages"
    assert title in ran.stdout, ran.stdout
    table = ran.stdout.split(title)[1].split("budgets")[0]
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.strip()}
    assert {"figure", *STREAM_FIGURES} <= set(rows), ran.stdout
    assert rows["stream_grpc_bare_uds"][4] == "1.00x"
    for name in STREAM_FIGURES:
        float(rows[name][1].replace(",", ""))  # messages/s
        assert float(rows[name][2]) > 0  # us per message
    # Not in the table of the Quote call, where "vs bridge" would compare apples and pears.
    quote_table = ran.stdout.split(title)[0]
    assert not STREAM_FIGURES & {
        line.split()[0] for line in quote_table.splitlines() if line.strip()
    }
    assert "stream_sidecar_uds >= " in ran.stdout  # its budget


def test_streaming_without_go_is_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.guest import toolchain

    monkeypatch.setattr(toolchain, "find_go", lambda *args: None)
    monkeypatch.setattr(toolchain, "find_tinygo", lambda *args: None)
    told: dict[str, str] = {}
    result = bench.run_bench(
        names=["python"],
        iterations=1,
        streaming=True,
        stream_messages=2,
        on_skip=told.__setitem__,
    )
    assert set(result.skipped) == set(told) == STREAM_FIGURES
    assert all("examples/go-routeguide needs Go" in reason for reason in told.values()), told
    assert not result.streams
    report: Any = result.to_json()
    assert set(report["figures"]) == {"python"}
    assert {b["name"]: b["met"] for b in report["budgets"]}["stream_sidecar_uds_throughput"] is None
    assert report["stream_payload"]["messages"] == 2


def test_stream_messages_must_fit_the_guests_grid() -> None:
    ran = run("bench", "--streaming", "--stream-messages", "150")
    assert ran.exit_code == 2
    assert "whole rows of 100" in ran.stderr


def test_the_python_stream_is_the_guests_answer(ctx: bench.Context) -> None:
    """The reference the streaming figures are checked against, and the bare server's
    messages: the features of main.go, row by row, encoded by Python protobuf."""
    request, reference = bench.stream_reference(ctx, 200)
    rectangle: Any = ctx.routeguide["Rectangle"].FromString(request)
    assert (rectangle.hi.latitude, rectangle.hi.longitude) == (1000, 99_000)
    features: list[Any] = [ctx.routeguide["Feature"].FromString(m) for m in reference]
    assert [f.name for f in features[99:101]] == ["feature 0/99", "feature 1/0"]
    assert (features[-1].location.latitude, features[-1].location.longitude) == (1000, 99_000)
    assert len(bench.stream_reference(ctx, bench.STREAM_MESSAGES)[1]) == 10_000


def test_streaming_budget_and_rows() -> None:
    def streamed(name: str, median_us: float) -> bench.StreamMeasurement:
        return bench.StreamMeasurement(name, f"{name} what", 6, median_us, 2 * median_us, 100)

    streams = {
        "stream_bridge": streamed("stream_bridge", 20.0),
        "stream_sidecar_uds": streamed("stream_sidecar_uds", 100.0),
        "stream_grpc_bare_uds": streamed("stream_grpc_bare_uds", 50.0),
    }
    budget = next(b for b in bench.BUDGETS if b.name == "stream_sidecar_uds_throughput")
    assert budget.streaming and not budget.sidecar and not budget.throughput
    check = budget.check({}, {}, {}, streams)
    assert check.measured == pytest.approx(0.5)
    assert check.met is (STREAM_BUDGET <= 0.5)
    assert check.measured_text == "0.50x"
    assert budget.check({}, {}, {}, {}).status == "not measured"
    assert budget.text == (
        f"stream_sidecar_uds >= {STREAM_BUDGET:g}x stream_grpc_bare_uds (messages/s)"
    )

    result = bench.BenchResult(
        {}, {}, [], {}, streams=streams, stream_payload={"method": "m", "messages": 100}
    )
    rows = {row[0]: row for row in result.stream_rows()}
    assert rows["stream_bridge"][1:5] == ["50,000", "20.00", "40.00", "2.50x"]
    assert rows["stream_sidecar_uds"][1:5] == ["10,000", "100.00", "200.00", "0.50x"]
    assert "over 6 streams" in result.stream_title
    report: Any = result.to_json()
    assert report["figures"]["stream_sidecar_uds"] == {
        "median_us": 100.0,
        "p99_us": 200.0,
        "messages_per_s": 10_000.0,
    }
    assert report["calls"]["stream_bridge"] == 6
    assert not result.figure_rows()  # the table of the Quote call leaves them out


def test_verdicts_come_from_the_spread_across_rounds() -> None:
    """Met when every round (but the most extreme fifth each side) is within the limit,
    missed when none is, unresolved (noise) in between; an overhead measured below zero
    is noise, never met."""

    def figure(name: str, median_us: float) -> bench.Measurement:
        return bench.Measurement(name, "", 70, median_us, 2 * median_us)

    budgets = {b.name: b for b in bench.BUDGETS}
    ratio = budgets["bridge_gen_go_vs_python"]  # <= 1.5x python
    figures = {"python": figure("python", 2.0), "bridge_gen_go": figure("bridge_gen_go", 2.6)}

    def check(gen_rounds: list[float]) -> bench.BudgetCheck:
        rounds = {"python": [2.0] * len(gen_rounds), "bridge_gen_go": gen_rounds}
        median = sorted(gen_rounds)[len(gen_rounds) // 2]
        gen = {"bridge_gen_go": figure("bridge_gen_go", median)}
        return ratio.check({**figures, **gen}, rounds=rounds)

    met = check([2.5, 2.6, 2.7, 2.6, 2.4])
    assert (met.verdict, met.met) == ("met", True)
    assert met.measured == pytest.approx(1.3)
    assert met.spread is not None
    assert met.spread[0] == pytest.approx(1.2) and met.spread[1] == pytest.approx(1.3)
    assert met.measured_text == "1.30x [1.20x..1.30x]"
    missed = check([3.2, 3.4, 3.3, 3.6, 3.5])
    assert (missed.verdict, missed.met) == ("missed", False)
    noisy = check([2.4, 3.4, 2.6, 3.6, 2.5])
    assert (noisy.verdict, noisy.met) == ("unresolved (noise)", None)
    assert noisy.to_json()["verdict"] == "unresolved (noise)"
    # Without rounds (figures timed another way): the measured value alone decides.
    assert ratio.check(figures).verdict == "met" and ratio.check(figures).spread is None

    overhead = budgets["route_python_overhead"]  # route_python - legacy <= 0.25 us
    negative = overhead.check(
        {"legacy": figure("legacy", 1.6), "route_python": figure("route_python", 1.55)},
        rounds={"legacy": [1.6, 1.6, 1.6], "route_python": [1.55, 1.58, 1.54]},
    )
    assert negative.measured == pytest.approx(-0.05)
    assert (negative.verdict, negative.met) == ("unresolved (noise)", None)

    threads = budgets["threads_long_2"]  # >= 1.8x one thread's calls/s
    parallel = {
        "threads_long_1": bench.Parallel("threads_long_1", "", 1, 45.0, (100.0, 110.0, 90.0)),
        "threads_long_2": bench.Parallel("threads_long_2", "", 2, 45.0, (190.0, 200.0, 170.0)),
    }
    found = threads.check({}, parallel=parallel)
    assert found.measured == pytest.approx(1.9)
    assert found.spread is not None  # per round: 1.9, 200/110, 170/90
    assert found.spread[0] == pytest.approx(200 / 110) and found.spread[1] == pytest.approx(1.9)
    assert found.verdict == "met"
    assert threads.check({}, parallel={}).verdict == "not measured"
    assert threads.text == "threads_long_2 >= 1.8x threads_long_1 (calls/s)"
