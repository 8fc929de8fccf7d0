"""The shipped sources: pyproject.toml ships what bridge looks for, and bridge finds it."""

from __future__ import annotations

import sys
from pathlib import Path

from bridge import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_what_bridge_looks_for() -> None:
    hatch = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    wheel = hatch["targets"]["wheel"]
    assert set(wheel["only-include"]) == {"bridge", *resources.SHIPPED}
    assert wheel["sources"] == {tree: f"bridge/_sources/{tree}" for tree in resources.SHIPPED}
    assert set(resources.SHIPPED) <= set(hatch["targets"]["sdist"]["only-include"])


def test_a_checkout_is_its_own_source_root() -> None:
    assert resources.source_root() == ROOT
    assert resources.shipped("guest-go") == ROOT / "guest-go"


def test_copy_out_keeps_the_layout_and_leaves_build_output(tmp_path: Path) -> None:
    out = resources.copy_out(["examples/rust-pricing", "guest-rust"], tmp_path)
    assert (out / "examples" / "rust-pricing" / "Cargo.toml").is_file()
    assert (out / "guest-rust" / "src" / "lib.rs").is_file()
    assert not list(out.rglob("target"))
    # unchanged files are not rewritten, so the compilers' incremental builds hold
    lib = out / "guest-rust" / "src" / "lib.rs"
    before = lib.stat().st_mtime_ns
    resources.copy_out(["guest-rust"], tmp_path)
    assert lib.stat().st_mtime_ns == before
