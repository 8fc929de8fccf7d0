"""bridge as a user's dependency: the sdist and the wheel, installed into a new venv, every
command run from a folder of the user's own with nothing of this checkout on any path.

The wheel installed is the one built from the sdist, as pip builds it. The user's app
has a schema, Python stubs, a Go and a Rust guest made by `bridge init`, one method
written in each, and a legacy function under `@bridge.route`. The guest projects are
then copied elsewhere, as a teammate's clone would have them, and must build there and
name no path of this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge._version import __version__
from bridge.guest import toolchain
from bridge.resources import SHIPPED

pytestmark = [pytest.mark.timeout(900), pytest.mark.toolchain("go"), pytest.mark.toolchain("rust")]

ROOT = Path(__file__).resolve().parents[2]
DIST = f"bridge_wasm-{__version__}"
# The user's umask: files bridge writes must get 0664 and folders 0775, not 0600.
UMASK = 0o002
SERVE_READY_TIMEOUT_S = 60
CALL_TIMEOUT_S = 120

SCHEMA = """\
syntax = "proto3";
package shop.v1;

// Slugs of product names, moving from Python to Go and Rust.
service Catalog {
  rpc Slug(SlugRequest) returns (SlugResponse);
}
message SlugRequest { string text = 1; }
message SlugResponse { string slug = 1; }
"""

GO_METHOD = """\
	if req.Text == "" {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "text is empty")
	}
	slug := strings.Join(strings.Fields(req.Text), "-")
	return &bridgegen.SlugResponse{Slug: strings.ToLower(slug)}, nil
"""

RUST_METHOD = """\
        let words: Vec<&str> = request.text.split_whitespace().collect();
        Ok(bridge_gen::shop::v1::SlugResponse {
            slug: words.join("-").to_lowercase(),
            ..Default::default()
        })
"""

LEGACY = """\
import sys

sys.path.insert(0, "gen")

import bridge
from shop.v1 import shop_pb2  # noqa: F401 - the rpc's messages


@bridge.route("shop.v1.Catalog/Slug")
def slug(text: str) -> str:
    return "-".join(text.split()).lower()


if __name__ == "__main__":
    print(",".join(slug(name) for name in ["Big  Blue Box", "pear", "Fresh Figs 2kg"]))
"""

PYPROJECT = """\
[project]
name = "shop"
version = "0.1.0"
dependencies = ["bridge-wasm"]

[tool.bridge.services]
"shop.v1.Catalog" = "build/slug-rust.wasm"

[tool.bridge.routes."shop.v1.Catalog/Slug"]
mode = "shadow"
"""

CLIENT = """\
import sys

sys.path.insert(0, "gen")

import bridge
from shop.v1 import shop_pb2, shop_pb2_grpc

