"""`bridge diff` and bridge.testing.diff on real ports: the legacy shop's Go Vat port,
which rounds ties away from zero, and a Go upper() that knows ASCII only.

The shop runs as a user runs it: `bridge diff` in the example's folder, in a process of
its own. The textcase route runs in-process too, on a Router of its own, to check the
route's rules (ignore=, ignore_fields, errors=, where) one by one.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import ConfigError, RouteError, StatusCode
from bridge.routing import Router
from bridge.testing import diff
from tests.testing.conftest import SHOP, UPPER, run_bridge, text_project

#: A fixed seed keeps these runs the same each time; the search is the one users get.
SEED = "3"


def test_diff_finds_the_vat_rounding_tie_without_a_hint(shop: Path) -> None:
    ran = run_bridge(
        ["diff", "shopapp.pricing:vat_cents", "--seed", SEED, "--json"],
        SHOP,
        BRIDGE_CONFIG=str(shop / "pyproject.toml"),
    )
    assert ran.returncode == 1, ran.stderr
    (route,) = json.loads(ran.stdout)["routes"]
    assert route["method"] == "shop.v1.Pricing/Vat" and not route["agrees"]
    first = route["differences"][0]
    assert first["kind"] == "value"
    net, rate = first["request"]["net_cents"], first["request"]["rate_permille"]
    # a tie: exactly half a cent, on which half-to-even and half-away-from-zero part
    assert net * rate > 0 and net * rate % 1000 == 500, first
    exact = net * rate // 1000
    assert first["python"] == {"vat_cents": exact + exact % 2}
    assert first["port"] == {"vat_cents": exact + 1}
    assert first["differences"] == [f"vat_cents: {exact + exact % 2} != {exact + 1}"]
    # shrunk: small numbers, not the large ones a search first meets
    assert net <= 10_000 and rate <= 1000, first


def test_the_readable_report_labels_both_sides(shop: Path) -> None:
    ran = run_bridge(
        ["diff", "shopapp.pricing:vat_cents", "--seed", SEED],
        SHOP,
        BRIDGE_CONFIG=str(shop / "pyproject.toml"),
    )
    assert ran.returncode == 1, ran.stderr
    lines = ran.stdout.splitlines()
    assert any("shopapp.pricing:vat_cents" in x and "shop.v1.Pricing/Vat" in x for x in lines)
    block = ran.stdout[ran.stdout.index("difference 1 of") :].splitlines()
    assert block[0].endswith("(value), shrunk to a minimal request:"), block
    labels = [line.split()[0] for line in block[1:5]]
    assert labels == ["request", "python", "port", "differs"], block
    assert json.loads(block[1].split(None, 1)[1])["rate_permille"] > 0
    assert "Traceback" not in ran.stdout + ran.stderr


def test_after_the_port_is_fixed_diff_passes(fixed_shop: Path) -> None:
    ran = run_bridge(
        ["diff", "shopapp.pricing:vat_cents", "shopapp.pricing:line_total", "--seed", SEED],
        SHOP,
        BRIDGE_CONFIG=str(fixed_shop / "pyproject.toml"),
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Vat" in ran.stdout and "LineTotal" in ran.stdout
    assert "difference 1" not in ran.stdout


def test_where_on_the_command_line_and_in_configuration(shop: Path, tmp_path: Path) -> None:
    """Constrained to rates whose ties cannot happen, the port agrees: the domain holds."""
    config = shop / "pyproject.toml"
    ran = run_bridge(
        ["diff", "shopapp.pricing:vat_cents", "--seed", SEED, "--examples", "400"]
        + ["--where", "rate_permille=0|1000", "--where", "net_cents=0..1000000000000"],
        SHOP,
        BRIDGE_CONFIG=str(config),
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    configured = tmp_path / "pyproject.toml"
    configured.write_text(
        config.read_text().replace("build/", f"{shop}/build/")
        + '\n[tool.bridge.routes."shop.v1.Pricing/Vat".diff]\nwhere = {rate_permille = "0|1000"}\n'
    )
    ran = run_bridge(
        ["diff", "shopapp.pricing:vat_cents", "--seed", SEED, "--examples", "400"],
        SHOP,
        BRIDGE_CONFIG=str(configured),
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch.module:f"], "cannot import nosuch.module"),
        (["shopapp.pricing"], "name a routed function as MODULE:FUNCTION"),
        (["shopapp.pricing:bulk_discount_percent"], "is not decorated with @bridge.route"),
        (["shopapp.pricing:nope"], "module shopapp.pricing has no 'nope'"),
        (["shopapp.pricing:vat_cents", "--where", "rate=1"], "has no field 'rate'"),
        (["shopapp.pricing:vat_cents", "--where", "rate_permille"], "write FIELD=DOMAIN"),
        (["shopapp.pricing:vat_cents", "--where", "rate_permille=/x/"], "a /regex/ fits"),
        # No verdict without a request (Hypothesis alone takes longer than 1 ms to start).
        (["shopapp.pricing:vat_cents", "--timeout", "0.001"], "no request was tried"),
    ],
)
def test_bad_input_is_one_line(shop: Path, args: list[str], message: str) -> None:
    ran = run_bridge(["diff", *args], SHOP, BRIDGE_CONFIG=str(shop / "pyproject.toml"))
    assert ran.returncode == 1, ran
    lines = ran.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_route_without_a_port_says_so(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.bridge]\n")
    ran = run_bridge(
        ["diff", "shopapp.pricing:vat_cents"], SHOP, BRIDGE_CONFIG=str(tmp_path / "pyproject.toml")
    )
    assert ran.returncode == 1, ran.stderr
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("error: shop.v1.Pricing/Vat: no port to diff against: add "), last
    assert "Traceback" not in ran.stderr


def test_without_hypothesis_diff_says_what_to_install(tmp_path: Path) -> None:
    """Everything else imports without Hypothesis; diff asks for the extra."""
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "hypothesis.py").write_text("raise ImportError('hypothesis is not installed')\n")
    ran = run_bridge(["diff", "shopapp.pricing:vat_cents"], SHOP, PYTHONPATH=str(blocked))
    assert ran.returncode == 1
    assert ran.stderr.strip() == (
        "error: bridge diff needs Hypothesis; install it with: pip install 'bridge-wasm[diff]'"
    )
    ran = run_bridge(["--help"], SHOP, PYTHONPATH=str(blocked))
    assert ran.returncode == 0 and "diff" in ran.stdout
    check = (
        "import bridge, bridge.cli, bridge.config, bridge.testing, bridge.testing.plugin; "
        "import sys; assert 'hypothesis' not in sys.modules or "
        "sys.modules['hypothesis'] is None"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        env={"PYTHONPATH": str(blocked)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# --- in-process, on the textcase port ------------------------------------------------


@pytest.fixture
def upper_route(
    textcase_wasm: Path, textcase_stubs: Path, tmp_path: Path
) -> Callable[..., Callable[..., Any]]:
    """Route a legacy upper() to the textcase port on a private Router."""
    importlib.import_module("textcase.v1.textcase_pb2")

    def make(
        fn: Callable[..., Any] | None = None, toml: str = "", **options: Any
    ) -> Callable[..., Any]:
        project = text_project(tmp_path / "project", textcase_wasm, textcase_stubs, toml)
        router = Router(project / "pyproject.toml", name="diff-test")

        def upper(text: str) -> str:
            return text.upper()

        return router.route(UPPER, **options)(fn or upper)

    return make


def test_a_unicode_difference_shrinks_to_a_short_string(
    upper_route: Callable[..., Callable[..., Any]],
) -> None:
    result = diff(upper_route(), seed=1)
    assert not result.agrees and result.examples > 0
    first = result.differences[0]
    text = first.request["text"]
    assert first.kind == "value" and 1 <= len(text) <= 2, first
    assert not text.isascii()
    assert first.python == {"text": text.upper()} and first.port == {"text": text}
    with pytest.raises(AssertionError) as raised:
        result.assert_agrees()
    assert json.dumps(first.request, ensure_ascii=False) in str(raised.value)


def test_where_keeps_the_search_to_the_ports_domain(
    upper_route: Callable[..., Callable[..., Any]],
) -> None:
    route = upper_route()
    assert diff(route, examples=200, seed=1, where={"text": "/[a-z0-9 ]*/"}).agrees
    configured = upper_route(
        toml=f'[tool.bridge.routes."{UPPER}".diff]\nwhere = {{text = "/[A-Za-z]{{0,9}}/"}}\n'
    )
    assert diff(configured, examples=200, seed=1).agrees


def test_the_routes_own_comparison_rules_apply(
    upper_route: Callable[..., Callable[..., Any]],
) -> None:
    ignored = upper_route(toml=f'[tool.bridge.routes."{UPPER}".shadow]\nignore_fields = ["text"]\n')
    assert diff(ignored, examples=200, seed=1).agrees
    known = upper_route(ignore=[lambda mismatch: not mismatch.request.text.isascii()])
    assert diff(known, examples=200, seed=1).agrees
    lenient = upper_route(compare=lambda python, port: len(python.text) >= len(port.text))
    assert diff(lenient, examples=200, seed=1).agrees


def _strict_upper(text: str) -> str:
    if not text.isascii():
        raise ValueError("text must be ASCII")
    return text.upper()


def test_python_raising_where_the_port_answers_is_a_difference(
    upper_route: Callable[..., Callable[..., Any]],
) -> None:
    result = diff(
        upper_route(_strict_upper, errors={StatusCode.INVALID_ARGUMENT: ValueError}), seed=1
    )
    first = result.differences[0]
    assert first.kind == "python-error" and len(first.request["text"]) == 1, first
    assert first.python == {
        "error": "ValueError",
        "message": "text must be ASCII",
        "code": "INVALID_ARGUMENT",
    }
    assert first.port == {"text": first.request["text"]}


def test_a_timeout_ends_the_run_early(upper_route: Callable[..., Callable[..., Any]]) -> None:
    result = diff(upper_route(), examples=100_000, timeout_s=0.5, where={"text": "/[a-z]*/"})
    assert result.timed_out and result.agrees and result.examples < 100_000


def test_library_errors_are_bridge_errors(
    upper_route: Callable[..., Callable[..., Any]],
) -> None:
    with pytest.raises(RouteError, match="is not decorated with @bridge.route"):
        diff(len)
    with pytest.raises(RouteError, match="MODULE:FUNCTION"):
        diff("no-colon")
    with pytest.raises(ConfigError, match=r"where text=9\.\.1: the range 9\.\.1 is empty"):
        diff(upper_route(), where={"text": "9..1"})


VAT_WITHOUT_ERRORS = """
import bridge
from shopapp.pricing import vat_cents as routed


