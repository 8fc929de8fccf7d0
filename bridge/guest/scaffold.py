"""`bridge init`: create a guest project once, around one service of a schema.

A project is the user's own files (go.mod and main.go, or Cargo.toml, build.rs and
src/lib.rs), written once and never again, plus the generated glue that `bridge gen`
may rewrite at any time. The user file's methods answer UNIMPLEMENTED until written.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..codegen import go, rust, write_files
from ..codegen.base import GeneratedFile, template_env
from ..errors import ProjectError
from ..schema.model import Schema
from .build import SCHEMA_FILE, Language

__all__ = ["InitResult", "init_project", "sdk_path"]

GO_PACKAGE = "bridgegen"
RUST_MODULE = "bridge_gen"


@dataclass(frozen=True, slots=True)
class InitResult:
    project: Path
    language: Language
    user_files: tuple[Path, ...]
    generated_files: tuple[Path, ...]


def sdk_path(language: Language) -> Path:
    """The guest SDK in the bridge checkout this package runs from."""
    root = Path(__file__).resolve().parent.parent.parent
    sdk = root / ("guest-go" if language is Language.GO else "guest-rust")
    if not sdk.is_dir():
        raise ProjectError(
            f"the {language.value} guest SDK is not at {sdk}: bridge init needs the bridge "
            "source checkout (its guest-go/ and guest-rust/)",
            path=str(sdk),
        )
    return sdk


def init_project(
    language: Language,
    schema: Schema,
    service: str,
    project: Path,
    *,
    protos: Sequence[Path],
    includes: Sequence[Path],
) -> InitResult:
    """Write a new project for `service` into `project` (which must not hold one yet)."""
    host = next((s for s in schema.host_services() if s.full_name == service), None)
    if host is not None:
        raise ProjectError(
            f"{service} is a host service (option (bridge.host) = true): Python implements "
            f"it, and guests call it through the generated {host.name}Client",
            path=str(project),
        )
    if service not in {s.full_name for s in schema.target_services()}:
        known = [s.full_name for s in schema.target_services()]
        close = difflib.get_close_matches(service, known, n=1)
        hint = (
            f"did you mean {close[0]}?" if close else f"the schema has {', '.join(known) or 'none'}"
        )
        raise ProjectError(f"no service {service} in the schema: {hint}", path=str(project))
    for marker in ("go.mod", "Cargo.toml"):
        if (project / marker).exists():
            raise ProjectError(
                f"{project} already holds a project ({marker}); run `bridge gen` to refresh "
                "its glue, bridge init never overwrites",
                path=str(project),
            )
    project.mkdir(parents=True, exist_ok=True)
    name = _project_name(project)
    env = template_env(language.value)
    gen_out = f"{project}/{GO_PACKAGE}" if language is Language.GO else f"{project}/src"
    flag = "--go-out" if language is Language.GO else "--rust-out"
    gen_args = " ".join(
        [*(f"-I {shlex.quote(str(i))}" for i in includes), *map(str, protos), flag, gen_out]
    )
    if language is Language.GO:
        view_go = go.service_view(schema, service, package=GO_PACKAGE)
        module = f"bridge.local/{name}"
        user = [
            GeneratedFile(
                "go.mod",
                env.get_template("project/go.mod.j2").render(
                    module=module, guest_go=sdk_path(language)
                ),
            ),
            GeneratedFile(
                "main.go",
                env.get_template("project/main.go.j2").render(
                    name=name, module=module, package=GO_PACKAGE, service=view_go, gen_args=gen_args
                ),
            ),
        ]
        glue_dir = project / GO_PACKAGE
        glue = go.emit(schema, package=GO_PACKAGE)
    else:
        view_rust = rust.service_view(schema, service, module=RUST_MODULE)
        context = {
            "name": name.replace("_", "-"),
            "service": view_rust,
            "module": RUST_MODULE,
            "guest_rust": sdk_path(language),
            "gen_args": gen_args,
        }
        user = [
            GeneratedFile("Cargo.toml", env.get_template("project/Cargo.toml.j2").render(context)),
            GeneratedFile("build.rs", env.get_template("project/build.rs.j2").render(context)),
            GeneratedFile("src/lib.rs", env.get_template("project/lib.rs.j2").render(context)),
        ]
        glue_dir = project / "src"
        glue = rust.emit(schema, module=RUST_MODULE)
    user_files = write_files(user, project)
    generated = write_files(glue, glue_dir)
    (glue_dir / SCHEMA_FILE).write_bytes(schema.descriptor_set)
    return InitResult(
        project=project,
        language=language,
        user_files=tuple(user_files),
        generated_files=(*generated, glue_dir / SCHEMA_FILE),
    )


def _project_name(project: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", project.resolve().name).strip("_").lower()
    return name or "guest"
