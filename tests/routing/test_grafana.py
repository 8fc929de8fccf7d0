"""The Grafana dashboard (deploy/grafana/bridge-routes.json) asks only for what bridge's
Prometheus collector exports.

Each panel's PromQL is parsed by a real PromQL parser, and every series it selects, every
label it matches or groups by, and every label value it matches exactly, is checked
against the exposition of a router that served python, wasm, shadow (with mismatches)
and fallback calls on real guests. Grafana itself cannot run here; this is what would
silently break the dashboard (a renamed metric, a label that is not there)."""

from __future__ import annotations

import json
from collections import defaultdict
from types import ModuleType
from typing import Any

import promql_parser
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.routing.conftest import MakeRouter, every_mode

DASHBOARD = ROOT / "deploy" / "grafana" / "bridge-routes.json"
# Grafana's own variables, as Grafana substitutes them before Prometheus sees the query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$method": ".*"}

Exposition = dict[str, dict[str, set[str]]]  # sample name -> label -> values seen


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@pytest.fixture
def exposition(make_router: MakeRouter, faulty_pb2: ModuleType) -> Exposition:
    routes = every_mode(make_router)
    registry = CollectorRegistry()
    routes.router.register_prometheus(registry)
    for sku in ("pear 2", "a  b", "kiwi"):
        routes.normalize(sku)  # "a  b" is a mismatch
    assert routes.panic("x") == "python: x"  # the guest panics: a fallback
    assert routes.echo("y") == "y"
    assert routes.router.drain(10)
    seen: Exposition = defaultdict(lambda: defaultdict(set))
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            for label, value in sample.labels.items():
                seen[sample.name][label].add(value)
            seen[sample.name].setdefault("__name__", {sample.name})
    return seen


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def _substituted(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _selectors(node: Any, grouped: set[str]) -> list[Any]:
    """The vector selectors under `node`; the labels aggregations group by into `grouped`."""
    if isinstance(node, promql_parser.VectorSelector):
        return [node]
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    found: list[Any] = []
    if isinstance(node, promql_parser.AggregateExpr):
        if node.modifier is not None:
            grouped.update(node.modifier.labels)
        found += _selectors(node.expr, grouped)
    elif isinstance(node, promql_parser.BinaryExpr):
        found += _selectors(node.lhs, grouped) + _selectors(node.rhs, grouped)
    elif isinstance(node, promql_parser.Call):
        for arg in node.args:
            found += _selectors(arg, grouped)
    elif isinstance(node, promql_parser.ParenExpr):
        found += _selectors(node.expr, grouped)
    return found


def test_every_query_parses_and_selects_exported_series(
    dashboard: dict[str, Any], exposition: Exposition
) -> None:
    exprs = _exprs(dashboard)
    assert len(exprs) >= 10
    metrics_used: set[str] = set()
    for expr in exprs:
        if expr.startswith("label_values("):  # Grafana's, not PromQL
            metric, _, label = expr.removeprefix("label_values(").rstrip(")").partition(", ")
            assert label in exposition[metric], expr
            continue
        grouped: set[str] = set()
        selectors = _selectors(promql_parser.parse(_substituted(expr)), grouped)
        assert selectors, expr
        labels: set[str] = set()
        for selector in selectors:
            assert selector.name in exposition, f"{expr}: no series {selector.name}"
            metrics_used.add(selector.name)
            series = exposition[selector.name]
            labels |= set(series)
            for matcher in selector.matchers.matchers:
                assert matcher.name in series, (
                    f"{expr}: {selector.name} has no label {matcher.name}"  # noqa: E501
                )
                if matcher.op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.NotEqual):
                    assert matcher.value in series[matcher.name], (
                        f"{expr}: {selector.name} never has {matcher.name}={matcher.value!r}"
                    )
        assert grouped <= labels, f"{expr}: groups by {grouped - labels}, not exported"
    # The dashboard shows every counter and the histogram.
    exported = {name for name in exposition if name.startswith("bridge_route_")}
    wanted = {n for n in exported if n.endswith("_total")} | {"bridge_route_latency_seconds_bucket"}
    assert wanted <= metrics_used, wanted - metrics_used


def test_panels_use_the_chosen_data_source(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["description"], panel["id"]
        for where in (panel, *panel["targets"]):
            assert where["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
