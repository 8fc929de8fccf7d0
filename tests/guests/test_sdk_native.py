"""The native test suites of the guest SDKs and examples (`go test`, `cargo test`)."""

from __future__ import annotations

import subprocess

import pytest

from bridge.guest import toolchain
from tests.conftest import ROOT


@pytest.mark.parametrize("package", ["guest-go", "examples/go-pricing"])
def test_go(package: str) -> None:
    go = toolchain.find_go()
    if go is None:
        pytest.skip("needs Go >= 1.24 (scripts/bootstrap installs it)")
    env = go.env() | {"GOTOOLCHAIN": "local", "GOFLAGS": "-count=1"}
    done = subprocess.run(
        [str(go.path), "test", "./..."],
        cwd=ROOT / package,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout


def test_guest_rust() -> None:
    # Native tests need only a rustc with cargo; use the one that builds the guests so
    # that no newer cargo writes a lockfile the wasm builds cannot read.
    rust = toolchain.find_rust()
    if rust is None:
        pytest.skip("needs rustc with the wasm32 targets (scripts/bootstrap installs it)")
    done = subprocess.run(
        [str(rust.bin_dir / "cargo"), "test", "--offline"],
        cwd=ROOT / "guest-rust",
        env=rust.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test result: ok" in done.stdout
