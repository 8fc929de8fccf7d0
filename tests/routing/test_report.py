"""Statistics out of the process: report files, `bridge report`, Prometheus, OpenTelemetry."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from bridge.config import Mode, RouteConfig, ShadowConfig
from bridge.routing.stats import (
    Histogram,
    Row,
    bucket_bounds,
    bucket_of,
    merge_reports,
    read_reports,
)
from tests.cli.conftest import assert_one_line_error, run
from tests.conftest import ROOT
from tests.routing.conftest import PRICING, MakeRouter
from tests.routing.test_shadow import legacy_normalize

NORMALIZE = f"{PRICING}/NormalizeSku"


def test_buckets_cover_every_duration_once() -> None:
    previous_high = 0
    for index in range(bucket_of(10**12) + 1):
        low, high = bucket_bounds(index)
        assert low == previous_high and high > low
        assert bucket_of(low) == index and bucket_of(high - 1) == index
        previous_high = high


def test_percentiles_are_within_the_bucket_resolution() -> None:
    rng = random.Random(1)
    durations = sorted(int(rng.lognormvariate(8, 1)) for _ in range(10_000))
    histogram = Histogram()
    for ns in durations:
        histogram.add(ns)
    for p in (50, 90, 99):
        exact = durations[int(len(durations) * p / 100) - 1]
        estimate = histogram.percentile(p)
        assert estimate is not None and abs(estimate - exact) / exact < 0.07, (p, exact, estimate)


def shadow_day(make_router: MakeRouter, folder: Path) -> None:
    router = make_router(
        {NORMALIZE: RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig(inline=True))},
        report_dir=folder,
    )
    normalize_sku = legacy_normalize(router)
    for i in range(50):
        normalize_sku(f"sku {i}" if i % 10 else f"sku  {i}")
    assert router.flush() is not None


def test_reports_of_several_processes_add_up(make_router: MakeRouter, tmp_path: Path) -> None:
    shadow_day(make_router, tmp_path)
    shadow_day(make_router, tmp_path)  # a second router: a second file, as a second worker
    (tmp_path / "notes.json").write_text("not a report")
    reports = read_reports(tmp_path)
    assert len(reports) == 2
    rows, mismatches = merge_reports(reports)
    by_side = {r.side: r for r in rows}
    assert by_side["python"].calls == 100 and by_side["wasm"].mismatches == 10
    assert len(mismatches) == 10 and mismatches[0]["request"] == {"sku": "sku  0"}
    assert Row.from_json(rows[0].to_json()).to_json() == rows[0].to_json()


def test_bridge_report(make_router: MakeRouter, tmp_path: Path) -> None:
    shadow_day(make_router, tmp_path)
    table = run("report", "--dir", str(tmp_path))
    assert table.exit_code == 0, table.stderr
    header, *lines = [
        line for line in table.stdout.splitlines() if NORMALIZE in line or "method" in line
    ]
    assert header.split()[:9] == [
        "method",
        "mode",
        "side",
        "calls",
        "errors",
        "fallbacks",
        "mismatches",
        "p50",
        "p99",
    ]
    assert any(line.split()[1:5] == ["shadow", "wasm", "50", "0"] for line in lines), lines
    assert "sku: 'SKU--0' != 'SKU-0'" in table.stdout

    as_json = run("report", "--dir", str(tmp_path), "--json", "--mismatches", "3")
    payload = json.loads(as_json.stdout)
    assert payload["processes"] == 1 and len(payload["mismatches"]) == 3
    wasm = next(r for r in payload["rows"] if r["side"] == "wasm")
    assert wasm["mismatches"] == 5 and wasm["p50_us"] > 0

    assert run("report", "--dir", str(tmp_path), "--fail-on-mismatch").exit_code == 1
    assert run("report", "--dir", str(tmp_path), "--reset").exit_code == 0
    empty = run("report", "--dir", str(tmp_path), "--fail-on-mismatch")
    assert empty.exit_code == 0 and "no routed calls recorded" in empty.stderr


def test_bridge_report_without_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BRIDGE_CONFIG", raising=False)
    assert_one_line_error(run("report"), "no report folder: pass --dir")


def test_prometheus_metrics(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: RouteConfig(mode=Mode("wasm"))})
    registry = CollectorRegistry()
    router.register_prometheus(registry)

    @router.route(NORMALIZE)
    def normalize_sku(sku: str) -> str:
        raise NotImplementedError

    for _ in range(3):
        normalize_sku("pear")
    text = generate_latest(registry).decode()
    labels = f'method="{NORMALIZE}",mode="wasm",side="wasm"'
    assert f"bridge_route_calls_total{{{labels}}} 3.0" in text
    assert f'bridge_route_latency_seconds_bucket{{le="+Inf",{labels}}} 3.0' in text
    assert f"bridge_route_latency_seconds_count{{{labels}}} 3.0" in text


def test_opentelemetry_spans(make_router: MakeRouter) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    router = make_router({NORMALIZE: RouteConfig(mode=Mode("wasm"))}, tracing=True)

    @router.route(NORMALIZE)
    def normalize_sku(sku: str) -> str:
        return sku

    assert normalize_sku("pear 2") == "PEAR-2"
    [span] = exporter.get_finished_spans()
    assert span.name == NORMALIZE
    assert span.attributes is not None and span.attributes["bridge.mode"] == "wasm"
    router.set_mode(NORMALIZE, "python")
    normalize_sku("pear")  # python mode does no bridge work at all, spans included
    assert len(exporter.get_finished_spans()) == 1


def test_candidates_queued_at_exit_are_compared_before_the_report(
    go_pricing_wasm: Path, pricing_pb2: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "bridge.toml").write_text(
        f'report_dir = "report"\n[services]\n"{PRICING}" = "{go_pricing_wasm}"\n'
        f'[routes."{NORMALIZE}"]\nmode = "shadow"\nshadow = {{ queue_size = 100_000 }}\n'
    )
    (tmp_path / "legacy.py").write_text(
        "import bridge\n"
        "from pricing.v1 import pricing_pb2\n\n"
        f"@bridge.route('{NORMALIZE}')\n"
        "def normalize_sku(sku: str) -> str:\n"
        "    return sku.strip().upper().replace(' ', '-')\n\n"
        "for i in range(3000):\n"
        "    normalize_sku(f'sku  {i}' if i % 100 == 0 else f'sku {i}')\n"
    )
    pb2_root = Path(str(pricing_pb2.__file__)).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{pb2_root}{os.pathsep}{ROOT}", "BRIDGE_CONFIG": ""}
    ran = subprocess.run(
        [sys.executable, "legacy.py"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr.decode()
    rows, mismatches = merge_reports(read_reports(tmp_path / "report"))
    by_side = {r.side: r for r in rows}
    assert by_side["python"].calls == by_side["wasm"].calls == 3000
    assert by_side["wasm"].mismatches == len(mismatches) == 30