stub = bridge.connect(sys.argv[1], shop_pb2_grpc.CatalogStub)
print(stub.Slug(shop_pb2.SlugRequest(text="Via The  Sidecar"), timeout=30).slug)
"""


@dataclass(frozen=True)
class Installed:
    """A venv with the wheel built from the sdist, and how to run its `bridge` anywhere."""

    venv: Path
    env: dict[str, str]
    sdist: Path
    wheel: Path
    tree_wheel: Path

    def run(
        self, *args: str, cwd: Path, ok: bool = True, timeout: float = CALL_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            umask=UMASK,
            check=False,
        )
        if ok:
            assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
        return done


def _build(*args: str, out: Path, env: dict[str, str] | None = None) -> None:
    # --no-isolation: the build backend of the dev venv, so no download is needed.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", *args, "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )


def _wheel(folder: Path) -> Path:
    (wheel,) = folder.glob(f"{DIST}-*.whl")
    return wheel


def _tools(folder: Path) -> Path:
    """A folder with links to the guest toolchains only: what a user has on PATH."""
    folder.mkdir()
    go = toolchain.find_go()
    rust = toolchain.find_rust(toolchain.RUST_TARGETS[0])
    assert go is not None and rust is not None
    for program in (go.path, rust.bin_dir / "rustc", rust.bin_dir / "cargo"):
        (folder / program.name).symlink_to(program)
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    # `python -m build` makes the sdist, then the wheel from the unpacked sdist (as pip
    # does); the second wheel is built from the tree, to compare the two.
    _build(out=base / "dist")
    _build("--wheel", out=base / "tree")
    sdist = base / "dist" / f"{DIST}.tar.gz"
    wheel = _wheel(base / "dist")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        # [diff]: Hypothesis, for `bridge diff`
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[diff]"],
        check=True,
        timeout=600,
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIDGE_", "PYTHON", "VIRTUAL_ENV", "GO", "CARGO", "RUST"))
    }
    tools = _tools(base / "tools")
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(tools), "/usr/bin", "/bin"])
    # A cache of the user's own, so that nothing built by this checkout's runs is reused.
    env["XDG_CACHE_HOME"] = str(base / "cache")
    env["GOCACHE"] = str(base / "cache" / "go-build")
    return Installed(venv, env, sdist, wheel, _wheel(base / "tree"))


@pytest.fixture(scope="module")
def app(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's project: schema, stubs, two guests with their method written, built."""
    app = tmp_path_factory.mktemp("app")
    (app / "proto" / "shop" / "v1").mkdir(parents=True)
    (app / "proto" / "shop" / "v1" / "shop.proto").write_text(SCHEMA)
    (app / "pyproject.toml").write_text(PYPROJECT)
    (app / "legacy.py").write_text(LEGACY)
    (app / "client.py").write_text(CLIENT)
    schema = ["-I", "proto", "proto/shop/v1/shop.proto"]
    installed.run("bridge", "gen", *schema, "--python-out", "gen", cwd=app)
    for language in ("go", "rust"):
        installed.run(
            "bridge", "init", language, *schema, "--service", "shop.v1.Catalog",
            "--dir", f"guests/slug-{language}", cwd=app,
        )  # fmt: skip
    main_go = app / "guests" / "slug-go" / "main.go"
    text = main_go.read_text().replace("import (\n", 'import (\n\t"strings"\n\n')
    unimplemented = text[text.index("\treturn nil, guest.Errorf(guest.CodeUnimplemented") :]
    main_go.write_text(text.replace(unimplemented.splitlines(keepends=True)[0], GO_METHOD))
    lib_rs = app / "guests" / "slug-rust" / "src" / "lib.rs"
    text = lib_rs.read_text().replace("_request:", "request:")
    start = text.index("        Err(Status::new(\n            Code::Unimplemented")
    end = text.index("))\n", start) + 3
    lib_rs.write_text(text[:start] + RUST_METHOD + text[end:])
    for language in ("go", "rust"):
        installed.run(
            "bridge", "build", f"guests/slug-{language}", "-o", f"build/slug-{language}.wasm",
            cwd=app, timeout=600,
        )  # fmt: skip
    return app


def test_archives_carry_what_the_commands_need(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        in_sdist = {name.removeprefix(f"{DIST}/") for name in sdist.getnames()}
    with zipfile.ZipFile(installed.wheel) as wheel:
        in_wheel = set(wheel.namelist())
    with zipfile.ZipFile(installed.tree_wheel) as tree_wheel:
        assert set(tree_wheel.namelist()) == in_wheel  # the sdist loses nothing
    for tree in SHIPPED:
        tracked = _tracked(tree)
        assert tracked, tree
        assert tracked <= in_sdist, tracked - in_sdist
        wanted = {
            f"bridge/_sources/{name}"
            for name in tracked
            if not name.endswith("_test.go") and "/target/" not in name
        }
        assert wanted <= in_wheel, wanted - in_wheel
    for needed in (
        "bridge/codegen/templates/go/project/go.mod.j2",
        "bridge/codegen/templates/rust/project/Cargo.toml.j2",
        "bridge/schema/proto/bridge/options.proto",
        "bridge/py.typed",
    ):
        assert needed in in_wheel
    assert not [n for n in in_wheel if "/target/" in n or n.endswith((".wasm", "_test.go"))]
    assert not [n for n in in_wheel if n.startswith(("tests/", "docs/", "examples/"))]
    # The native ticker: its source in the sdist, built into the wheel (a C compiler is here).
    assert {"bridge/runtime/_ticker.c", "hatch_build.py"} <= in_sdist
    assert not [n for n in in_sdist if n.endswith(".so")]
    assert "bridge/runtime/_ticker.so" in in_wheel
    assert not installed.wheel.name.endswith("-none-any.whl"), installed.wheel.name


def test_the_installed_ticker_is_native(installed: Installed, tmp_path: Path) -> None:
    ran = installed.run(
        "python", "-c", "from bridge.runtime.limits import ticker; print(ticker.kind)",
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.stdout.strip() == "native"


def test_without_a_c_compiler_the_wheel_is_pure_python(tmp_path: Path) -> None:
    """The native ticker is optional: a build that cannot compile it still succeeds, and
    a Python thread ticks in the installed bridge (BRIDGE_NO_NATIVE stands in for a
    machine without a compiler)."""
    _build("--wheel", out=tmp_path, env={**os.environ, "BRIDGE_NO_NATIVE": "1"})
    wheel = _wheel(tmp_path)
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".so")]


def _tracked(tree: str) -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", tree], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(listed.stdout.split())


