"""The native test suites of the guest SDKs and examples (`go test`, `cargo test`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bridge.guest import toolchain
from tests.conftest import ROOT


def _run_suite(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("package", ["guest-go", "examples/go-pricing"])
def test_go(package: str) -> None:
    go = toolchain.find_go()
    if go is None:
        pytest.skip("needs Go >= 1.24 (scripts/bootstrap installs it)")
    env = go.env() | {"GOTOOLCHAIN": "local", "GOFLAGS": "-count=1"}
    assert "ok" in _run_suite([str(go.path), "test", "./..."], ROOT / package, env)


@pytest.mark.parametrize("package", ["guest-rust", "examples/rust-pricing"])
def test_rust(package: str) -> None:
    # Native tests need only a rustc with cargo; use the one that builds the guests so
    # that no newer cargo writes a lockfile the wasm builds cannot read.
    rust = toolchain.find_rust()
    if rust is None:
        pytest.skip("needs rustc with the wasm32 targets (scripts/bootstrap installs it)")
    cargo = str(rust.bin_dir / "cargo")
    stdout = _run_suite([cargo, "test", "--offline"], ROOT / package, rust.env())
    assert "test result: ok" in stdout