# The legacy function again, routed without errors=: its ValueError is no longer
# INVALID_ARGUMENT, the code the port answers.
@bridge.route("shop.v1.Pricing/Vat")
def vat_cents(net_cents: int, rate_permille: int) -> int:
    return routed.__wrapped__(net_cents, rate_permille)
"""


def test_different_error_codes_are_a_difference(shop: Path, tmp_path: Path) -> None:
    (tmp_path / "vat_unmapped.py").write_text(VAT_WITHOUT_ERRORS)
    ran = run_bridge(
        ["diff", "vat_unmapped:vat_cents", "--seed", SEED, "--json"]
        + ["--where", "rate_permille=1001..2000", "--examples", "50"],
        tmp_path,
        BRIDGE_CONFIG=str(shop / "pyproject.toml"),
        PYTHONPATH=str(SHOP),
        HYPOTHESIS_STORAGE_DIRECTORY="",  # the default: bridge's cache, not the project
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    assert ran.returncode == 1, ran.stderr
    assert not (tmp_path / ".hypothesis").exists()
    assert (tmp_path / "cache" / "bridge" / "hypothesis").is_dir()
    first = json.loads(ran.stdout)["routes"][0]["differences"][0]
    assert first["kind"] == "error-code", first
    assert first["differences"] == ["status: UNKNOWN != INVALID_ARGUMENT"]
    assert first["python"]["error"] == "ValueError" and first["python"]["code"] == "UNKNOWN"
    assert first["port"]["error"] == "GuestError"
    assert first["port"]["code"] == "INVALID_ARGUMENT"
