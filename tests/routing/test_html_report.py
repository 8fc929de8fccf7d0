"""`bridge report --html`: one self-contained page, rendered by a real browser.

A router serves python, wasm, shadow (with mismatches, in non-ASCII text) and fallback
calls on real guests and writes its report; `bridge report --html` makes the page and
Debian's chromium, headless, renders it: the DOM it ends with must hold every route with
charts that have data, and its screenshot is kept as an artifact
(build/test-artifacts/bridge-report.png)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from bridge.routing import stats
from tests.cli.conftest import run
from tests.conftest import ROOT
from tests.routing.conftest import FAULTY, PRICING, MakeRouter, every_mode
from tests.sidecar.test_clients import missing

NORMALIZE = f"{PRICING}/NormalizeSku"
ARTIFACT = ROOT / "build" / "test-artifacts" / "bridge-report.png"
BROWSER_TIMEOUT_S = 120


@pytest.fixture
def report_folder(make_router: MakeRouter, faulty_pb2: ModuleType, tmp_path: Path) -> Path:
    folder = tmp_path / "report"
    routes = every_mode(make_router, report_dir=folder)
    for index in range(40):
        routes.normalize(f"crème  brûlée {index % 3}")  # two spaces: the port differs
        routes.normalize(f"pear {index}")
        routes.echo(f"écho {index}")
    assert routes.panic("x") == "python: x"  # the guest panics: Python answers
    assert routes.router.drain(10)
    assert routes.router.flush() is not None
    return folder


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing("chromium is not installed: run scripts/install_test_clients.py (as root)")
    return found


def _browser(page: Path, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        _chromium(),
        "--headless",
        "--no-sandbox",  # as root, in a container
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_the_page_renders_every_route_with_charts_that_have_data(
    report_folder: Path, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    ran = run("report", "--dir", str(report_folder), "--html", str(page))
    assert ran.exit_code == 0, ran.stderr
    assert "wrote" in ran.stderr and "3 route(s)" in ran.stderr
    text = page.read_text(encoding="utf-8")
    # Nothing is fetched when it is viewed: no scripts, styles or images from anywhere.
    assert not re.search(r"<script|<link|<img|@import|url\(", text)
    assert not re.search(r"""(src|href)=["']?https?:""", text)

    dom = _browser(page, "--dump-dom", profile=tmp_path / "profile").stdout
    sections = re.findall(
        r'<section class="route" data-method="([^"]+)">(.*?)</section>', dom, re.S
    )
    assert {method for method, _ in sections} == {NORMALIZE, f"{FAULTY}/Panic", f"{FAULTY}/Echo"}
    for method, section in sections:
        points = dict(re.findall(r'data-chart="(\w+)" data-points="(\d+)"', section))
        assert set(points) == {"calls", "latency", "timeline"}, method
        assert all(int(n) > 0 for n in points.values()), (method, points)
    normalize = dict(sections)[NORMALIZE]
    assert "CRÈME--BRÛLÉE" in normalize  # the mismatch, as text
    assert "python" in normalize and "port (wasm)" in normalize
    # 40 mismatches of 3 kinds ("... 0", "... 1", "... 2"), each counted once.
    counts = re.findall(r'<tr><td class="n">(\d+)</td><td>value</td>', normalize)
    assert sorted(map(int, counts)) == [13, 13, 14], counts
    assert "fallback" in dict(sections)[f"{FAULTY}/Panic"]

    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.unlink(missing_ok=True)
    _browser(page, f"--screenshot={ARTIFACT}", "--window-size=1400,2600", profile=tmp_path / "p2")
    # A page of tables and charts, not a blank one (a blank 1400x2600 PNG is ~10 KB).
    assert ARTIFACT.stat().st_size > 40_000, ARTIFACT.stat().st_size


def test_an_empty_folder_gives_a_page_that_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    page = tmp_path / "empty.html"
    ran = run("report", "--dir", str(folder), "--html", str(page))
    assert ran.exit_code == 0, ran.stderr
    assert "No routed calls recorded yet" in page.read_text()


def test_an_unwritable_page_is_one_line(report_folder: Path, tmp_path: Path) -> None:
    ran = run("report", "--dir", str(report_folder), "--html", str(tmp_path / "no" / "x.html"))
    assert ran.exit_code == 1
    assert "Traceback" not in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr


def test_timelines_add_up_across_processes_and_keep_the_newest_buckets() -> None:
    a, b = stats.Row("m", "wasm", "wasm"), stats.Row("m", "wasm", "wasm")
    a.tally(100, 0, 5)
    b.tally(100, 0, 2)
    b.tally(101, 2)
    a.merge(b)
    assert a.timeline == {100: [7, 0, 0, 0], 101: [0, 0, 1, 0]}
    assert stats.Row.from_json(a.to_json()).timeline == a.timeline
    for bucket in range(stats.TIMELINE_BUCKETS + 10):
        a.tally(1000 + bucket, 0)
    assert len(a.timeline) == stats.TIMELINE_BUCKETS
    assert min(a.timeline) == 1000 + 10