def test_doctor_finds_the_shipped_sdks(installed: Installed, tmp_path: Path) -> None:
    ran = installed.run("bridge", "doctor", "--json", "--require", "go", "--require", "rust",
                        cwd=tmp_path)  # fmt: skip
    checks = {c["name"]: c for c in _json(ran.stdout)["checks"]}
    for language in ("go", "rust"):
        assert checks[f"sdk/{language}"]["found"]
        assert "site-packages/bridge/_sources" in checks[f"sdk/{language}"]["location"]


def test_files_written_honour_the_umask(app: Path) -> None:
    files = [
        app / "gen" / "shop" / "v1" / "shop_pb2.py",
        app / "guests" / "slug-go" / "go.mod",
        app / "guests" / "slug-go" / "bridgegen" / "messages.bridge.go",
        app / "guests" / "slug-go" / "bridge-sdk" / "wire.go",
        app / "guests" / "slug-rust" / "Cargo.toml",
        app / "guests" / "slug-rust" / "src" / "bridge_gen.rs",
        app / "guests" / "slug-rust" / "bridge-sdk" / "bridge-sdk.toml",
    ]
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o666 & ~UMASK, path


@pytest.mark.parametrize("language", ["go", "rust"])
def test_built_guest_answers(installed: Installed, app: Path, language: str) -> None:
    ran = installed.run("bridge", "call", f"build/slug-{language}.wasm", "shop.v1.Catalog/Slug",
                        '{"text": "Big  Blue Box"}', cwd=app)  # fmt: skip
    assert _json(ran.stdout) == {"slug": "big-blue-box"}
    described = _json(installed.run("bridge", "inspect", f"build/slug-{language}.wasm", "--json",
                                    cwd=app).stdout)  # fmt: skip
    assert described["methods"] == ["shop.v1.Catalog/Slug"]


def test_proto_and_diff_from_the_install(installed: Installed, app: Path) -> None:
    """The schema of the routed function derived again, and its Rust port diffed: Python's
    str.split() and Rust's split_whitespace() disagree on what is whitespace."""
    installed.run("bridge", "proto", "legacy:slug", "--package", "shop.v1",
                  "--service", "Catalog", "-o", "derived/slug.proto", cwd=app)  # fmt: skip
    assert (
        "rpc Slug(SlugRequest) returns (SlugResponse);" in (app / "derived/slug.proto").read_text()
    )
    ran = installed.run("bridge", "diff", "legacy:slug", "--seed", "1", "--json", cwd=app,
                        ok=False)  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    [result] = _json(ran.stdout)["routes"]
    assert result["differences"], result
    assert not (app / ".hypothesis").exists()


