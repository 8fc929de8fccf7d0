"""The `bridge` command: a thin layer over the library; errors become one line and an exit code."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from . import _output as out
from ._version import __version__
from .errors import BridgeError, BuildError, ConfigError

__all__ = ["main"]

EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug in bridge, not in the user's input

# The include path of every command that compiles .proto files, as protoc spells it.
include_option = click.option(
    "-I",
    "--include",
    "includes",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Where .proto files and their imports are found (repeatable) [default: each "
    "file's own directory].",
)


class BridgeGroup(click.Group):
    """Turns every BridgeError into one line on stderr and its exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except BridgeError as exc:
            if debug:
                raise
            output = getattr(exc, "output", "")
            if isinstance(exc, BuildError) and output:
                click.echo(output, err=True)
            # escape: a message may hold brackets (set[int]) that rich would take as markup
            out.err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            out.err_console.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                "(run with --debug for the traceback, and please report it)",
                markup=True,
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=BridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bridge")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Move Python functions to Go or Rust through WebAssembly, one at a time.

    \b
    Example, from a schema to a call:
      bridge doctor --require rust
      bridge init rust proto/pricing.proto --service pricing.v1.Pricing --dir guest
      bridge build guest -o build/pricing.wasm     (after writing guest/src/lib.rs)
      bridge call build/pricing.wasm pricing.v1.Pricing/Quote '{"sku": "pear"}'
      bridge gen proto/pricing.proto --python-out app/gen --rust-out guest/src
    """


@cli.command()
@click.argument("protos", nargs=-1, required=True, type=click.Path(path_type=Path))
@include_option
@click.option(
    "--python-out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write *_pb2.py, *_pb2_grpc.py and .pyi here.",
)
@click.option(
    "--go-out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the Go glue package here (a directory of the guest project).",
)
@click.option("--go-package", default="bridgegen", show_default=True, help="The Go package name.")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="PKG.SERVICE",
    help="Go: the service the guest implements; only its methods are exported (repeat "
    "for more; default: every service). Rust exports where the crate invokes a service's "
    "export macro.",
)
@click.option(
    "--rust-out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the Rust glue module here (the crate's src/).",
)
@click.option(
    "--rust-module", default="bridge_gen", show_default=True, help="The Rust module name."
)
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
def gen(
    protos: tuple[Path, ...],
    includes: tuple[Path, ...],
    python_out: Path | None,
    go_out: Path | None,
    go_package: str,
    services: tuple[str, ...],
    rust_out: Path | None,
    rust_module: str,
    as_json: bool,
) -> None:
    """Generate Python stubs and Go/Rust guest glue from .proto files.

    Python: grpcio-tools' standard modules. Go and Rust: message types with their
    protobuf codecs, a handler interface (Go) or trait (Rust) per service, and the
    export shims of ABI v1; plus bridge-schema.binpb, which `bridge build` embeds.
    Generated files say so in their first line and never hold user code: run gen again
    whenever the schema changes. When --go-out or --rust-out is the glue directory of a
    project made by `bridge init`, the project's vendored guest SDK (bridge-sdk/) is
    refreshed too, so that glue and SDK come from the same bridge.

    \b
    Example:
      bridge gen -I proto proto/pricing/v1/pricing.proto \\
          --python-out app/gen --go-out guest/bridgegen
    """
    from .atomic import write_atomic
    from .codegen import python as python_emitter
    from .codegen import write_files
    from .codegen.base import remove_stale
    from .guest import sdk
    from .guest.build import SCHEMA_FILE, Language
    from .schema import Schema

    if not (python_out or go_out or rust_out):
        raise click.UsageError("name at least one of --python-out, --go-out, --rust-out")
    schema = Schema.compile(protos, includes)
    written: list[tuple[Path, str]] = []
    if python_out:
        written += [(p, "python") for p in write_files(python_emitter.emit(schema), python_out)]
    glue = []
    if go_out:
        from .codegen import go

        extra = [] if go_package == "bridgegen" else [f"--go-package {go_package}"]
        extra += [f"--service {shlex.quote(s)}" for s in services]
        files = go.emit(schema, package=go_package, services=list(services) or None)
        glue.append((go_out, Language.GO, files, extra))
    if rust_out:
        from .codegen import rust

        extra = [] if rust_module == "bridge_gen" else [f"--rust-module {rust_module}"]
        glue.append((rust_out, Language.RUST, rust.emit(schema, module=rust_module), extra))
    removed: list[Path] = []
    for out_dir, language, files, extra in glue:
        written += [(p, language.value) for p in write_files(files, out_dir)]
        if language is Language.GO:
            removed += remove_stale(files, out_dir, "*.bridge.go")
        schema_path = out_dir / SCHEMA_FILE
        write_atomic(schema_path, schema.descriptor_set)
        written.append((schema_path, "schema"))
        # A project made by `bridge init` vendors the SDK its glue is written against.
        project = sdk.find_project(out_dir, language)
        if project is not None and sdk.read_stamp(project) is not None:
            command = sdk.gen_command(language, protos, includes, out_dir, project, extra=extra)
            written.append((sdk.vendor(project, language, gen=command), "sdk"))
    if as_json:
        out.print_json(
            {
                "files": [{"path": str(p), "kind": k, "bytes": _bytes(p)} for p, k in written],
                "removed": [str(p) for p in removed],
            }
        )
        return
    out.print_table(
        ["file", "kind", "size"],
        [[_relative(p), kind, _size(_bytes(p))] for p, kind in written]
        + [[_relative(p), "removed: no longer generated", "-"] for p in removed],
    )


@cli.command()
@click.argument("functions", nargs=-1, required=True, metavar="MODULE:FUNCTION...")
@click.option("--package", required=True, help="The protobuf package: shop.v1.")
@click.option("--service", required=True, help="The service's name in the package: Pricing.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The .proto to write; if it exists, its field numbers are kept.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the file would change.")
@click.option("--json", "as_json", is_flag=True, help="Print what was derived as JSON.")
def proto(
    functions: tuple[str, ...],
    package: str,
    service: str,
    output: Path,
    check: bool,
    as_json: bool,
) -> None:
    """Derive a .proto from Python functions' type hints, as @bridge.route binds them.

    Each function becomes an rpc named in CamelCase (line_total: LineTotal); its
    parameters are the request's fields; a dataclass, NamedTuple or TypedDict result
    is the response's fields, any other result its one field, `result`. Modules are
    imported from the current directory. Run it again after a signature change: fields
    keep their numbers, new ones get new numbers, removed ones are reserved.

    \b
    Example:
      bridge proto shopapp.pricing:vat_cents shopapp.pricing:line_total \\
          --package shop.v1 --service Pricing -o proto/shop/v1/pricing.proto
      bridge gen proto/shop/v1/pricing.proto -I proto --python-out shopapp/gen
    """
    from .atomic import write_atomic
    from .schema.derive import derive, load_function
    from .schema.numbering import assign_numbers, read_previous

    derived = derive([(f, load_function(f)) for f in functions], package, service)
    derived.header = (
        "Derived by `bridge proto` from the type hints of Python functions; run it again "
        "after a\nsignature change (field numbers are kept):\n"
        f"  bridge proto {' '.join(functions)} --package {package} --service {service} "
        f"-o {output}"
    )
    previous = read_previous(output)
    changes = assign_numbers(derived, previous)
    text = derived.text()
    changed = not output.exists() or output.read_text(encoding="utf-8") != text
    if not check and changed:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(output, text)
    if as_json:
        out.print_json(
            {
                "file": str(output),
                "written": changed and not check,
                "changed": changed,
                "package": package,
                "service": service,
                "rpcs": [
                    {
                        "name": r.name,
                        "function": r.function,
                        "request": r.request,
                        "response": r.response,
                    }
                    for r in derived.rpcs
                ],
                "messages": [m.name for m in derived.messages],
                "enums": [e.name for e in derived.enums],
                "added": [{"message": m, "field": f, "number": n} for m, f, n in changes.added],
                "reserved": [
                    {"message": m, "field": f, "number": n} for m, f, n in changes.reserved
                ],
                "dropped": {
                    "messages": changes.dropped_messages,
                    "enums": changes.dropped_enums,
                    "rpcs": changes.dropped_rpcs,
                },
            }
        )
    else:
        rows = []
        for rpc in derived.rpcs:
            request, response = derived.message(rpc.request), derived.message(rpc.response)
            rows.append(
                [
                    f"{package}.{service}/{rpc.name}",
                    rpc.function,
                    ", ".join(f.name for f in request.fields) or "-",
                    ", ".join(f.name for f in response.fields) or "-",
                ]
            )
        out.print_table(["rpc", "function", "request", "response"], rows)
        for message, field, number in changes.reserved:
            out.err_console.print(f"reserved {message}.{field} = {number}", markup=False)
        for kind, names in (
            ("message", changes.dropped_messages),
            ("enum", changes.dropped_enums),
            ("rpc", changes.dropped_rpcs),
        ):
            for name in names:
                out.err_console.print(
                    f"dropped {kind} {name}: no function derives it now", markup=False
                )
        verb = "would change" if check else "written"
        out.err_console.print(
            f"{_relative(output)}: {verb if changed else 'unchanged'}", markup=False
        )
    if check and changed:
        sys.exit(1)


@cli.command()
@click.argument("language", type=click.Choice(["go", "rust"]))
@click.argument("protos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--service", required=True, help="The service to implement: pkg.Service.")
@click.option(
    "--dir",
    "project",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The new project's directory (it must not hold a project yet).",
)
@include_option
def init(
    language: str,
    protos: tuple[Path, ...],
    service: str,
    project: Path,
    includes: tuple[Path, ...],
) -> None:
    """Create a Go or Rust guest project that implements one service of a schema.

    It writes the files that are yours once (go.mod and main.go, or Cargo.toml, build.rs
    and src/lib.rs, with a .gitignore), whose methods answer UNIMPLEMENTED until you
    write them, and beside them the generated glue and a copy of the guest SDK
    (bridge-sdk/), so that the project builds on any machine with the toolchain alone:
    commit all of it. It never overwrites a project: refresh the glue and the SDK of an
    existing one with the `bridge gen` command written at the top of main.go or lib.rs.

    \b
    Example:
      bridge init rust proto/pricing/v1/pricing.proto -I proto \\
          --service pricing.v1.Pricing --dir guests/pricing
      bridge build guests/pricing -o build/pricing.wasm
    """
    from .guest.build import Language
    from .guest.scaffold import init_project
    from .schema import Schema

    schema = Schema.compile(protos, includes)
    result = init_project(
        Language(language), schema, service, project, protos=protos, includes=includes
    )
    rows = [[_relative(p), "yours: edit it"] for p in result.user_files]
    rows += [[_relative(p), "generated: bridge gen rewrites it"] for p in result.generated_files]
    out.print_table(["file", ""], rows)
    out.err_console.print(
        f"next: implement {service} in {_relative(result.user_files[-1])}, "
        f"then: bridge build {project}"
    )


@cli.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the module [default: build/<project name>.wasm].",
)
@click.option(
    "--lang",
    type=click.Choice(["go", "rust"]),
    help="The project's language, when its directory does not say.",
)
@click.option(
    "--rust-target",
    type=click.Choice(["wasm32-unknown-unknown", "wasm32-wasi"]),
    default="wasm32-unknown-unknown",
    show_default=True,
    help="The Rust target; wasm32-unknown-unknown imports nothing at all.",
)
@click.option(
    "--proto",
    "protos",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Embed this schema in the module (repeatable); by default the one `bridge gen` "
    "wrote into the project, if any.",
)
@include_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def build(
    project: Path,
    output: Path | None,
    lang: str | None,
    rust_target: str,
    protos: tuple[Path, ...],
    includes: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Compile a Go or Rust guest project to a .wasm module (release mode).

    Go projects (go.mod) build with TinyGo when it is on PATH, else with Go >= 1.24;
    Rust projects (Cargo.toml, crate-type cdylib) with a rustc that has the wasm32 target.
    The schema is embedded in the module, so that inspect, call and serve need no .proto.

    \b
    Example:
      bridge build examples/rust-pricing -o build/rust-pricing.wasm \\
          --proto proto/examples/pricing/v1/pricing.proto -I proto/examples
    """
    from .guest import sdk
    from .guest.build import Language
    from .guest.build import build as build_project
    from .schema.compile import compile_protos

    output = output or Path("build") / f"{project.resolve().name}.wasm"
    language = Language(lang) if lang else None
    schema = compile_protos(protos, includes) if protos else None
    stale = sdk.stale_reason(project) if project.is_dir() else None
    if stale is not None:
        out.warn(stale)
    with out.progress(f"building {project} ..."):
        result = build_project(
            project, output, language=language, rust_target=rust_target, schema=schema
        )
    compiled = _precompile(result.output)
    if as_json:
        out.print_json(
            {**result.to_json(), "compile_seconds": compiled, "warnings": [stale] if stale else []}
        )
        return
    out.print_table(
        ["module", "language", "toolchain", "target", "size", "time", "compiled"],
        [
            [
                _relative(result.output),
                result.language.value,
                result.toolchain.label,
                result.target,
                _size(result.size_bytes),
                f"{result.seconds:.1f} s",
                "cache off" if compiled is None else f"{compiled:.1f} s",
            ]
        ],
    )


