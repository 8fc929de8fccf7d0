"""`bridge init`: create a guest project once, around one service of a schema.

A project is the user's own files (go.mod and main.go, or Cargo.toml, build.rs and
src/lib.rs, and its .gitignore and .gitattributes), written once and never again, plus
what `bridge gen` may rewrite at any time: the glue, the schema it embeds, and the
vendored guest SDK (bridge/guest/sdk.py). The user file's methods answer UNIMPLEMENTED
until written. Nothing written names a path outside the project.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomic
from ..codegen import go, rust, write_files
from ..codegen.base import GeneratedFile, template_env
from ..errors import ProjectError
from ..schema.model import Schema
from . import sdk
from .build import SCHEMA_FILE, Language

__all__ = ["InitResult", "init_project"]

GO_PACKAGE = "bridgegen"
RUST_MODULE = "bridge_gen"


@dataclass(frozen=True, slots=True)
class InitResult:
    """What `bridge init` wrote; the last user file is the one to write the methods in."""

    project: Path
    language: Language
    user_files: tuple[Path, ...]
    generated_files: tuple[Path, ...]


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
    glue_dir = project / (GO_PACKAGE if language is Language.GO else "src")
    # Go exports are fixed when the module is compiled: the glue, now and at every
    # refresh, exports this service only (Rust's export macro does that in lib.rs).
    extra = [f"--service {shlex.quote(service)}"] if language is Language.GO else []
    gen_command = sdk.gen_command(language, protos, includes, glue_dir, project, extra=extra)
    if language is Language.GO:
        view_go = go.service_view(schema, service, package=GO_PACKAGE)
        module = f"bridge.local/{name}"
        user = [
            GeneratedFile("go.mod", env.get_template("project/go.mod.j2").render(module=module)),
            GeneratedFile(
                "main.go",
                env.get_template("project/main.go.j2").render(
                    name=name,
                    module=module,
                    package=GO_PACKAGE,
                    service=view_go,
                    gen_command=gen_command,
                ),
            ),
        ]
        glue = go.emit(schema, package=GO_PACKAGE, services=[service])
        generated = [f"/{GO_PACKAGE}/**", f"/{sdk.VENDOR_DIR}/**"]
        ignored = ["*.wasm"]
    else:
        view_rust = rust.service_view(schema, service, module=RUST_MODULE)
        context = {
            "name": name.replace("_", "-"),
            "service": view_rust,
            "module": RUST_MODULE,
            "gen_command": gen_command,
        }
        user = [
            GeneratedFile("Cargo.toml", env.get_template("project/Cargo.toml.j2").render(context)),
            GeneratedFile("build.rs", env.get_template("project/build.rs.j2").render(context)),
            GeneratedFile("src/lib.rs", env.get_template("project/lib.rs.j2").render(context)),
        ]
        glue = rust.emit(schema, module=RUST_MODULE)
        generated = [f"/src/{RUST_MODULE}.rs", f"/src/{SCHEMA_FILE}", f"/{sdk.VENDOR_DIR}/**"]
        ignored = ["/target/", "*.wasm"]
    user_files = write_files([*_git_files(generated, ignored), *user], project)
    written = write_files(glue, glue_dir)
    write_atomic(glue_dir / SCHEMA_FILE, schema.descriptor_set)
    vendored = sdk.vendor(project, language, gen=gen_command)
    return InitResult(
        project=project,
        language=language,
        user_files=tuple(user_files),
        generated_files=(*written, glue_dir / SCHEMA_FILE, vendored),
    )


def _git_files(generated: list[str], ignored: list[str]) -> list[GeneratedFile]:
    """.gitignore and .gitattributes: the project is committed whole, generated files
    included (it then builds from a clone with the toolchain alone), and reviews fold
    the generated ones."""
    return [
        GeneratedFile(
            ".gitignore",
            "# Build output; everything else in this folder is committed.\n"
            + "".join(f"{pattern}\n" for pattern in ignored),
        ),
        GeneratedFile(
            ".gitattributes",
            "# Written by bridge (`bridge gen` refreshes them): folded in reviews.\n"
            + "".join(f"{pattern} linguist-generated=true\n" for pattern in generated),
        ),
    ]


def _project_name(project: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", project.resolve().name).strip("_").lower()
    return name or "guest"
