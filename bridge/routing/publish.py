"""Routed calls for the tools people already run: Prometheus and OpenTelemetry.

Both are optional (`pip install bridge-wasm[prometheus]` / `[otel]`) and neither is
hand-rolled: Prometheus gets a collector over bridge's own statistics (read at scrape
time, so a call pays nothing for it); OpenTelemetry gets a span per routed call, which
costs a little per call and is therefore switched on in configuration (`tracing`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import ConfigError
from .stats import Row

__all__ = ["LATENCY_BUCKETS_S", "has_prometheus", "prometheus_collector", "tracer"]

#: The latency buckets exported to Prometheus, in seconds.
LATENCY_BUCKETS_S = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def has_prometheus() -> bool:
    return importlib.util.find_spec("prometheus_client") is not None


def prometheus_collector(rows: Callable[[], Sequence[Row]]) -> Any:
    """A prometheus_client collector of `rows()`; register it with a registry."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import Collector

    labels = ["method", "mode", "side"]

    class BridgeCollector(Collector):
        def collect(self) -> Iterator[Any]:
            snapshot = rows()
            counters = {
                name: CounterMetricFamily(f"bridge_route_{name}", text, labels=labels)
                for name, text in (
                    ("calls", "Routed calls, by who ran them"),
                    ("errors", "Routed calls that raised"),
                    ("fallbacks", "Bridge failures answered by Python instead"),
                    ("mismatches", "Shadow calls whose candidate disagreed with Python"),
                    ("ignored_mismatches", "Shadow mismatches a known-mismatch rule accepted"),
                    ("dropped", "Shadow candidates dropped because their queue was full"),
                )
            }
            latency = HistogramMetricFamily(
                "bridge_route_latency_seconds", "Routed call latency, by who ran it", labels=labels
            )
            bounds_ns = [b * 1e9 for b in LATENCY_BUCKETS_S]
            for row in snapshot:
                key = [row.method, row.mode, row.side]
                for name, family in counters.items():
                    value = row.ignored if name == "ignored_mismatches" else getattr(row, name)
                    family.add_metric(key, value)
                cumulative = row.latency.cumulative(bounds_ns)
                buckets = [(repr(b), c) for b, c in zip(LATENCY_BUCKETS_S, cumulative, strict=True)]
                buckets.append(("+Inf", row.latency.total))
                # The exact sum is not kept; bucket midpoints give it to within ~5%.
                total_s = row.latency.sum_estimate_ns() / 1e9
                latency.add_metric(key, buckets, total_s)
            yield from counters.values()
            yield latency

    return BridgeCollector()


def tracer() -> Any:
    """The OpenTelemetry tracer for routed calls; ConfigError when the API is missing."""
    try:
        from opentelemetry import trace
    except ImportError:
        raise ConfigError(
            "tracing = true needs OpenTelemetry's API: pip install 'bridge-wasm[otel]'"
        ) from None
    from .._version import __version__

    return trace.get_tracer("bridge", __version__)