def _precompile(module: Path) -> float | None:
    """Compile a fresh build into the compile cache, so that its first load is a cache
    hit rather than a compile (seconds for a Go module); None when the cache is off."""
    from .config import load_config
    from .runtime.engine import compile_file

    try:
        runtime = load_config().runtime  # the settings routes will load it with
    except ConfigError as exc:
        out.warn(f"not compiled for the cache: {exc}")
        return None
    if runtime.cache_dir is None:
        return None
    began = time.perf_counter()
    with out.progress(f"compiling {_relative(module)} for the compile cache ..."):
        compile_file(module, runtime)
    return round(time.perf_counter() - began, 3)


@cli.command()
@click.argument("module", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect(module: Path, as_json: bool) -> None:
    """Show what a .wasm module is: ABI version, methods, exports and imports.

    Modules that are not bridge modules are described too (a WASI command, or a module
    of plain exports), and the first line says so.

    \b
    Example:
      bridge inspect build/go-pricing.wasm --json
    """
    from .config import RuntimeConfig
    from .runtime.engine import compile_file, read_wasm
    from .runtime.interface import ModuleKind, describe
    from .schema.embed import embedded_schema

    with out.progress_if_slow(f"compiling {_relative(module)} ..."):
        interface = describe(compile_file(module, RuntimeConfig.from_env()))
    schema = embedded_schema(read_wasm(module), module)
    methods = {
        m.full_name: m for s in (schema.services.values() if schema else ()) for m in s.methods
    }
    if as_json:
        described = {"module": str(module), **interface.to_json()}
        described["schema"] = None
        if schema is not None:
            described["schema"] = {
                "services": [
                    {
                        "name": service.full_name,
                        "host": service.host,
                        "methods": [
                            {"name": m.full_name, "request": m.input, "response": m.output}
                            for m in service.methods
                        ],
                    }
                    for service in schema.services.values()
                ]
            }
        out.print_json(described)
        return
    if interface.kind is ModuleKind.BRIDGE:
        version = interface.abi_version
        with_schema = "with its schema embedded" if schema else "without an embedded schema"
        out.out_console.print(f"{module}: a bridge module, ABI v{version}, {with_schema}")
    else:
        out.out_console.print(f"{module}: not a bridge module: {interface.kind.describe()}")
    if interface.methods:
        rows = []
        for name in interface.methods:
            method = methods.get(name)
            rows.append([name, method.input if method else "?", method.output if method else "?"])
        out.print_table(["method", "request", "response"], rows, title="methods")
    out.print_table(
        ["export", "kind", "type"],
        [[e.name, e.kind, e.signature] for e in interface.exports],
        title="exports",
    )
    if interface.imports:
        out.print_table(
            ["import", "kind", "type"],
            [[i.qualified, i.kind, i.signature] for i in interface.imports],
            title="imports",
        )


# Negative numbers are arguments, not options: `bridge call m.wasm add -5 3`.
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("module", type=click.Path(path_type=Path))
@click.argument("method", required=False)
@click.argument("args", nargs=-1)
@click.option(
    "--raw",
    is_flag=True,
    help="Bridge modules: the request is protobuf bytes on stdin, the response's bytes "
    "go to stdout.",
)
@click.option("--json", "as_json", is_flag=True, help="Plain exports: print the result as JSON.")
def call(module: Path, method: str | None, args: tuple[str, ...], raw: bool, as_json: bool) -> None:
    """Call a module in-process: a bridge method, a plain export, or a WASI command.

    \b
    A bridge module: METHOD is pkg.Service/Method and the request is JSON (one
    argument, through the schema the module carries), or protobuf bytes on stdin
    with --raw (the response's bytes then go to stdout).
    A module of plain exports: METHOD is the function, ARGS its numbers.
    A WASI command: no METHOD; stdin is its request, its stdout the response.
    A guest's application error prints its code and message and exits 1.

    \b
    Examples:
      bridge call build/pricing.wasm pricing.v1.Pricing/Lookup '{"sku": "apple 1"}'
      printf '\\x0a\\x07apple 1' |
        bridge call build/go-pricing.wasm pricing.v1.Pricing/Lookup --raw | xxd
      bridge call build/rust-fib.wasm calculate_fibonacci 90
      echo 'the cat saw the cat' | bridge call build/go-wordcount.wasm
    """
    from .abi import is_method_export
    from .config import RuntimeConfig
    from .runtime import CommandModule, ScalarModule, load
    from .runtime.engine import compile_file, read_wasm
    from .runtime.interface import ModuleKind, describe
    from .runtime.module import check_bridge_interface
    from .schema.embed import embedded_schema
    from .schema.messages import MessageTypes

    config = RuntimeConfig.from_env()
    with out.progress_if_slow(f"compiling {_relative(module)} ..."):
        interface = describe(compile_file(module, config))
    kind = interface.kind
    if method is not None and is_method_export(method):
        # A bridge method's name: say so plainly when the module is not a bridge module.
        check_bridge_interface(interface, str(module))
    if kind is ModuleKind.WASI_COMMAND:
        if method is not None:
            raise click.UsageError(f"{module} is a WASI command: it takes no METHOD")
        with CommandModule(module, config) as command:
            _write_stdout(command.run(sys.stdin.buffer.read()))
    elif kind is ModuleKind.PLAIN:
        if method is None:
            raise click.UsageError(f"{module} has plain exports: name the function to call")
        with ScalarModule(module, config) as scalar:
            result = scalar.call(method, *(_number(a) for a in args))
        values = result if isinstance(result, tuple) else () if result is None else (result,)
        if as_json:
            out.print_json({"function": method, "result": list(values)})
        else:
            click.echo(" ".join(str(v) for v in values))
    else:
        if method is None:
            raise click.UsageError(f"{module} is a bridge module: name the method to call")
        if raw:
            with load(module, config) as guest:
                _write_stdout(guest.call(method, sys.stdin.buffer.read()))
            return
        schema = embedded_schema(read_wasm(module), module)
        if schema is None:
            raise click.UsageError(
                f"{module} carries no schema (build it with `bridge build` after `bridge gen`), "
                "so a JSON request cannot be encoded: pass --raw and protobuf bytes on stdin"
            )
        if len(args) > 1:
            raise click.UsageError("give the request as one JSON argument")
        types = MessageTypes(schema)
        with load(module, config) as guest:
            if method not in guest.methods:
                guest.call(method, b"")  # raises UnknownMethod, with the closest name
            try:
                request = types.request_from_json(method, args[0] if args else "{}")
            except KeyError:
                raise click.UsageError(
                    f"{module} exports {method}, but its embedded schema does not describe it: "
                    "pass --raw and protobuf bytes on stdin"
                ) from None
            response = guest.call(method, request)
        click.echo(types.response_to_json(method, response))


def _number(text: str) -> int | float:
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number", param_hint="ARGS") from None


def _write_stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@cli.command()
@click.argument("protos", nargs=-1, required=True, type=click.Path(path_type=Path))
@include_option
@click.option(
    "--lang",
    "langs",
    metavar="go,rust",
    help="The languages to check, comma-separated [default: both; one whose toolchain is "
    "missing is then skipped with the reason].",
)
@click.option(
    "--count",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Random messages per message type, besides the edge cases.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The random messages' seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def conformance(
    protos: tuple[Path, ...],
    includes: tuple[Path, ...],
    langs: str | None,
    count: int,
    seed: int,
    as_json: bool,
) -> None:
    """Check the generated Go and Rust codecs on your own schema, message type by type.

    For every message type the files define, a guest whose methods answer with their
    request is generated and built (in a temporary directory), and messages made by
    Python protobuf go through it: the empty message, edge values (integer bounds,
    -0.0, infinities, NaN, unicode and long strings, every enum value and an unknown
    one, each oneof case, optional fields at their defaults, maps with edge keys,
    repeated fields with 0, 1 and many elements, nested messages, declared extensions
    and unknown fields of every wire type), a message with every field set, and
    --count seeded random ones. Each reply must decode to the message sent, unknown
    fields included (compared by canonical bytes, so map order does not matter). Exits 1
    when any message fails; the first failing input of each type is reported as hex.

    proto3 and proto2 files alike (required fields, defaults, groups, closed enums;
    extensions travel as unknown fields); the messages of streaming RPCs are checked
    like any other.

    \b
    Example:
      bridge conformance -I proto proto/pricing/v1/pricing.proto
      bridge conformance -I proto proto/pricing/v1/pricing.proto \\
          --lang rust --count 1000 --seed 7 --json
    """
    from .conformance import run_conformance
    from .guest.build import Language

    names = [n.strip() for n in langs.split(",") if n.strip()] if langs else ["go", "rust"]
    unknown = [n for n in names if n not in ("go", "rust")]
    if unknown or not names:
        raise click.BadParameter(
            f"{', '.join(unknown) or langs!r}: name go, rust or go,rust", param_hint="--lang"
        )
    report = run_conformance(
        protos,
        includes,
        [Language(n) for n in dict.fromkeys(names)],
        explicit=langs is not None,
        count=count,
        seed=seed,
        progress=out.progress,
        on_skip=lambda name, reason: out.err_console.print(
            f"skipped {name}: {reason}", markup=False
        ),
    )
    if as_json:
        out.print_json(report.to_json())
    else:
        out.print_table(
            ["language", "message type", "messages", "passed", "failed", "first failure"],
            [
                [
                    r.language,
                    r.message_type,
                    r.messages,
                    r.passed,
                    r.failed,
                    ""
                    if r.first_failure is None
                    else f"{r.first_failure_kind}: {r.first_failure_reason}; input "
                    + (
                        r.first_failure
                        if 0 < len(r.first_failure) <= 96
                        else f"{r.first_failure[:96]}... ({len(r.first_failure) // 2} bytes)"
                    ),
                ]
                for r in report.results
            ],
        )
    failures = report.failures
    if failures:
        which = ", ".join(f"{r.message_type} ({r.language})" for r in failures)
        out.err_console.print(
            f"[bold red]error:[/] {len(failures)} message type(s) did not come back "
            f"unchanged: {which}",
            markup=True,
        )
        sys.exit(1)
    if not report.results:
        out.err_console.print("[bold red]error:[/] no language could be checked", markup=True)
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option(
    "--require",
    multiple=True,
    type=click.Choice(["go", "rust"]),
    help="Exit 1 unless this toolchain is found (repeat for both).",
)
@click.argument("projects", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
def doctor(as_json: bool, require: tuple[str, ...], projects: tuple[Path, ...]) -> None:
    """List the engines, guest SDKs and toolchains bridge found, and what to run for each
    missing one; with PROJECTS, whether each guest project's vendored SDK (bridge-sdk/)
    is the one this bridge ships, and the command that refreshes it when it is not.

    Exits 1 when the engine (wasmtime) or a toolchain named with --require is missing,
    or when a project named is not current.

    \b
    Example:
      bridge doctor --require go --require rust
      bridge doctor guests/pricing guests/checkout
    """
    from .doctor import project_checks, run_checks

    checks = run_checks() + project_checks(projects)
    if as_json:
        out.print_json({"checks": [c.to_json() for c in checks]})
    else:
        out.print_table(
            ["", "name", "version", "for", "where / how to get it"],
            [
                [
                    "ok" if c.found else "missing",
                    c.name,
                    c.version,
                    c.purpose,
                    c.location if c.found else c.fix,
                ]
                for c in checks
            ],
        )
    required = {"wasmtime", *(f"project {p}" for p in projects)}
    if "go" in require:
        required |= {"go", "sdk/go"}
    if "rust" in require:
        required |= {"rustc/wasm32-unknown-unknown", "sdk/rust"}
    missing = sorted(c.name for c in checks if c.name in required and not c.found)
    if missing:
        out.err_console.print(f"[bold red]error:[/] missing: {', '.join(missing)}", markup=True)
        sys.exit(1)


@cli.command()
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    help="Time exactly this many calls per figure [default: as many as fit in 1.5 s].",
)
@click.option("--json", "as_json", is_flag=True, help="Print figures, budgets, machine as JSON.")
@click.option(
    "--sidecar",
    is_flag=True,
    help="Also time the call over gRPC: bridge serve and a bare grpcio server, on a unix "
    "socket and TCP, one process and --processes 2, one caller and 8 client processes.",
)
@click.option(
    "--deadlines",
    is_flag=True,
    help="Also time how late a 0.5 s deadline stops a guest looping forever, beside 0, 1 "
    "and 3 CPU-busy Python threads (adds ~8 s; with --iterations, 0.05 s deadlines).",
)
@click.option(
    "--streaming",
    is_flag=True,
    help="Also time a server-streaming call of 10,000 messages in-process, from bridge "
    "serve and from a bare grpcio server, over a unix socket, in messages/s (a Go "
    "toolchain is needed; adds ~15 s; --iterations N: N streams each).",
)
# The streaming figures' messages per stream: 1-100, or whole hundreds up to 10,000
# (the guest's 100 x 100 grid); for the tests' quick runs.
@click.option("--stream-messages", type=int, default=10_000, hidden=True)
def bench(
    iterations: int | None,
    as_json: bool,
    sidecar: bool,
    deadlines: bool,
    streaming: bool,
    stream_messages: int,
) -> None:
    """Time one small call (pricing.v1.Pricing/Quote) made each way, side by side.

    Figures: plain Python, the Rust and Go guests that `bridge init` + `bridge gen` make
    (bridge_gen_rust, bridge_gen_go: what users run), wasmtime-py's public API with naive
    marshalling, bridge on the hand-written Rust guest, and the Extism Python SDK (when
    installed); median and p99 per call, protobuf encoding and decoding included, timed
    in interleaved rounds. Then 1, 2 and 4 threads calling one module (short and long
    calls), 1 and 2 workers forked after loading, and the cold start (import, first call
    after a build). Builds its guests from the sources bridge ships into
    ~/.cache/bridge/bench/ (Rust for wasm32 and Go are needed; a figure whose toolchain
    is missing is skipped, saying so), then checks the budgets of docs/performance.md
    ("Budgets"): met, missed, or unresolved (noise) when the rounds disagree.

    With --sidecar, the same call over gRPC to a server in another process: bridge serve
    of the Rust guest with one process and with --processes 2, and a bare one-process
    grpcio server with an empty handler, over a unix socket and loopback TCP
    (sidecar_uds, sidecar_p2_uds, grpc_bare_uds, and the same for tcp), and the calls per
    second of 8 client processes, with the CPU time per call of the server and of the
    clients and how busy the machine's cores were (the throughput table; "throughput" in
    the JSON): near 100% busy, the machine, not the server, sets the calls per second.

    With --deadlines, a guest method that loops forever called with a deadline while 0, 1
    and 3 Python threads spin: how late the caller gets DeadlineExceeded, and how long
    the guest ran past the deadline (the deadlines table; "deadlines" in the JSON).

    With --streaming, routeguide.RouteGuide/ListFeatures of the Go guest
    examples/go-routeguide, 10,000 messages a stream, read to its end: in-process
    (stream_bridge), from bridge serve of the guest (stream_sidecar_uds) and from a bare
    grpcio server yielding the same messages (stream_grpc_bare_uds), over a unix socket;
    messages per second and us per message (the streaming table; in the JSON's
    "figures" with "messages_per_s"). Without Go they are skipped, saying so.

    \b
    Example:
      bridge bench
      bridge bench --json --iterations 20000 > bench.json
      bridge bench --sidecar
      bridge bench --deadlines
      bridge bench --streaming
    """
    from .bench import run_bench, stream_rectangle

    try:
        stream_rectangle(stream_messages)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--stream-messages") from None
    result = run_bench(
        iterations=iterations,
        progress=out.progress,
        on_skip=lambda name, reason: out.err_console.print(f"skipped {name}: {reason}"),
        sidecar=sidecar,
        deadlines=deadlines,
        streaming=streaming,
        stream_messages=stream_messages,
    )
    if as_json:
        out.print_json(result.to_json())
        return
    headers = ["figure", "median us", "p99 us", "vs python", "what"]
    out.print_table(headers, result.figure_rows(), title=result.title)
    if result.parallel:
        out.print_table(
            ["figure", "calls/s", "vs one", "call us", "what"],
            result.parallel_rows(),
            title="threads and forked workers: calls per second, median of interleaved rounds",
        )
    if result.cold:
        out.print_table(
            ["figure", "ms", "what", "note"],
            result.cold_rows(),
            title="cold start (fresh processes)",
        )
    if result.throughput:
        out.print_table(
            ["figure", "calls/s", "vs bare", "server cpu us", "client cpu us", "busy", "what"],
            result.throughput_rows(),
            title=(
                "throughput: 8 client processes, calls per second; CPU time per call, and "
                "how busy the machine's cores were"
            ),
        )
    if result.streams:
        out.print_table(
            ["figure", "messages/s", "us/msg med", "us/msg p99", "vs bare", "what"],
            result.stream_rows(),
            title=result.stream_title,
        )
    if result.deadlines:
        out.print_table(
            ["figure", "calls", "late med", "late max", "overrun med", "overrun max", "what"],
            result.deadline_rows(),
            title=result.deadline_title,
        )
    out.print_table(["budget", "measured", "result"], result.budget_rows(), title="budgets")


@cli.command()
@click.argument("modules", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--socket",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Listen on this unix socket (owner-only) [default: one in a private temp dir].",
)
@click.option("--listen", metavar="HOST:PORT", help="Listen on TCP instead (loopback unless TLS).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Calls served at once.",
)
@click.option(
    "--grace",
    "grace_s",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds in-flight calls may take to finish at SIGTERM/SIGINT.",
)
@click.option("--no-watch", is_flag=True, help="Do not reload a module when its file changes.")
@click.option(
    "--tls-cert", type=click.Path(path_type=Path, dir_okay=False), help="PEM certificate."
)
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), help="PEM private key.")
@click.option(
    "--tls-client-ca",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Require client certificates signed by this CA (mutual TLS).",
)
@click.option("--insecure", is_flag=True, help="Allow plain TCP on a non-loopback address.")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes behind the one address, each with --workers threads: TCP shares "
    "the port (SO_REUSEPORT); a socket X.sock becomes X.sock, X.1.sock, ... (clients "
    "spread their calls over them). With 2 or more, this process supervises them.",
)
@click.option("--handshake-fd", type=int, hidden=True)
@click.option("--lifeline-fd", type=int, hidden=True)
# A worker of --processes N: its index (for its log lines) and the shared TCP port; and
# how long a worker keeps a client connection (the supervisor passes it on; for tests).
@click.option("--worker-index", type=int, hidden=True)
@click.option("--reuse-port", is_flag=True, hidden=True)
@click.option("--connection-age", "connection_age_s", type=click.FloatRange(min=0.1), hidden=True)
def serve(
    modules: tuple[Path, ...],
    socket: Path | None,
    listen: str | None,
    workers: int,
    grace_s: float,
    no_watch: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    insecure: bool,
    processes: int,
    handshake_fd: int | None,
    lifeline_fd: int | None,
    worker_index: int | None,
    reuse_port: bool,
    connection_age_s: float | None,
) -> None:
    """Serve modules as gRPC services, with health checking and server reflection.

    Every method the modules export is served; requests go to the guest as bytes. Prints
    one ready line on stdout once all modules are loaded and health says SERVING
    (bridge|1|<abi>|unix|<path>|grpc). SIGTERM or SIGINT drains in-flight calls (up to
    --grace) and exits 0; SIGHUP, or a changed module file, reloads without failing a
    call (a module that fails to load leaves the old one serving).

    With --processes N (N >= 2), N server processes (workers) serve behind one address,
    to use N cores: on TCP they share the port; on a unix socket X.sock, worker i listens
    on X.i.sock beside it, and the ready line lists every socket
    (bridge|1|1|unix|X.sock,X.1.sock|grpc: a gRPC target with round_robin, as
    bridge.connect dials it; bridge.connect("X.sock") finds the others too). This
    process then supervises them: ready once all are, SIGHUP reloads each, SIGTERM
    drains each, and a worker that dies is restarted.

    \b
    Example:
      bridge serve build/pricing.wasm --socket /run/bridge/pricing.sock
      bridge serve build/pricing.wasm --listen 127.0.0.1:50051 --workers 4
      grpcurl -plaintext 127.0.0.1:50051 list                  # reflection, no .proto
      bridge serve build/pricing.wasm --listen 127.0.0.1:50051 --processes 2
      bridge serve build/pricing.wasm --socket /run/bridge/p.sock --processes 2
        # ready: bridge|1|1|unix|/run/bridge/p.sock,/run/bridge/p.1.sock|grpc
        # then, in the app: bridge.connect("unix:/run/bridge/p.sock,/run/bridge/p.1.sock")
    """
    import logging
    import os

    from .config import RuntimeConfig
    from .sidecar.server import ServeOptions, run
    from .sidecar.supervisor import WORKER_CONNECTION_AGE_S

    who = "" if worker_index is None else f"worker {worker_index} (pid %(process)d) "
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {who}%(name)s: %(message)s",
    )
    if socket is not None and listen is not None:
        raise click.UsageError("give --socket or --listen, not both")
    if processes > 1 and (worker_index is not None or reuse_port):
        raise click.UsageError("a worker (--worker-index, --reuse-port) serves one process")
    options = ServeOptions(
        modules=modules,
        socket=socket,
        listen=listen,
        workers=workers,
        grace_s=grace_s,
        watch_s=None if no_watch else 1.0,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        insecure=insecure,
        runtime=RuntimeConfig.from_env(),
        processes=processes,
        reuse_port=reuse_port,
        # A worker's clients reconnect now and then: those that went to another worker
        # while this one was down come back (supervisor.py).
        connection_age_s=connection_age_s
        or (WORKER_CONNECTION_AGE_S if worker_index is not None or processes > 1 else None),
    )

    def announce(line: str) -> None:
        if handshake_fd is not None:
            os.write(handshake_fd, (line + "\n").encode())
            os.close(handshake_fd)
        click.echo(line)

    if processes > 1:
        from .sidecar.supervisor import Supervisor

        if not Supervisor(options).serve(announce=announce, lifeline_fd=lifeline_fd):
            sys.exit(1)  # a worker did not drain: the log says which
        return
    run(options, announce=announce, lifeline_fd=lifeline_fd)