def test_routed_function_in_wasm_and_shadow_mode(installed: Installed, app: Path) -> None:
    expected = "big-blue-box,pear,fresh-figs-2kg"
    wasm = dict(installed.env, BRIDGE_MODE="wasm")
    for env in (wasm, installed.env):  # the second: shadow, from pyproject.toml
        ran = subprocess.run(
            [str(installed.venv / "bin" / "python"), "legacy.py"],
            cwd=app, env=env, capture_output=True, text=True, timeout=CALL_TIMEOUT_S, check=False,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == expected
    rows = _json(installed.run("bridge", "report", "--json", cwd=app).stdout)["rows"]
    calls = {(r["mode"], r["side"]): r["calls"] for r in rows}
    assert calls == {("wasm", "wasm"): 3, ("shadow", "python"): 3, ("shadow", "wasm"): 3}
    assert all(r["mismatches"] == 0 and r["errors"] == 0 for r in rows), rows


def test_serve_answers_a_grpc_client(installed: Installed, app: Path) -> None:
    socket = app / "slug.sock"
    log = app / "serve.log"
    with log.open("w") as stderr, subprocess.Popen(
        [str(installed.venv / "bin" / "bridge"), "serve", "build/slug-go.wasm",
         "--socket", str(socket)],
        cwd=app, env=installed.env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            ready = _line_within(server.stdout, SERVE_READY_TIMEOUT_S)
            assert ready.startswith("bridge|1|1|unix|"), ready
            ran = installed.run("python", "client.py", f"unix://{socket}", cwd=app)
            assert ran.stdout.strip() == "via-the-sidecar"
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    assert server.returncode == 0, log.read_text()
    assert not socket.exists()


def _line_within(stream: object, seconds: float) -> str:
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
    try:
        assert selector.select(seconds), f"no line within {seconds} s"
    finally:
        selector.close()
    return stream.readline().strip()  # type: ignore[attr-defined, no-any-return]


def test_conformance_on_a_small_schema(installed: Installed, tmp_path: Path) -> None:
    (tmp_path / "point.proto").write_text(
        'syntax = "proto3";\npackage geo.v1;\n'
        "message Point { sint64 x = 1; double y = 2; repeated string tags = 3; "
        "map<string, int32> counts = 4; optional bool seen = 5; }\n"
    )
    ran = installed.run("bridge", "conformance", "point.proto", "--count", "20", "--json",
                        cwd=tmp_path, timeout=600)  # fmt: skip
    results = _json(ran.stdout)["results"]
    assert {(r["language"], r["message_type"]) for r in results} == {
        ("go", "geo.v1.Point"),
        ("rust", "geo.v1.Point"),
    }
    assert all(r["failed"] == 0 and r["passed"] > 20 for r in results), results


def test_bench_runs_from_the_installed_sources(installed: Installed, tmp_path: Path) -> None:
    ran = installed.run("bridge", "bench", "--iterations", "50", "--json", "--streaming",
                        "--stream-messages", "4", cwd=tmp_path, timeout=600)  # fmt: skip
    figures = _json(ran.stdout)["figures"]
    assert figures["bridge"]["median_us"] > 0 and figures["python"]["median_us"] > 0
    # The Go guest of the streaming figures, built from the shipped examples/go-routeguide.
    assert figures["stream_sidecar_uds"]["messages_per_s"] > 0
    for guest in ("rust-pricing", "go-routeguide"):
        built = Path(installed.env["XDG_CACHE_HOME"]) / "bridge" / "bench" / f"{guest}.wasm"
        assert built.is_file()  # built in the user's cache, not in site-packages


def test_guest_projects_build_anywhere_and_name_no_local_path(
    installed: Installed, app: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "teammate"
    for language in ("go", "rust"):
        # What a clone has: the project as committed, without its ignored build output.
        shutil.copytree(
            app / "guests" / f"slug-{language}",
            elsewhere / language,
            ignore=shutil.ignore_patterns("target", "*.wasm"),
        )
    local = [str(ROOT), str(installed.venv), str(app), str(app.parent), str(Path.home())]
    for path in elsewhere.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            named = [p for p in local if p.encode() in text]
            assert not named, f"{path} names {named}"
    for language in ("go", "rust"):
        installed.run("bridge", "build", language, "-o", f"{language}.wasm", cwd=elsewhere,
                      timeout=600)  # fmt: skip
        ran = installed.run("bridge", "call", f"{language}.wasm", "shop.v1.Catalog/Slug",
                            '{"text": "Fresh Figs"}', cwd=elsewhere)  # fmt: skip
        assert _json(ran.stdout) == {"slug": "fresh-figs"}
    # The Go project builds with the Go toolchain alone, no bridge involved.
    go = subprocess.run(
        ["go", "build", "-buildmode=c-shared", "-o", str(tmp_path / "plain.wasm"), "."],
        cwd=elsewhere / "go",
        env=dict(installed.env, GOOS="wasip1", GOARCH="wasm", GOTOOLCHAIN="local"),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert go.returncode == 0, go.stderr


def test_a_stale_sdk_is_reported_and_gen_refreshes_it(
    installed: Installed, app: Path, tmp_path: Path
) -> None:
    project = tmp_path / "guests" / "slug-rust"
    shutil.copytree(app / "guests" / "slug-rust", project, ignore=shutil.ignore_patterns("target"))
    # Stand in for a project vendored by an older bridge.
    stamp = project / "bridge-sdk" / "bridge-sdk.toml"
    stamp.write_text(stamp.read_text().replace(f'bridge = "{__version__}"', 'bridge = "0.0.1"'))
    wire = project / "bridge-sdk" / "src" / "wire.rs"
    wire.write_text(wire.read_text() + "\n// as an older bridge wrote it\n")
    built = installed.run("bridge", "build", str(project), "-o", str(tmp_path / "x.wasm"),
                          cwd=tmp_path, timeout=600)  # fmt: skip
    assert "warning:" in built.stderr and "bridge 0.0.1" in built.stderr
    assert "bridge gen -I" in built.stderr  # the command that refreshes it
    doctor = installed.run("bridge", "doctor", str(project), cwd=tmp_path, ok=False)
    assert doctor.returncode == 1 and "bridge 0.0.1" in doctor.stdout
    # The command the stamp names, run where it says, refreshes glue and SDK together;
    # its paths are relative to the project, so the schema goes where it was beside it.
    shutil.copytree(app / "proto", tmp_path / "proto")
    refresh = stamp.read_text().split('gen = "')[1].split('"')[0]
    installed.run(*refresh.split(), cwd=project)
    assert f'bridge = "{__version__}"' in stamp.read_text()
    assert "older bridge" not in wire.read_text()
    installed.run("bridge", "doctor", str(project), cwd=tmp_path)


def _json(text: str) -> Any:
    return json.loads(text)
