"""Compile a guest project (Go or Rust) to a .wasm module in release mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from google.protobuf import descriptor_pb2

from ..errors import BuildError, ProjectError
from ..schema.embed import embed
from . import toolchain
from .toolchain import Toolchain

__all__ = ["BuildResult", "Language", "build", "detect_language", "is_go_command"]

# A guest build is bounded: a compiler that hangs must not hang `bridge build`.
BUILD_TIMEOUT_S = 600
# Enough of a failed compiler's output to show the error, not pages of it.
OUTPUT_TAIL_LINES = 40
GO_COMMAND_MARKER = "// bridge: command"
# What `bridge gen` writes beside the glue, and `bridge build` embeds into the module.
SCHEMA_FILE = "bridge-schema.binpb"


class Language(str, Enum):
    GO = "go"
    RUST = "rust"


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What one build made: where, how big, how long it took, with which compiler."""

    project: Path
    output: Path
    language: Language
    toolchain: Toolchain
    target: str
    size_bytes: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {
            "project": str(self.project),
            "output": str(self.output),
            "language": self.language.value,
            "toolchain": self.toolchain.label,
            "target": self.target,
            "size_bytes": self.size_bytes,
            "seconds": round(self.seconds, 3),
        }


def detect_language(project: Path) -> Language:
    """Go when the directory has go.mod, Rust when it has Cargo.toml."""
    if not project.is_dir():
        raise ProjectError(f"{project} is not a directory", path=str(project))
    is_go = (project / "go.mod").is_file()
    is_rust = (project / "Cargo.toml").is_file()
    if is_go and is_rust:
        raise ProjectError(
            f"{project} has both go.mod and Cargo.toml: pass --lang go or --lang rust",
            path=str(project),
        )
    if is_go:
        return Language.GO
    if is_rust:
        return Language.RUST
    raise ProjectError(
        f"{project} is neither a Go project (no go.mod) nor a Rust project (no Cargo.toml)",
        path=str(project),
    )


def build(
    project: Path,
    output: Path,
    *,
    language: Language | None = None,
    rust_target: str = toolchain.RUST_TARGETS[0],
    schema: bytes | None = None,
) -> BuildResult:
    """Build `project` into `output`; ProjectError, ToolchainError or BuildError on failure.

    The module gets the FileDescriptorSet `schema` in its `bridge.schema` custom section;
    without one, the `bridge-schema.binpb` files `bridge gen` wrote into the project.
    """
    project = project.resolve()
    language = language or detect_language(project)
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if language is Language.GO:
        found = toolchain.require_go()
        command = is_go_command(project)
        target = "wasip1/wasm command" if command else "wasip1/wasm"
        _build_go(project, output, found, command=command)
    else:
        found = toolchain.require_rust(rust_target)
        target = rust_target
        _build_rust(project, output, found, rust_target)
    if schema is None:
        schema = project_schema(project)
    if schema is not None:
        staged = output.with_name(f".{output.name}.schema")
        staged.write_bytes(embed(output.read_bytes(), schema))
        os.replace(staged, output)
    seconds = time.perf_counter() - started
    return BuildResult(
        project=project,
        output=output,
        language=language,
        toolchain=found,
        target=target,
        size_bytes=output.stat().st_size,
        seconds=seconds,
    )


def is_go_command(project: Path) -> bool:
    """go.mod has the line `// bridge: command`: a WASI program (_start), not a reactor.

    A bridge module is a reactor (`-buildmode=c-shared`: exports, `_initialize`); a
    command runs main once per request. Go source cannot tell the two apart, so the
    project says which it is.
    """
    lines = (project / "go.mod").read_text(encoding="utf-8").splitlines()
    return any(line.strip() == GO_COMMAND_MARKER for line in lines)


def project_schema(project: Path) -> bytes | None:
    """The schema `bridge gen` left in the project (several files merge into one set)."""
    found = sorted(
        p
        for p in project.rglob(SCHEMA_FILE)
        if not any(part in ("target", "build", ".git") for part in p.relative_to(project).parts)
    )
    if not found:
        return None
    merged = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()
    for path in found:
        for file in descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file:
            if file.name not in seen:
                seen.add(file.name)
                merged.file.append(file)
    return merged.SerializeToString(deterministic=True)


def _build_go(project: Path, output: Path, found: Toolchain, *, command: bool) -> None:
    env = found.env()
    # Never download a toolchain behind the user's back; go.mod says `go 1.24`.
    env.setdefault("GOTOOLCHAIN", "local")
    mode = [] if command else ["-buildmode=c-shared"]
    if found.name == "tinygo":
        argv = [str(found.path), "build", "-target=wasip1", *mode, "-no-debug"]
    else:
        env.update(GOOS="wasip1", GOARCH="wasm")
        # -w drops DWARF; the name section stays, so trap backtraces name Go functions.
        argv = [str(found.path), "build", *mode, "-trimpath", "-ldflags=-w"]
    # Write beside the output and rename, so a failed build never leaves half a module.
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".bridge-build-") as tmp:
        staged = Path(tmp) / output.name
        _run([*argv, "-o", str(staged), "."], project, env, "go build")
        os.replace(staged, output)


def _build_rust(project: Path, output: Path, found: Toolchain, target: str) -> None:
    cargo = found.bin_dir / "cargo"
    argv = [
        str(cargo),
        "build",
        "--release",
        "--target",
        target,
        "--message-format=json-render-diagnostics",
    ]
    stdout = _run(argv, project, found.env(), "cargo build")
    artifacts = [
        Path(name)
        for line in stdout.splitlines()
        if line.startswith("{")
        for message in [json.loads(line)]
        if message.get("reason") == "compiler-artifact"
        and "cdylib" in message.get("target", {}).get("crate_types", [])
        for name in message.get("filenames", [])
        if name.endswith(".wasm")
    ]
    if not artifacts:
        raise BuildError(
            f"cargo built no .wasm in {project}: the crate needs "
            '`[lib] crate-type = ["cdylib"]` in Cargo.toml'
        )
    staged = output.with_name(f".{output.name}.tmp")
    shutil.copyfile(artifacts[-1], staged)
    os.replace(staged, output)


def _run(argv: list[str], cwd: Path, env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what} in {cwd} did not finish in {BUILD_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        output = "\n".join(done.stderr.strip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise BuildError(f"{what} failed in {cwd} (exit status {done.returncode})", output=output)
    return done.stdout