@cli.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="The report folder [default: report_dir of the nearest bridge.toml or [tool.bridge]].",
)
@click.option(
    "--mismatches",
    "shown",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the newest mismatches to list (grouped; --json also lists records).",
)
@click.option("--fail-on-mismatch", is_flag=True, help="Exit 1 if any mismatch was recorded.")
@click.option("--reset", is_flag=True, help="Delete the folder's statistics (after printing them).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the statistics, records and groups as JSON."
)
@click.option(
    "--html",
    "page",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write it all as one self-contained HTML page, with charts, to this file.",
)
def report(
    folder: Path | None,
    shown: int,
    fail_on_mismatch: bool,
    reset: bool,
    as_json: bool,
    page: Path | None,
) -> None:
    """Show how routed functions ran: calls, errors, fallbacks, mismatches, latency.

    Every process with routed functions writes its statistics to the report folder
    (report_dir in the configuration, .bridge/report beside it by default) every few
    seconds and at exit; this adds up all of them. Identical mismatches are listed once,
    with a count; each keeps its newest request, for `bridge call` or
    `bridge.routes[method].replay(...)`. A difference reads `python != port`.

    \b
    Example:
      bridge report
      bridge report --dir .bridge/report --json | jq '.rows[] | select(.mismatches > 0)'
      bridge report --json | jq '.groups[] | {count, differences}'
      bridge report --fail-on-mismatch       # in CI, after the test suite ran in shadow mode
      bridge report --html report.html       # charts per route, for the team; no network
    """
    from .config import load_config
    from .routing.stats import group_mismatches, merge_reports, read_reports

    if folder is None:
        folder = load_config().report_dir
        if folder is None:
            raise ConfigError(
                "no report folder: pass --dir, or run from a project whose bridge.toml or "
                "[tool.bridge] sets report_dir"
            )
    reports = read_reports(folder)
    rows, mismatches = merge_reports(reports)
    groups = group_mismatches(mismatches)
    listed = groups[-shown:] if shown else []
    counted = sum(r.mismatches for r in rows)
    if page is not None:
        from .atomic import write_atomic
        from .routing.html_report import render

        text = render(rows, groups, folder=_relative(folder), processes=len(reports))
        try:
            write_atomic(page, text)
        except OSError as exc:
            raise click.FileError(str(page), hint=exc.strerror) from exc
        routes = len({r.method for r in rows})
        out.err_console.print(f"wrote {_relative(page)}: {routes} route(s)", markup=False)
    if as_json:
        out.print_json(
            {
                "folder": str(folder),
                "processes": len(reports),
                "rows": [row.to_json() for row in rows],
                "mismatches": mismatches[-shown:] if shown else [],
                "groups": listed,
                "counted": counted,
                "kept": len(mismatches),
                "limits": _limits(shown),
            }
        )
    elif not rows:
        out.err_console.print(f"no routed calls recorded in {_relative(folder)} yet")
    else:
        out.print_table(
            ["method", "mode", "side", "calls", "errors", "fallbacks", "mismatches", "p50", "p99"],
            [
                [
                    r.method,
                    r.mode,
                    r.side,
                    r.calls,
                    r.errors,
                    r.fallbacks or "",
                    _mismatch_cell(r.mismatches, r.ignored, r.dropped),
                    _duration(r.latency.percentile(50)),
                    _duration(r.latency.percentile(99)),
                ]
                for r in rows
            ],
            title=f"{_relative(folder)}: {len(reports)} process(es)",
        )
        if listed:
            _print_groups(listed, len(groups))
        for note in _cap_notes(counted, len(mismatches), groups, shown):
            out.out_console.print(note)
    if reset:
        for path in folder.glob("*.json"):
            path.unlink()
    if fail_on_mismatch and any(r.mismatches for r in rows):
        sys.exit(1)


