"""Call statistics of routed functions: counts and latency histograms, per process.

Each (method, mode, side) has a Recorder: `side` is who answered or ran (python, wasm,
sidecar). Latencies go into log-linear buckets (8 per power of two, so a percentile is
within ~5% of the truth) that add up exactly across threads and processes, which is
what lets `bridge report` merge the files of many worker processes.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_atomic

__all__ = [
    "Histogram",
    "Recorder",
    "Row",
    "group_mismatches",
    "merge_reports",
    "read_reports",
    "write_report",
]

REPORT_VERSION = 1
#: The timeline of a row (the HTML report's "over time"): counts per 5 minutes, 2 days.
TIMELINE_BUCKET_S = 300
TIMELINE_BUCKETS = 2 * 24 * 3600 // TIMELINE_BUCKET_S
TIMELINE_COLUMNS = ("calls", "errors", "fallbacks", "mismatches")
_TIMELINE_INDEX = {name: index for index, name in enumerate(TIMELINE_COLUMNS)}
_SUB_BITS = 3  # 2**3 = 8 buckets per power of two


def _bucket_now() -> int:
    return int(time.time()) // TIMELINE_BUCKET_S


def bucket_of(ns: int) -> int:
    """The bucket index of a duration in nanoseconds."""
    if ns < 1 << _SUB_BITS:
        return max(ns, 0)
    exponent = ns.bit_length() - _SUB_BITS - 1
    return ((exponent + 1) << _SUB_BITS) + ((ns >> exponent) & ((1 << _SUB_BITS) - 1))


def bucket_bounds(index: int) -> tuple[int, int]:
    """The [low, high) nanoseconds of bucket `index`."""
    if index < 1 << _SUB_BITS:
        return index, index + 1
    exponent = (index >> _SUB_BITS) - 1
    low = ((1 << _SUB_BITS) + (index & ((1 << _SUB_BITS) - 1))) << exponent
    return low, low + (1 << exponent)


@dataclass
class Histogram:
    """Bucketed latencies: counts by bucket index.

    >>> h = Histogram()
    >>> for us in (1, 2, 3, 100):
    ...     h.add(us * 1000)
    >>> p50, p99 = h.percentile(50), h.percentile(99)  # bucket midpoints, within ~5%
    >>> abs(p50 - 2000) < 100, abs(p99 - 100_000) < 5000
    (True, True)
    """

    counts: dict[int, int] = field(default_factory=dict)

    def add(self, ns: int) -> None:
        index = bucket_of(ns)
        self.counts[index] = self.counts.get(index, 0) + 1

    def merge(self, other: Histogram) -> None:
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def percentile(self, p: float) -> float | None:
        """The p-th percentile in nanoseconds (a bucket's midpoint); None when empty."""
        total = self.total
        if not total:
            return None
        rank = max(1, -(-total * p // 100))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                low, high = bucket_bounds(index)
                return (low + high - 1) / 2
        raise AssertionError("unreachable: rank <= total")  # pragma: no cover

    def sum_estimate_ns(self) -> float:
        """The sum of the durations, from bucket midpoints."""
        return sum(c * (sum(bucket_bounds(i)) - 1) / 2 for i, c in self.counts.items())

    def cumulative(self, bounds_ns: Sequence[float]) -> list[int]:
        """How many durations fall at or below each bound (for Prometheus buckets)."""
        ordered = sorted(self.counts.items())
        result = []
        for bound in bounds_ns:
            result.append(sum(c for i, c in ordered if bucket_bounds(i)[1] - 1 <= bound))
        return result


@dataclass
class Row:
    """The statistics of one (method, mode, side)."""

    method: str
    mode: str
    side: str
    calls: int = 0
    errors: int = 0
    fallbacks: int = 0
    mismatches: int = 0
    ignored: int = 0  # mismatches a known-mismatch rule accepted
    dropped: int = 0  # off-thread candidates dropped because the queue was full
    latency: Histogram = field(default_factory=Histogram)
    #: Per TIMELINE_BUCKET_S of Unix time (its start // TIMELINE_BUCKET_S): calls, errors,
    #: fallbacks, mismatches; the newest TIMELINE_BUCKETS only.
    timeline: dict[int, list[int]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.method, self.mode, self.side

    def merge(self, other: Row) -> None:
        for name in ("calls", "errors", "fallbacks", "mismatches", "ignored", "dropped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        for bucket, counts in other.timeline.items():
            for index, count in enumerate(counts):
                if count:
                    self.tally(bucket, index, count)

    def tally(self, bucket: int, index: int, count: int = 1) -> None:
        """Add `count` to column `index` (TIMELINE_COLUMNS) of a timeline bucket."""
        slot = self.timeline.get(bucket)
        if slot is None:
            slot = self.timeline[bucket] = [0] * len(TIMELINE_COLUMNS)
            if len(self.timeline) > TIMELINE_BUCKETS:
                del self.timeline[min(self.timeline)]
        slot[index] += count

    def to_json(self) -> dict[str, Any]:
        p50, p99 = self.latency.percentile(50), self.latency.percentile(99)
        return {
            "method": self.method,
            "mode": self.mode,
            "side": self.side,
            "calls": self.calls,
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "mismatches": self.mismatches,
            "ignored": self.ignored,
            "dropped": self.dropped,
            "p50_us": None if p50 is None else round(p50 / 1000, 3),
            "p99_us": None if p99 is None else round(p99 / 1000, 3),
            "histogram": {str(i): c for i, c in sorted(self.latency.counts.items())},
            "timeline": [[bucket, *counts] for bucket, counts in sorted(self.timeline.items())],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        row = cls(str(data["method"]), str(data["mode"]), str(data["side"]))
        for name in ("calls", "errors", "fallbacks", "mismatches", "ignored", "dropped"):
            setattr(row, name, int(data.get(name, 0)))
        row.latency.counts = {int(i): int(c) for i, c in data.get("histogram", {}).items()}
        for bucket, *counts in data.get("timeline", []):
            for index, count in enumerate(counts[: len(TIMELINE_COLUMNS)]):
                if count:
                    row.tally(int(bucket), index, int(count))
        return row


class Recorder:
    """The live statistics of one (method, mode, side), safe from any thread.

    A call only appends its duration to a deque (atomic, and about 50 ns); durations
    are folded into the histogram when they pile up and when someone reads them.
    """

    __slots__ = ("_lock", "_row", "samples")

    FOLD_AT = 4096

    def __init__(self, method: str, mode: str, side: str) -> None:
        self._lock = threading.Lock()
        self._row = Row(method, mode, side)
        #: Durations not folded yet; ~ns (negative) marks a failed call. Hot paths append
        #: here directly and call fold() once it is longer than FOLD_AT.
        self.samples: deque[int] = deque()

    @property
    def side(self) -> str:
        """Who runs: python, wasm or sidecar."""
        return self._row.side

    def call(self, ns: int, *, error: bool = False) -> None:
        """One call that took `ns` nanoseconds (and failed, if `error`)."""
        samples = self.samples
        samples.append(~ns if error else ns)
        if len(samples) > self.FOLD_AT:
            self.fold()

    def count(self, name: str) -> None:
        """One more fallback, mismatch, ignored mismatch or dropped candidate."""
        with self._lock:
            setattr(self._row, name, getattr(self._row, name) + 1)
            if name in _TIMELINE_INDEX:
                self._row.tally(_bucket_now(), _TIMELINE_INDEX[name])

    def snapshot(self) -> Row:
        self.fold()
        with self._lock:
            row = self._row
            copy = Row(row.method, row.mode, row.side)
            copy.merge(row)
            return copy

    def after_fork(self) -> None:
        """In a forked child: from zero (the parent reports its own calls), with a new
        lock (a parent thread may have held the old one at the fork). The deque is
        kept: plans hold it."""
        self._lock = threading.Lock()
        self._row = Row(self._row.method, self._row.mode, self._row.side)
        self.samples.clear()

    def fold(self) -> None:
        """Move the pending durations into the row."""
        samples = self.samples
        with self._lock:
            row = self._row
            counts = row.latency.counts
            calls, errors = row.calls, row.errors
            while True:
                try:
                    ns = samples.popleft()
                except IndexError:
                    break
                if ns < 0:
                    row.errors += 1
                    ns = ~ns
                row.calls += 1
                index = bucket_of(ns)
                counts[index] = counts.get(index, 0) + 1
            # Calls count in the bucket they are folded in: at most a report interval late.
            if row.calls > calls:
                bucket = _bucket_now()
                row.tally(bucket, 0, row.calls - calls)
                if row.errors > errors:
                    row.tally(bucket, 1, row.errors - errors)


def write_report(
    folder: Path,
    rows: Iterable[Row],
    mismatches: Sequence[Mapping[str, Any]],
    *,
    name: str = "main",
) -> Path:
    """Write the statistics of this process's router `name` to `folder` (atomically);
    the file's path. One file per process and router, so workers never collide."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{socket.gethostname()}-{os.getpid()}-{name}.json"
    payload = {
        "version": REPORT_VERSION,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "written": time.time(),
        "rows": [row.to_json() for row in rows],
        "mismatches": list(mismatches),
    }
    write_atomic(path, json.dumps(payload, ensure_ascii=False, separators=(",", ": ")) + "\n")
    return path


def read_reports(folder: Path) -> list[dict[str, Any]]:
    """Every process's report in `folder` (files that are not reports are skipped)."""
    reports = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("version") == REPORT_VERSION:
            reports.append(data)
    return reports


def merge_reports(
    reports: Iterable[Mapping[str, Any]],
) -> tuple[list[Row], list[dict[str, Any]]]:
    """The rows of many processes added up, and their mismatch records, oldest first."""
    rows: dict[tuple[str, str, str], Row] = {}
    mismatches: list[dict[str, Any]] = []
    for report in reports:
        for data in report.get("rows", []):
            row = Row.from_json(data)
            if row.key in rows:
                rows[row.key].merge(row)
            else:
                rows[row.key] = row
        mismatches.extend(report.get("mismatches", []))
    mismatches.sort(key=lambda m: float(m.get("time", 0)))
    return sorted(rows.values(), key=lambda r: r.key), mismatches


def group_mismatches(mismatches: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Identical mismatch records as one group each, the newest-seen group last.

    Records are identical when method, kind, port and differences agree (and, for the
    kinds that list no differences, both answers): each group has its count, when it
    was first and last seen, and its newest record as the example.
    """
    groups: dict[tuple[object, ...], dict[str, Any]] = {}
    for record in sorted(mismatches, key=lambda m: float(m.get("time", 0))):
        differences = tuple(record.get("differences", ()))
        key: tuple[object, ...] = (
            record.get("method"),
            record.get("kind"),
            record.get("port"),
            differences,
        )
        if not differences:
            key += (record.get("python"), record.get("bridge"))
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "method": record.get("method"),
                "kind": record.get("kind"),
                "port": record.get("port"),
                "differences": list(differences),
                "count": 0,
                "first_seen": record.get("time"),
            }
        group["count"] += 1
        group["last_seen"] = record.get("time")
        group["example"] = dict(record)
    return sorted(groups.values(), key=lambda g: float(g["last_seen"] or 0))
