"""What bridge ships besides its Python code: the guest SDKs and the guests of `bridge bench`.

A wheel carries them under bridge/_sources/ (pyproject.toml maps them there); a source
checkout, which an editable install runs from, has them at the top of the repository.
Both trees have the same layout, so the crates' relative paths (`../../guest-rust`)
hold in either, and every command finds them the same way, from any folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .atomic import write_atomic
from .errors import ProjectError

__all__ = ["SHIPPED", "copy_out", "shipped", "source_root", "user_cache_dir"]

#: Every tree the wheel carries, relative to the source root; pyproject.toml's
#: `only-include` and `sources` list the same (a test checks that they agree).
SHIPPED = (
    "guest-go",
    "guest-rust",
    "examples/rust-pricing",
    "bench/extism-pricing",
    "examples/go-routeguide",
    "proto/examples/pricing",
)
_IN_WHEEL = "_sources"


def source_root() -> Path:
    """The tree that holds the shipped sources: bridge/_sources/, else the checkout."""
    package = Path(__file__).resolve().parent
    wheel = package / _IN_WHEEL
    if wheel.is_dir():
        return wheel
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / SHIPPED[0]).is_dir():
        return checkout
    raise ProjectError(
        f"this installation of bridge has no guest SDKs ({wheel} is missing): "
        "reinstall it with `pip install --force-reinstall bridge-wasm`",
        path=str(wheel),
    )


def shipped(relative: str | Path) -> Path:
    """A shipped file or folder (e.g. `guest-go`); ProjectError if this install lacks it."""
    path = source_root() / relative
    if not path.exists():
        raise ProjectError(
            f"this installation of bridge lacks {relative} (looked in {path.parent}): "
            "reinstall it with `pip install --force-reinstall bridge-wasm`",
            path=str(path),
        )
    return path


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/bridge`, else `~/.cache/bridge`: compiled modules, bench builds."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bridge"


def copy_out(relatives: Sequence[str | Path], destination: Path) -> Path:
    """Copy shipped trees into `destination`, keeping their layout; `destination`.

    Builds then run in a folder of the user's, never in the install (which may be
    read-only, and must stay as pip left it). Files already there with the same content
    are left alone, so that the build tools' incremental builds stay incremental.
    """
    for relative in relatives:
        source = shipped(relative)
        for path in sorted(source.rglob("*")):
            parts = path.relative_to(source).parts
            if not path.is_file() or "target" in parts or path.name == "Cargo.lock":
                continue
            target = destination / relative / Path(*parts)
            data = path.read_bytes()
            if target.is_file() and target.read_bytes() == data:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data)
    return destination