def _mismatch_cell(mismatches: int, ignored: int, dropped: int) -> str:
    notes = [f"{ignored} ignored"] * bool(ignored) + [f"{dropped} dropped"] * bool(dropped)
    return f"{mismatches} ({', '.join(notes)})" if notes else str(mismatches or "")


def _duration(ns: float | None) -> str:
    if ns is None:
        return ""
    if ns < 1_000_000:
        return f"{ns / 1000:.1f} us"
    return f"{ns / 1_000_000:.1f} ms"


#: How much of an answer a table cell shows; --json has it whole.
_ANSWER_CHARS = 80


def _print_groups(listed: list[dict[str, Any]], total: int) -> None:
    """The mismatch groups, the newest seen last, each side's answer in its own column."""
    ports = {g["port"] or "bridge" for g in listed}
    port_header = f"port ({ports.pop()})" if len(ports) == 1 else "port"

    def port_cell(group: dict[str, Any]) -> str:
        answer = _cut(str(group["example"].get("bridge", "")))
        return answer if port_header != "port" else f"{group['port'] or 'bridge'}: {answer}"

    out.print_table(
        ["count", "method", "kind", "what differs (python != port)", "python", port_header]
        + ["first seen", "last seen", "newest request"],
        [
            [
                g["count"],
                g["method"],
                g["kind"],
                "; ".join(g["differences"]),
                _cut(str(g["example"].get("python", ""))),
                port_cell(g),
                _when(g["first_seen"]),
                _when(g["last_seen"]),
                json.dumps(g["example"].get("request"), ensure_ascii=False, separators=(",", ":")),
            ]
            for g in listed
        ],
        title=f"mismatches, identical ones counted once: the newest {len(listed)} of {total}"
        if len(listed) < total
        else f"mismatches, identical ones counted once: {total}",
    )


