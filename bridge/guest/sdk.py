"""The guest SDKs: the copy this bridge ships, and the copy each guest project vendors.

A guest project made by `bridge init` holds its own copy of the SDK in `bridge-sdk/`
(go.mod: `replace bridge.dev/guest => ./bridge-sdk`; Cargo.toml: `path = "bridge-sdk"`),
so it builds on any machine with the toolchain: no bridge checkout, no absolute path,
no network. The copy carries a stamp, `bridge-sdk/bridge-sdk.toml`: the bridge and ABI
versions that wrote it, a digest of its files, and the `bridge gen` command that
refreshes it together with the glue (the two must come from the same bridge).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..abi import ABI_VERSION
from ..atomic import write_atomic
from ..errors import ProjectError
from ..resources import shipped
from .build import Language

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "STAMP_FILE",
    "VENDOR_DIR",
    "Stamp",
    "find_project",
    "gen_command",
    "sdk_dir",
    "sdk_files",
    "stale_reason",
    "vendor",
    "read_stamp",
]

VENDOR_DIR = "bridge-sdk"
STAMP_FILE = "bridge-sdk.toml"
_SHIPPED = {Language.GO: "guest-go", Language.RUST: "guest-rust"}
_MARKERS = {Language.GO: "go.mod", Language.RUST: "Cargo.toml"}


@dataclass(frozen=True, slots=True)
class Stamp:
    """What wrote a vendored SDK, and how to refresh it."""

    language: Language
    bridge: str
    abi: int
    digest: str
    gen: str


def sdk_dir(language: Language) -> Path:
    """The guest SDK this bridge ships (guest-go/ or guest-rust/ of its source tree)."""
    return shipped(_SHIPPED[language])


def sdk_files(root: Path, language: Language) -> dict[str, bytes]:
    """The SDK's sources under `root`, by relative path: what a project vendors.

    Tests and build output stay behind: a guest project needs what compiles.
    """
    if language is Language.GO:
        paths = [p for p in root.glob("*.go") if not p.name.endswith("_test.go")]
        paths += [root / "go.mod"]
    else:
        paths = [root / "Cargo.toml", *root.glob("src/**/*.rs")]
    paths += [p for p in [root / "README.md"] if p.is_file()]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(paths)}


def digest(files: dict[str, bytes]) -> str:
    """One sha256 over the files' names and contents."""
    hasher = hashlib.sha256()
    for name in sorted(files):
        hasher.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return f"sha256:{hasher.hexdigest()}"


def vendor(project: Path, language: Language, *, gen: str) -> Path:
    """Write or refresh `project/bridge-sdk/` with this bridge's SDK; the folder.

    Files whose content is already right are left alone, so incremental builds stay
    incremental; files the SDK no longer has are removed.
    """
    files = sdk_files(sdk_dir(language), language)
    folder = project / VENDOR_DIR
    # Deepest first, so that a folder emptied of stray files goes too.
    for existing in sorted(folder.rglob("*"), reverse=True) if folder.is_dir() else []:
        relative = existing.relative_to(folder).as_posix()
        if existing.is_dir():
            if not any(existing.iterdir()):
                existing.rmdir()
        elif relative not in files and relative != STAMP_FILE:
            existing.unlink()
    for name, data in files.items():
        target = folder / name
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    stamp = Stamp(language, __version__, ABI_VERSION, digest(files), gen)
    write_atomic(folder / STAMP_FILE, _stamp_text(stamp))
    return folder


def _stamp_text(stamp: Stamp) -> str:
    return "\n".join(
        [
            "# The bridge guest SDK, vendored by `bridge init`; `bridge gen` refreshes it",
            "# together with the glue. Do not edit these files: a refresh replaces them.",
            f"language = {json.dumps(stamp.language.value)}",
            f"bridge = {json.dumps(stamp.bridge)}",
            f"abi = {stamp.abi}",
            f"digest = {json.dumps(stamp.digest)}",
            "# Run in the project's folder, after a schema change or a bridge upgrade:",
            f"gen = {json.dumps(stamp.gen)}",
            "",
        ]
    )


def read_stamp(project: Path) -> Stamp | None:
    """The stamp of `project`'s vendored SDK; None when the project vendors none."""
    path = project / VENDOR_DIR / STAMP_FILE
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Stamp(
            Language(data["language"]),
            str(data["bridge"]),
            int(data["abi"]),
            str(data["digest"]),
            str(data.get("gen", "")),
        )
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as exc:
        raise ProjectError(
            f"{path} is not a bridge SDK stamp ({exc}): run `bridge gen` with --go-out or "
            "--rust-out into this project to write it again",
            path=str(path),
        ) from exc


def stale_reason(project: Path) -> str | None:
    """Why `project`'s vendored SDK is not the one this bridge ships, or None.

    None too for a project that vendors no SDK (it points at one of its own).
    """
    stamp = read_stamp(project)
    if stamp is None:
        return None
    folder = project / VENDOR_DIR
    ours = digest(sdk_files(sdk_dir(stamp.language), stamp.language))
    theirs = digest(sdk_files(folder, stamp.language))
    if ours == theirs:
        return None
    if stamp.bridge != __version__:
        why = f"is the guest SDK of bridge {stamp.bridge}, and this is bridge {__version__}"
    elif theirs != stamp.digest:
        why = "was edited since bridge wrote it"
    else:
        why = f"differs from the guest SDK of this bridge ({__version__})"
    how = (
        f"refresh it with the glue, in {project}: {stamp.gen}"
        if stamp.gen
        else (f"refresh it with `bridge gen` (--{stamp.language.value}-out into {project})")
    )
    return f"{folder} {why}: {how}"


def find_project(glue_dir: Path, language: Language) -> Path | None:
    """The guest project that holds the glue directory `glue_dir` (it or a parent)."""
    marker = _MARKERS[language]
    for folder in [glue_dir, *glue_dir.resolve().parents][:3]:
        if (folder / marker).is_file():
            return folder
    return None


def gen_command(
    language: Language,
    protos: Sequence[Path],
    includes: Sequence[Path],
    glue_dir: Path,
    project: Path,
    *,
    extra: Sequence[str] = (),
) -> str:
    """The `bridge gen` command that rewrites this glue, to run in the project's folder.

    Paths are relative to the project, so the command holds on any machine where the
    schema sits at the same place beside the project.
    """

    def rel(path: Path) -> str:
        return shlex.quote(os.path.relpath(path.resolve(), project.resolve()))

    flag = "--go-out" if language is Language.GO else "--rust-out"
    words = [
        "bridge gen",
        *(f"-I {rel(i)}" for i in includes),
        *(rel(p) for p in protos),
        f"{flag} {rel(glue_dir)}",
        *extra,
    ]
    return " ".join(words)
