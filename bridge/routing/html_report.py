"""The report folder as one self-contained HTML page (`bridge report --html FILE`).

For a team lead rather than a terminal: per route, who answered in which mode, the
latency of Python against the port, mismatches and fallbacks minute by minute, and the
mismatches grouped. Everything is inline (CSS, SVG drawn here), so the page opens
from a mail attachment or a CI artifact with no network. Every chart carries
`data-chart` and `data-points` attributes: what the browser test checks.
"""

from __future__ import annotations

import datetime
import html
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .stats import TIMELINE_BUCKET_S, Histogram, Row, bucket_bounds

__all__ = ["render"]

_SIDE_COLOURS = {"python": "#4c72b0", "wasm": "#dd8452", "sidecar": "#55a868"}
_OTHER_COLOUR = "#8172b3"
_WIDTH, _HEIGHT = 640, 200
_PAD_LEFT, _PAD_BOTTOM, _PAD_TOP = 48, 28, 12
_TIMELINE_MIN_SPAN = 12

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1400px; padding: 24px; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 12px 0 6px; color: #444; }
.meta { color: #666; margin-bottom: 20px; }
section.route { background: #fff; border: 1px solid #ddd; border-radius: 6px;
                padding: 16px 20px; margin-bottom: 24px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { flex: 1 1 560px; max-width: 700px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { text-align: left; padding: 3px 10px; border-bottom: 1px solid #eee;
         vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { color: #555; font-weight: 600; }
pre { margin: 0; white-space: pre-wrap; font-size: 12px; max-width: 480px; }
.bad { color: #c44e52; font-weight: 600; } .warn { color: #b8860b; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px;
          border-radius: 2px; }
svg text { font: 11px system-ui, sans-serif; fill: #555; }
"""


def render(
    rows: Sequence[Row],
    groups: Sequence[Mapping[str, Any]],
    *,
    folder: str,
    processes: int,
    generated: datetime.datetime | None = None,
) -> str:
    """The page: `rows` merged from `processes` report files of `folder`, and the
    mismatch `groups` (identical mismatches counted, newest example)."""
    generated = generated or datetime.datetime.now(datetime.timezone.utc)
    by_method: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_method[row.method].append(row)
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for group in groups:
        grouped[str(group.get("method"))].append(group)
    calls = sum(row.calls for row in rows if not _is_candidate(row))
    sections = "\n".join(
        _route(method, by_method[method], grouped.get(method, [])) for method in sorted(by_method)
    )
    body = sections or "<p>No routed calls recorded yet.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bridge report: {_e(folder)}</title>
<style>{_CSS}</style></head>
<body>
<h1>bridge: how the migrated functions ran</h1>
<div class="meta">{_e(folder)}: {processes} process(es), {len(by_method)} route(s),
{calls:,} call(s); generated {_e(generated.strftime("%Y-%m-%d %H:%M:%S %Z"))}</div>
{body}
</body></html>
"""


def _route(method: str, rows: Sequence[Row], groups: Sequence[Mapping[str, Any]]) -> str:
    mismatches = sum(row.mismatches for row in rows)
    fallbacks = sum(row.fallbacks for row in rows)
    summary = []
    if mismatches:
        summary.append(f'<span class="bad">{mismatches:,} mismatch(es)</span>')
    if fallbacks:
        summary.append(f'<span class="warn">{fallbacks:,} fallback(s)</span>')
    return f"""<section class="route" data-method="{_e(method)}">
<h2>{_e(method)}</h2>
<div class="meta">{" · ".join(summary) or "no mismatches, no fallbacks"}</div>
{_table(rows)}
<div class="charts">
<div class="chart"><h3>Calls, by mode and by who ran them</h3>{_calls_chart(rows)}</div>
<div class="chart"><h3>Latency: Python against the port</h3>{_latency_chart(rows)}</div>
<div class="chart"><h3>Over time: calls, fallbacks and mismatches</h3>{_timeline_chart(rows)}</div>
</div>
{_groups(groups)}
</section>"""


def _table(rows: Sequence[Row]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("mode", "side", "calls", "errors", "fallbacks", "mismatches", "p50", "p99")
    )
    body = "".join(
        "<tr>"
        f"<td>{_e(r.mode)}</td><td>{_swatch(r.side)}{_e(r.side)}</td>"
        f'<td class="n">{r.calls:,}</td><td class="n">{r.errors:,}</td>'
        f'<td class="n">{r.fallbacks or ""}</td>'
        f'<td class="n">{_mismatch_cell(r)}</td>'
        f'<td class="n">{_duration(r.latency.percentile(50))}</td>'
        f'<td class="n">{_duration(r.latency.percentile(99))}</td>'
        "</tr>"
        for r in sorted(rows, key=lambda r: (r.mode, r.side != "python", r.side))
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _mismatch_cell(row: Row) -> str:
    parts = [f'<span class="bad">{row.mismatches:,}</span>' if row.mismatches else ""]
    if row.ignored:
        parts.append(f"{row.ignored:,} accepted")
    if row.dropped:
        parts.append(f"{row.dropped:,} dropped")
    return " ".join(p for p in parts if p)


def _calls_chart(rows: Sequence[Row]) -> str:
    bars = [(f"{r.mode} · {r.side}", r.calls, _colour(r.side)) for r in rows if r.calls]
    bars.sort(key=lambda bar: bar[0])
    height = 22 * len(bars) + 8
    top = max((value for _, value, _ in bars), default=0) or 1
    label_width = 150
    span = _WIDTH - label_width - 70
    marks = []
    for index, (label, value, colour) in enumerate(bars):
        y = 4 + 22 * index
        width = max(1.0, span * value / top)
        marks.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">{_e(label)}</text>'
            f'<rect class="mark" x="{label_width}" y="{y}" width="{width:.1f}" height="16" '
            f'fill="{colour}"><title>{_e(label)}: {value:,} calls</title></rect>'
            f'<text x="{label_width + width + 4:.1f}" y="{y + 14}">{value:,}</text>'
        )
    return _svg("calls", len(bars), height, "".join(marks))


def _latency_chart(rows: Sequence[Row]) -> str:
    """Each side's share of calls per latency bucket, on a log scale, with p50 and p99."""
    sides: dict[str, Histogram] = {}
    for row in rows:
        sides.setdefault(row.side, Histogram()).merge(row.latency)
    sides = {side: h for side, h in sides.items() if h.total}
    if not sides:
        return _svg("latency", 0, _HEIGHT, _empty("no calls timed"))
    indexes = [i for h in sides.values() for i in h.counts]
    # Whole decades around the data, so that one bucket is not drawn as the whole width.
    lo = math.floor(math.log10(max(1, bucket_bounds(min(indexes))[0])))
    hi = max(math.ceil(math.log10(bucket_bounds(max(indexes))[1])), lo + 1)
    span_x = _WIDTH - _PAD_LEFT - 10
    span_y = _HEIGHT - _PAD_BOTTOM - _PAD_TOP
    top_share = max(c / h.total for h in sides.values() for c in h.counts.values())

    def x(ns: float) -> float:
        return _PAD_LEFT + span_x * (math.log10(max(ns, 1)) - lo) / (hi - lo)

    marks, points = [], 0
    for side, histogram in sorted(sides.items(), key=lambda item: item[0] != "python"):
        colour = _colour(side)
        for index, count in sorted(histogram.counts.items()):
            start, end = bucket_bounds(index)
            share = count / histogram.total
            bar_height = span_y * share / top_share
            marks.append(
                f'<rect class="mark" x="{x(max(start, 1)):.1f}" '
                f'y="{_HEIGHT - _PAD_BOTTOM - bar_height:.1f}" '
                f'width="{max(x(end) - x(max(start, 1)), 1.5):.1f}" height="{bar_height:.1f}" '
                f'fill="{colour}" fill-opacity="0.55"><title>{_e(side)}: {count:,} calls '
                f"between {_duration(start)} and {_duration(end)}</title></rect>"
            )
            points += 1
        for p in (50, 99):
            value = histogram.percentile(p)
            if value is None:
                continue
            at = x(value)
            # Labels near the right edge go to the line's left.
            right = at > _PAD_LEFT + 0.7 * span_x
            marks.append(
                f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{_PAD_TOP}" '
                f'y2="{_HEIGHT - _PAD_BOTTOM}" stroke="{colour}" stroke-dasharray="4 3">'
                f"<title>{_e(side)} p{p}: {_duration(value)}</title></line>"
                f'<text x="{at - 3 if right else at + 3:.1f}" '
                f'y="{_PAD_TOP + (10 if p == 50 else 22) + (24 if side != "python" else 0)}" '
                f'text-anchor="{"end" if right else "start"}" '
                f'fill="{colour}">{_e(side)} p{p} {_duration(value)}</text>'
            )
    axis = _log_axis(lo, hi, x)
    legend = " ".join(f"{_swatch(side)}{_e(side)}" for side in sorted(sides))
    return _svg("latency", points, _HEIGHT, axis + "".join(marks)) + f"<div>{legend}</div>"


def _log_axis(lo: float, hi: float, x: Any) -> str:
    ticks = []
    for power in range(math.floor(lo), math.ceil(hi) + 1):
        ns = 10.0**power
        if not lo <= power <= hi:
            continue
        at = x(ns)
        ticks.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{_HEIGHT - _PAD_BOTTOM}" '
            f'y2="{_HEIGHT - _PAD_BOTTOM + 4}" stroke="#999"/>'
            f'<text x="{at:.1f}" y="{_HEIGHT - 8}" '
            f'text-anchor="{"end" if at > _WIDTH - 30 else "middle"}">{_duration(ns)}</text>'
        )
    base = _HEIGHT - _PAD_BOTTOM
    return (
        f'<line x1="{_PAD_LEFT}" x2="{_WIDTH - 10}" y1="{base}" y2="{base}" stroke="#999"/>'
        + "".join(ticks)
    )


def _timeline_chart(rows: Sequence[Row]) -> str:
    """Calls per timeline bucket as bars; fallbacks and mismatches as marks on their
    own scale."""
    minutes: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        for minute, (calls, _errors, fallbacks, mismatches) in row.timeline.items():
            slot = minutes[minute]
            # A shadow call runs on both sides: count it once, on Python's.
            slot[0] += 0 if _is_candidate(row) else calls
            slot[1] += fallbacks
            slot[2] += mismatches
    if not minutes:
        return _svg("timeline", 0, _HEIGHT, _empty("no calls recorded over time"))
    # At least _TIMELINE_MIN_SPAN buckets: one busy bucket is a bar, not the whole width.
    last = max(minutes)
    first = min(min(minutes), last - _TIMELINE_MIN_SPAN + 1)
    count = last - first + 1
    span_x = _WIDTH - _PAD_LEFT - 10
    span_y = _HEIGHT - _PAD_BOTTOM - _PAD_TOP
    step = span_x / count
    top_calls = max(slot[0] for slot in minutes.values()) or 1
    top_events = max(max(slot[1], slot[2]) for slot in minutes.values()) or 1
    marks = []
    for minute, (calls, fallbacks, mismatches) in sorted(minutes.items()):
        left = _PAD_LEFT + step * (minute - first)
        when = _bucket(minute)
        if calls:
            bar_height = span_y * calls / top_calls
            marks.append(
                f'<rect class="mark" x="{left:.1f}" y="{_HEIGHT - _PAD_BOTTOM - bar_height:.1f}" '
                f'width="{max(step - 1, 1):.1f}" height="{bar_height:.1f}" fill="#c8d3e6">'
                f"<title>{when}: {calls:,} calls</title></rect>"
            )
        for value, colour, what in ((fallbacks, "#b8860b", "fallbacks"),
                                    (mismatches, "#c44e52", "mismatches")):  # fmt: skip
            if value:
                y = _HEIGHT - _PAD_BOTTOM - span_y * value / top_events
                marks.append(
                    f'<circle class="mark" cx="{left + step / 2:.1f}" cy="{y:.1f}" r="3.5" '
                    f'fill="{colour}"><title>{when}: {value:,} {what}</title></circle>'
                )
    axis = (
        f'<text x="{_PAD_LEFT}" y="{_HEIGHT - 8}">{_bucket(first)}</text>'
        f'<text x="{_WIDTH - 10}" y="{_HEIGHT - 8}" text-anchor="end">{_bucket(last)}</text>'
        f'<text x="4" y="{_PAD_TOP + 8}">{top_calls:,}</text>'
    )
    legend = (
        '<div><span class="swatch" style="background:#c8d3e6"></span>calls '
        '<span class="swatch" style="background:#b8860b"></span>fallbacks '
        '<span class="swatch" style="background:#c44e52"></span>mismatches '
        f"(up to {top_events:,}) per {TIMELINE_BUCKET_S // 60} minutes</div>"
    )
    return _svg("timeline", len(marks), _HEIGHT, axis + "".join(marks)) + legend


def _groups(groups: Sequence[Mapping[str, Any]]) -> str:
    """The groups of stats.group_mismatches, the newest seen first."""
    if not groups:
        return ""
    ports = {str(g.get("port") or "bridge") for g in groups}
    port = f"port ({ports.pop()})" if len(ports) == 1 else "port"
    rows = []
    for group in sorted(groups, key=lambda g: -float(g.get("last_seen") or 0)):
        example = group.get("example") or {}
        rows.append(
            "<tr>"
            f'<td class="n">{int(group.get("count", 1)):,}</td>'
            f"<td>{_e(str(group.get('kind', '')))}</td>"
            f"<td>{_e('; '.join(group.get('differences') or []))}</td>"
            f"<td><pre>{_e(_json(example.get('python')))}</pre></td>"
            f"<td><pre>{_e(_json(example.get('bridge')))}</pre></td>"
            f"<td><pre>{_e(_json(example.get('request')))}</pre></td>"
            f"<td>{_e(_when(group.get('first_seen')))}<br>{_e(_when(group.get('last_seen')))}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{_e(h)}</th>"
        for h in ("count", "kind", "what differs (python != port)", "python", port,
                  "newest request", "first, last seen")
    )  # fmt: skip
    return (
        f"<h3>Mismatches, identical ones counted once ({len(groups)} kinds)</h3>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
    )


def _svg(name: str, points: int, height: int, content: str) -> str:
    return (
        f'<svg data-chart="{name}" data-points="{points}" viewBox="0 0 {_WIDTH} {height}" '
        f'width="100%" role="img" xmlns="http://www.w3.org/2000/svg">{content}</svg>'
    )


def _empty(text: str) -> str:
    return f'<text x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle">{_e(text)}</text>'


def _is_candidate(row: Row) -> bool:
    return row.mode == "shadow" and row.side != "python"


def _colour(side: str) -> str:
    return _SIDE_COLOURS.get(side, _OTHER_COLOUR)


def _swatch(side: str) -> str:
    return f'<span class="swatch" style="background:{_colour(side)}"></span>'


def _duration(ns: float | None) -> str:
    if ns is None:
        return ""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def _bucket(bucket: int) -> str:
    moment = datetime.datetime.fromtimestamp(bucket * TIMELINE_BUCKET_S, datetime.timezone.utc)
    return moment.strftime("%m-%d %H:%M UTC")


def _when(timestamp: object) -> str:
    if not isinstance(timestamp, int | float):
        return ""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _json(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=1)


def _e(text: str) -> str:
    return html.escape(text, quote=True)