def _limits(shown: int) -> dict[str, int]:
    from .routing.compare import _MAX_DIFFERENCES
    from .routing.experiment import RECORDS_KEPT

    return {
        "records_per_method_per_process": RECORDS_KEPT,
        "differences_per_record": _MAX_DIFFERENCES,
        "listed": shown,
    }


def _cap_notes(counted: int, kept: int, groups: list[dict[str, Any]], shown: int) -> list[str]:
    """What the tables leave out, and why, one sentence each."""
    limits = _limits(shown)
    notes = []
    if shown and len(groups) > shown:
        notes.append(
            f"{shown} newest of {len(groups)} kinds of mismatch listed (--mismatches N lists more)"
        )
    if counted > kept:
        notes.append(
            f"{kept} of {counted} mismatches kept as records (each process keeps the newest "
            f"{limits['records_per_method_per_process']} per method); "
            "the kinds of mismatch are counted among the kept ones"
        )
    if any(len(g["differences"]) >= limits["differences_per_record"] for g in groups):
        notes.append(
            f"a record lists at most {limits['differences_per_record']} differences "
            "(the first ones, in field order)"
        )
    return notes


def _cut(text: str) -> str:
    return text if len(text) <= _ANSWER_CHARS else text[: _ANSWER_CHARS - 1] + "…"


