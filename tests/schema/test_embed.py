"""The schema inside the module: written by build, read by inspect and call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.errors import InvalidModule
from bridge.schema.compile import compile_protos
from bridge.schema.embed import SECTION_NAME, embed, embedded_schema, read_section
from tests.cli.conftest import assert_one_line_error, run
from tests.conftest import EXAMPLES, PRICING_PROTO, ROOT
from tests.wat import wat_module

PROTO_ROOT = ROOT / "proto" / "examples"


def test_embed_round_trip_and_the_module_still_runs(tmp_path: Path) -> None:
    path = wat_module(
        tmp_path, '(func (export "a.v1.S/M") (param i32 i32) (result i64) (i64.const 0))'
    )
    wasm = path.read_bytes()
    assert read_section(wasm) is None
    once = embed(wasm, b"first")
    twice = embed(once, b"second")  # replaces, never duplicates
    assert read_section(once) == b"first"
    assert read_section(twice) == b"second"
    assert len(twice) == len(once) + 1
    path.write_bytes(twice)
    with bridge.load(path, RuntimeConfig(cache_dir=None)) as guest:
        assert guest.call("a.v1.S/M", b"") == b""


def test_a_damaged_module_is_reported(tmp_path: Path) -> None:
    wasm = wat_module(tmp_path).read_bytes()
    with pytest.raises(InvalidModule, match="runs past the end"):
        read_section(embed(wasm, b"x" * 100)[:-10])
    with pytest.raises(InvalidModule, match="not a WebAssembly module"):
        read_section(b"not wasm")


def test_embedded_schema_is_the_compiled_one() -> None:
    data = compile_protos([PRICING_PROTO], [PROTO_ROOT])
    schema = embedded_schema(embed(b"\0asm\x01\0\0\0", data))
    assert schema is not None
    assert [m.full_name for m in schema.services["pricing.v1.Pricing"].methods] == [
        "pricing.v1.Pricing/Quote",
        "pricing.v1.Pricing/NormalizeSku",
        "pricing.v1.Pricing/Lookup",
    ]


@pytest.fixture(scope="module")
def described_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("described") / "pricing.wasm"
    ran = run(
        "build",
        str(EXAMPLES / "rust-pricing"),
        "-o",
        str(out),
        "--proto",
        str(PRICING_PROTO),
        "-I",
        str(PROTO_ROOT),
    )
    if ran.exit_code != 0 and "Rust cannot build" in ran.stderr:
        pytest.skip(ran.stderr.strip())
    assert ran.exit_code == 0, ran.stderr
    return out


def test_build_embeds_and_inspect_lists_the_types(described_wasm: Path) -> None:
    assert read_section(described_wasm.read_bytes()) is not None
    ran = run("inspect", str(described_wasm))
    assert ran.stdout.splitlines()[0].endswith("ABI v1, with its schema embedded")
    row = next(ln for ln in ran.stdout.splitlines() if "pricing.v1.Pricing/Quote" in ln)
    assert "pricing.v1.QuoteRequest" in row and "pricing.v1.QuoteResponse" in row
    described = json.loads(run("inspect", str(described_wasm), "--json").stdout)
    [service] = described["schema"]["services"]
    assert service["name"] == "pricing.v1.Pricing"
    assert service["methods"][2] == {
        "name": "pricing.v1.Pricing/Lookup",
        "request": "pricing.v1.LookupRequest",
        "response": "pricing.v1.LookupResponse",
    }


def test_call_with_json(described_wasm: Path) -> None:
    ran = run(
        "call",
        str(described_wasm),
        "pricing.v1.Pricing/Quote",
        '{"sku": "pear 2", "quantity": 12, "unit_price_cents": "75"}',
    )
    assert ran.exit_code == 0, ran.stderr
    # 64-bit integers as numbers (protobuf's JSON makes them strings), for people.
    assert json.loads(ran.stdout) == {
        "sku": "PEAR-2",
        "subtotal_cents": 900,
        "discount_cents": 90,
        "total_cents": 810,
        "currency": "USD",
        "notes": ["volume discount 10%"],
    }


def test_call_shows_text_as_text(described_wasm: Path) -> None:
    ran = run(
        "call", str(described_wasm), "pricing.v1.Pricing/Quote", '{"sku": "pêche 2", "quantity": 1}'
    )
    assert ran.exit_code == 0, ran.stderr
    assert "\\u" not in ran.stdout
    assert json.loads(ran.stdout)["sku"] in ran.stdout  # not escaped
    assert "Ê" in ran.stdout or "ê" in ran.stdout, ran.stdout


def test_call_with_json_errors(described_wasm: Path) -> None:
    lookup = "pricing.v1.Pricing/Lookup"
    assert_one_line_error(
        run("call", str(described_wasm), lookup, '{"sku": "kiwi"}'),
        'NOT_FOUND: sku "KIWI" not found',
    )
    assert_one_line_error(
        run("call", str(described_wasm), lookup, '{"colour": "red"}'),
        "the request is not a valid pricing.v1.LookupRequest in JSON",
    )
    assert_one_line_error(
        run("call", str(described_wasm), "pricing.v1.Pricing/Lokup", "{}"), "did you mean"
    )


def test_section_name_is_documented() -> None:
    assert f"`{SECTION_NAME}`" in (ROOT / "docs" / "abi.md").read_text()
