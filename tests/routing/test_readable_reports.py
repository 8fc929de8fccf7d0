"""Reports people can read: text as text, 64-bit integers as numbers, both sides named,
identical mismatches grouped, caps explained, and strict mode's one useful line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import json_format

import bridge
from bridge.config import Mode, RouteConfig, ShadowConfig, SidecarConfig
from bridge.errors import ShadowMismatch
from bridge.routing import Router
from bridge.routing.stats import read_reports
from bridge.schema.jsonable import message_to_dict
from tests.cli.conftest import run
from tests.conftest import ROOT
from tests.grpc_server import GuestServicer
from tests.routing.conftest import PRICING, MakeRouter
from tests.routing.test_shadow import legacy_normalize

QUOTE = f"{PRICING}/Quote"
NORMALIZE = f"{PRICING}/NormalizeSku"
BRIDGE_DIR = Path(bridge.__file__).resolve().parent


def legacy_quote(router: Router) -> Any:
    """The legacy quote: Unicode upper case (the Go port only ASCII), and a discount
    rounded to the nearest cent (the port rounds down)."""

    @router.route(QUOTE)
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> dict[str, Any]:
        subtotal = unit_price_cents * quantity
        discount = round(subtotal / 10) if quantity >= 10 else 0
        return {
            "sku": "-".join(sku.split()).upper(),
            "subtotal_cents": subtotal,
            "discount_cents": discount,
            "total_cents": subtotal - discount,
            "currency": currency or "USD",
            "notes": ["volume discount 10%"] if discount else [],
        }

    return quote


def shadow(**settings: Any) -> RouteConfig:
    return RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig(**settings))


def quote_day(make_router: MakeRouter, folder: Path) -> None:
    router = make_router({QUOTE: shadow(inline=True)}, report_dir=folder)
    quote = legacy_quote(router)
    for _ in range(3):
        quote("émile", 11, 999, "EUR")
    for _ in range(2):
        quote("pear", 11, 999, "EUR")
    quote("pear", 1, 5, "")  # they agree
    assert router.flush() is not None


def test_the_table_names_both_sides_groups_and_shows_text(
    make_router: MakeRouter, tmp_path: Path
) -> None:
    quote_day(make_router, tmp_path)
    table = run("report", "--dir", str(tmp_path))
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    header = next(line for line in lines if "what differs" in line)
    assert "python != port" in header and "port (wasm)" in header, header
    assert "count" in header and "first seen" in header and "newest request" in header
    emile = next(line for line in lines if "'ÉMILE' != 'éMILE'" in line)
    pear = next(line for line in lines if "'PEAR'" in line or '"sku":"pear"' in line)
    assert emile.split()[0] == "3" and pear.split()[0] == "2", (emile, pear)
    assert "discount_cents: 1099 != 1098" in emile
    assert '{"sku":"émile","quantity":11,"unit_price_cents":999,"currency":"EUR"}' in emile
    assert "\\u00" not in table.stdout


def test_json_keeps_records_adds_groups_and_has_numbers(
    make_router: MakeRouter, tmp_path: Path
) -> None:
    quote_day(make_router, tmp_path)
    shown = run("report", "--dir", str(tmp_path), "--json")
    assert shown.exit_code == 0, shown.stderr
    assert "émile" in shown.stdout and "ÉMILE" in shown.stdout  # text as text
    assert "\\u00" not in shown.stdout
    payload = json.loads(shown.stdout)
    assert len(payload["mismatches"]) == 5 and (payload["counted"], payload["kept"]) == (5, 5)
    record = payload["mismatches"][-1]
    assert {"time", "method", "kind", "request", "python", "bridge", "differences"} <= set(record)
    assert record["port"] == "wasm"
    assert record["request"]["unit_price_cents"] == 999  # an int64: a number, not "999"
    assert json.loads(record["bridge"])["total_cents"] == 9891
    assert json.loads(record["python"])["total_cents"] == 9890
    groups = payload["groups"]
    assert [g["count"] for g in groups] == [3, 2]
    emile, pear = groups
    assert emile["first_seen"] < emile["last_seen"] <= pear["first_seen"]
    assert emile["example"]["request"]["sku"] == "émile" and emile["port"] == "wasm"
    assert emile["differences"][0] == "sku: 'ÉMILE' != 'éMILE'"
    assert payload["limits"]["records_per_method_per_process"] == 100

    # the report files hold the text as text, and read back the same
    [path] = tmp_path.glob("*.json")
    assert '"sku": "émile"' in path.read_text(encoding="utf-8")
    [report] = read_reports(tmp_path)
    assert report["mismatches"][0]["request"]["sku"] == "émile"


def test_a_sidecar_port_is_named(
    make_router: MakeRouter, sidecar: tuple[str, GuestServicer], tmp_path: Path
) -> None:
    target, _ = sidecar
    config = RouteConfig(mode=Mode("shadow"), candidate="sidecar", shadow=ShadowConfig(inline=True))
    router = make_router(
        {NORMALIZE: config}, sidecar=SidecarConfig(target=target), report_dir=tmp_path
    )
    legacy_normalize(router)("pear  2")
    assert router.flush() is not None
    table = run("report", "--dir", str(tmp_path))
    assert "port (sidecar)" in table.stdout, table.stdout
    assert json.loads(run("report", "--dir", str(tmp_path), "--json").stdout)["groups"][0][
        "port"
    ] == ("sidecar")


def test_caps_are_explained(make_router: MakeRouter, tmp_path: Path) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)}, report_dir=tmp_path)
    normalize_sku = legacy_normalize(router)
    for i in range(130):
        normalize_sku(f"sku  {i}")  # 130 different mismatches; the newest 100 are kept
    assert router.flush() is not None
    table = run("report", "--dir", str(tmp_path), "--mismatches", "4")
    assert table.exit_code == 0, table.stderr
    assert "the newest 4 of 100" in table.stdout
    assert "4 newest of 100 kinds of mismatch listed (--mismatches N lists more)" in table.stdout
    assert "100 of 130 mismatches kept as records (each process keeps the newest 100 per" in (
        table.stdout
    )
    assert "sku: 'SKU--129' != 'SKU-129'" in table.stdout
    assert "SKU--125" not in table.stdout  # older than the 4 newest
    payload = json.loads(
        run("report", "--dir", str(tmp_path), "--json", "--mismatches", "4").stdout
    )
    assert (payload["counted"], payload["kept"], len(payload["groups"])) == (130, 100, 4)


def test_the_differences_cap_is_explained(tmp_path: Path) -> None:
    # A record as a process writes it, with as many differences as a record keeps.
    differences = [f"field_{i}: {i} != {i + 1}" for i in range(20)]
    record = {"time": 1.0, "method": QUOTE, "kind": "value", "port": "wasm", "request": {}}
    row = {"method": QUOTE, "mode": "shadow", "side": "wasm", "calls": 1, "mismatches": 1}
    report = {"version": 1, "rows": [row], "mismatches": [{**record, "differences": differences}]}
    (tmp_path / "host-1-main.json").write_text(json.dumps(report))
    table = run("report", "--dir", str(tmp_path))
    assert "a record lists at most 20 differences" in table.stdout, table.stdout
    report["mismatches"][0]["differences"] = differences[:3]  # type: ignore[index]
    (tmp_path / "host-1-main.json").write_text(json.dumps(report))
    assert "at most 20" not in run("report", "--dir", str(tmp_path)).stdout


def bridge_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(BRIDGE_DIR)
    ]


def test_strict_mode_raises_one_line_from_the_routed_call(make_router: MakeRouter) -> None:
    router = make_router({QUOTE: shadow(strict=True)})
    quote = legacy_quote(router)
    with pytest.raises(ShadowMismatch) as caught:
        quote("émile", 11, 999, "EUR")
    exc = caught.value
    message = str(exc)
    assert "\n" not in message
    assert message == (
        f"{QUOTE}: python and the port (wasm) differ (python != port): "
        "sku: 'ÉMILE' != 'éMILE'; discount_cents: 1099 != 1098; total_cents: 9890 != 9891; "
        'request {"sku": "émile", "quantity": 11, "unit_price_cents": 999, "currency": "EUR"}'
    )
    # the plan and the comparison (four frames in bridge/ before) are not shown
    assert [f.name for f in bridge_frames(exc)] == ["routed_sync"]
    assert exc.__cause__ is None and exc.__suppress_context__
    assert exc.mismatch.kind == "value"  # type: ignore[attr-defined]


def test_strict_mode_when_only_python_raises(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(strict=True)})

    @router.route(NORMALIZE)
    def normalize_sku(sku: str) -> str:
        raise ValueError(f"no sku like {sku!r}")

    with pytest.raises(ShadowMismatch) as caught:
        normalize_sku("pear")
    message = str(caught.value)
    assert message == (
        f"{NORMALIZE}: python raised where the port (wasm) answered: "
        'python ValueError: no sku like \'pear\', port {"sku": "PEAR"}; '
        'request {"sku": "pear"}'
    )
    rendered = "".join(traceback.format_exception(caught.value))
    assert "During handling" not in rendered and len(bridge_frames(caught.value)) == 1


def test_strict_mode_in_async_code(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(strict=True)})

    @router.route(NORMALIZE)
    async def normalize_sku(sku: str) -> str:
        return sku.strip().upper().replace(" ", "-")

    with pytest.raises(ShadowMismatch, match=r"sku: 'PEAR--2' != 'PEAR-2'") as caught:
        asyncio.run(normalize_sku("pear  2"))
    assert [f.name for f in bridge_frames(caught.value)] == ["routed_async"]


def test_what_a_user_sees_of_a_strict_mismatch(
    go_pricing_wasm: Path, pricing_pb2: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "bridge.toml").write_text(
        f'[services]\n"{PRICING}" = "{go_pricing_wasm}"\n'
        f'[routes."{NORMALIZE}"]\nmode = "shadow"\nshadow = {{ strict = true }}\n'
    )
    (tmp_path / "legacy.py").write_text(
        "import bridge\nfrom pricing.v1 import pricing_pb2\n\n"
        f"@bridge.route('{NORMALIZE}')\n"
        "def normalize_sku(sku: str) -> str:\n"
        "    return sku.strip().upper().replace(' ', '-')\n\n"
        "normalize_sku('crème  brûlée')\n"
    )
    pb2_root = Path(str(pricing_pb2.__file__)).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{pb2_root}{os.pathsep}{ROOT}", "BRIDGE_CONFIG": ""}
    env["PYTHONIOENCODING"] = "utf-8"
    ran = subprocess.run(
        [sys.executable, "legacy.py"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    stderr = ran.stderr.decode()
    assert ran.returncode == 1, stderr
    frames = [line for line in stderr.splitlines() if line.lstrip().startswith('File "')]
    in_bridge = [line for line in frames if str(BRIDGE_DIR) in line]
    assert len(frames) == 2 and len(in_bridge) == 1, stderr  # the call and the wrapper
    assert stderr.splitlines()[-1] == (
        f"bridge.errors.ShadowMismatch: {NORMALIZE}: python and the port (wasm) differ "
        "(python != port): sku: 'CRÈME--BRÛLÉE' != 'CRèME-BRûLéE'; "
        'request {"sku": "crème  brûlée"}'
    )


def test_64_bit_integers_are_numbers_everywhere(kitchen_pb2: ModuleType) -> None:
    big = 2**63 - 1
    scalars = kitchen_pb2.Scalars(f_int64=-big, f_uint64=2**64 - 1, f_sint64=-5, f_int32=7)
    repeated = kitchen_pb2.Repeated(r_int64=[1, -(2**62)])
    repeated.r_message.add(f_int64=42)
    maps = kitchen_pb2.Maps()
    maps.m_int64[-3] = "three"
    maps.m_message_value["a"].f_int64 = 9
    maps.m_string["é"] = "text"
    presence = kitchen_pb2.Presence(c_int64=big)
    well_known = kitchen_pb2.WellKnown()
    well_known.w_int64.value = -big
    well_known.w_uint64.value = 2**64 - 1
    well_known.took.seconds = 3

    cases: list[tuple[Any, dict[str, Any]]] = [
        (scalars, {"f_int64": -big, "f_uint64": 2**64 - 1, "f_sint64": -5, "f_int32": 7}),
        (repeated, {"r_int64": [1, -(2**62)], "r_message": [{"f_int64": 42}]}),
        (maps, {"m_int64": {"-3": "three"}, "m_message_value": {"a": {"f_int64": 9}}}),
        (maps, {"m_string": {"é": "text"}}),
        (presence, {"c_int64": big}),
        (well_known, {"w_int64": -big, "w_uint64": 2**64 - 1, "took": "3s"}),
    ]
    for message, expected in cases:
        data = message_to_dict(message)
        assert {k: data[k] for k in expected} == expected
        # still protobuf's JSON mapping: it parses back to the same message
        assert json_format.ParseDict(data, type(message)()) == message


def test_the_log_line_names_the_sides_but_not_the_request(
    make_router: MakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)})
    with caplog.at_level(logging.INFO, logger="bridge.route"):
        legacy_normalize(router)("secret  2")
    [line] = [r.getMessage() for r in caplog.records if "shadow mismatch" in r.getMessage()]
    assert line == (
        f"shadow mismatch: {NORMALIZE}: python and the port (wasm) differ (python != port): "
        "sku: 'SECRET--2' != 'SECRET-2'"
    )


def test_a_nested_routes_mismatch_keeps_the_frames_through_the_legacy_code(
    make_router: MakeRouter,
) -> None:
    router = make_router({NORMALIZE: shadow(strict=True), QUOTE: shadow(inline=True)})
    normalize_sku = legacy_normalize(router)

    @router.route(QUOTE)
    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> dict[str, Any]:
        return {"sku": normalize_sku(sku), "subtotal_cents": unit_price_cents * quantity}

    with pytest.raises(ShadowMismatch) as caught:
        quote("pear  2", 1, 5, "EUR")
    assert caught.value.mismatch.method == NORMALIZE  # type: ignore[attr-defined]
    names = [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
    assert "quote" in names and names[-1] == "routed_sync", names