def _when(seconds: float | None) -> str:
    import time

    return "" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _bytes(path: Path) -> int:
    """A file's size, or the sum of a folder's files (a vendored SDK)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    return f"{size / 1024:.1f} KiB"


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="MODULE:FUNCTION...")
@click.option(
    "--examples",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Requests drawn per search (before shrinking).",
)
@click.option("--seed", type=int, help="Draw the same requests every run [default: new each run].")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop the whole run after this many seconds, keeping what was found.",
)
@click.option(
    "--where",
    "where_items",
    multiple=True,
    metavar="FIELD=DOMAIN",
    help="A field's domain (repeatable): 0..1000, /REGEX/ or A|B|C; dotted paths for "
    "nested fields.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def diff(
    targets: tuple[str, ...],
    examples: int,
    seed: int | None,
    timeout_s: float | None,
    where_items: tuple[str, ...],
    as_json: bool,
) -> None:
    """Find requests on which a routed function and its port disagree.

    Draws requests from the route's request type with Hypothesis (every type's full
    range and edge values), runs the legacy Python function and the port (the wasm
    module of [tool.bridge.services], or the sidecar) on each, and compares them by the
    route's rules (tolerances, ignore_fields, compare=, ignore=, errors=). Prints each
    difference shrunk to a minimal request, with both answers. Exit status 1 if any
    was found. Run it from the project's folder: MODULE is imported from there.
    Preconditions: --where, or [tool.bridge.routes."pkg.Service/Method".diff] where.

    \b
    Example:
      bridge diff shopapp.pricing:vat_cents
      bridge diff shopapp.pricing:vat_cents --where rate_permille=0..1000 --seed 1
      bridge diff app.text:slug --where 'lang=en|de' --where 'sku=/[A-Z]{3}-[0-9]{1,4}/'
      bridge diff shopapp.pricing:line_total shopapp.pricing:vat_cents --json
    """
    import os
    import time

    from .testing import parse_where, require_hypothesis

    runner = require_hypothesis()
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        # Hypothesis caches what it learns of the code under ./.hypothesis; not in the
        # user's project (examples are not kept at all: database=None)
        from hypothesis.configuration import set_hypothesis_home_dir

        from .resources import user_cache_dir

        set_hypothesis_home_dir(user_cache_dir() / "hypothesis")
    where = {}
    for item in where_items:
        try:
            path, domain = parse_where(item)
        except ValueError as exc:
            raise ConfigError(f"--where {exc}") from None
        where[path] = domain
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    results = []
    for target in targets:
        left = None if deadline is None else max(0.001, deadline - time.monotonic())
        message = f"diff {target}: up to {examples} requests per search ..."
        status, counter = _diff_progress(message, target)
        with status:
            results.append(
                runner.run_diff(
                    target,
                    examples=examples,
                    seed=seed,
                    timeout_s=left,
                    where=where,
                    on_example=counter,
                )
            )
    untried = [r.target for r in results if not r.examples and r.agrees]
    if untried:
        # No request, no verdict: "no difference" would be a lie.
        raise ConfigError(
            f"{', '.join(untried)}: no request was tried within --timeout {timeout_s:g} s; "
            "give it more time"
        )
    if as_json:
        out.print_json(
            {"agrees": all(r.agrees for r in results), "routes": [r.to_json() for r in results]}
        )
    else:
        _print_diff(results)
    if not all(r.agrees for r in results):
        sys.exit(1)


def _diff_progress(message: str, target: str) -> tuple[Any, Any]:
    """A spinner counting the requests on a terminal; elsewhere progress()'s one line."""
    if not out.err_console.is_terminal:
        return out.progress(message), None
    status = out.err_console.status(message)

    def count(tried: int) -> None:
        if tried % 100 == 0:
            status.update(f"diff {target}: {tried} requests ...")

    return status, count


def _print_diff(results: list[Any]) -> None:
    out.print_table(
        ["target", "method", "requests", "differences", "time"],
        [
            [
                r.target,
                r.method,
                r.examples,
                len(r.differences) or "none",
                f"{r.elapsed_s:.1f} s" + (" (timed out)" if r.timed_out else ""),
            ]
            for r in results
        ],
    )
    for result in results:
        for index, difference in enumerate(result.differences, 1):
            out.out_console.print(
                f"{result.target}: difference {index} of {len(result.differences)} "
                f"({difference.kind}), shrunk to a minimal request:",
                markup=False,
            )
            out.out_console.print(str(difference).split("\n", 1)[1] + "\n", markup=False)


def main() -> None:
    cli(prog_name="bridge")
