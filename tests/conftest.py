"""Shared fixtures: real guests built once per session from the examples' source."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from grpc_tools import protoc

from bridge.errors import ToolchainError
from bridge.guest import toolchain
from bridge.guest.build import build
from bridge.schema.compile import bridge_include, well_known_include

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PRICING_PROTO = ROOT / "proto" / "examples" / "pricing" / "v1" / "pricing.proto"
KITCHEN_PROTO = ROOT / "proto" / "examples" / "kitchen" / "v1" / "kitchen.proto"
SHOP_PROTO = ROOT / "proto" / "examples" / "shop" / "v1" / "shop.proto"
LEGACY_PROTO = ROOT / "proto" / "examples" / "legacy" / "v1" / "legacy.proto"


@pytest.fixture(scope="session", autouse=True)
def _private_compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never write to the user's compile cache (~/.cache/bridge)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("BRIDGE_CACHE_DIR", str(tmp_path_factory.mktemp("compile-cache")))
    yield
    mp.undo()


def _build_or_skip(project: Path, out: Path) -> Path:
    try:
        return build(project, out).output
    except ToolchainError as exc:
        pytest.skip(f"cannot build {project.name}: {exc}")


@pytest.fixture(scope="session")
def go_pricing_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go") / "go-pricing.wasm"
    return _build_or_skip(EXAMPLES / "go-pricing", out)


@pytest.fixture(scope="session")
def rust_pricing_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rust") / "rust-pricing.wasm"
    return _build_or_skip(EXAMPLES / "rust-pricing", out)


@pytest.fixture(scope="session")
def faulty_go_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Go guest that misbehaves on purpose (tests/guests/faulty-go)."""
    out = tmp_path_factory.mktemp("faulty") / "faulty-go.wasm"
    return _build_or_skip(ROOT / "tests" / "guests" / "faulty-go", out)


@pytest.fixture(scope="session")
def faulty_rust_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Rust guest that misbehaves on purpose (tests/guests/faulty-rust)."""
    out = tmp_path_factory.mktemp("faulty") / "faulty-rust.wasm"
    return _build_or_skip(ROOT / "tests" / "guests" / "faulty-rust", out)


@pytest.fixture(scope="session")
def rust_fib_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/rust-fib: a module of plain scalar exports."""
    return _build_or_skip(EXAMPLES / "rust-fib", tmp_path_factory.mktemp("fib") / "rust-fib.wasm")


@pytest.fixture(scope="session")
def go_wordcount_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/go-wordcount: a WASI command (its go.mod says `// bridge: command`)."""
    out = tmp_path_factory.mktemp("wordcount") / "go-wordcount.wasm"
    return _build_or_skip(EXAMPLES / "go-wordcount", out)


@pytest.fixture(scope="session", params=["go", "rust"])
def hostcall_wasm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/guests/hostcall-{go,rust}: guests that call back into Python."""
    name = f"hostcall-{request.param}"
    return _build_or_skip(
        ROOT / "tests" / "guests" / name, tmp_path_factory.mktemp(name) / f"{name}.wasm"
    )


@pytest.fixture(scope="session", params=["go", "rust"])
def faulty_wasm(request: pytest.FixtureRequest) -> Path:
    """Each misbehaving guest in turn, Go and Rust."""
    return request.getfixturevalue(f"faulty_{request.param}_wasm")  # type: ignore[no-any-return]


@pytest.fixture(scope="session", params=["go", "rust"])
def pricing_wasm(request: pytest.FixtureRequest) -> Path:
    """Each hand-written pricing guest in turn: the same tests run on Go and on Rust."""
    return request.getfixturevalue(f"{request.param}_pricing_wasm")  # type: ignore[no-any-return]


def _pb2_module(
    tmp_path_factory: pytest.TempPathFactory,
    proto: Path,
    module: str,
    *,
    include: Path = ROOT / "proto" / "examples",
    grpc: bool = False,
) -> Generator[ModuleType, None, None]:
    """`module` (a *_pb2) compiled by grpcio-tools from `include` (proto/examples), as a
    user gets it; with `grpc`, its *_pb2_grpc beside it, importable while this lasts."""
    out = tmp_path_factory.mktemp("pb2")
    grpc_out = [f"--grpc_python_out={out}"] if grpc else []
    status = protoc.main(
        [
            "protoc",
            f"-I{include}",
            f"-I{well_known_include()}",
            f"-I{bridge_include()}",
            f"--python_out={out}",
            *grpc_out,
            str(proto),
        ]
    )
    assert status == 0, f"grpc_tools.protoc failed on {proto.name}"
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(out))
        # Forget the modules imported from `out` (namespace packages too; all found
        # before any is removed): another test's `legacy_pb2` must not find this one.
        ours = [name for name, loaded in list(sys.modules.items()) if _from(loaded, out)]
        for name in ours:
            del sys.modules[name]


def _from(module: ModuleType, folder: Path) -> bool:
    """Whether `module` (a namespace package: all its folders) was imported from `folder`."""
    places = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
    found = [str(p) for p in places if p]
    return bool(found) and all(p.startswith(str(folder)) for p in found)


@pytest.fixture(scope="session")
def pricing_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    yield from _pb2_module(tmp_path_factory, PRICING_PROTO, "pricing.v1.pricing_pb2")


@pytest.fixture(scope="session")
def kitchen_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    yield from _pb2_module(tmp_path_factory, KITCHEN_PROTO, "kitchen.v1.kitchen_pb2")


@pytest.fixture(scope="session")
def legacy_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The proto2 example: required fields, defaults, groups, closed enums, extensions."""
    yield from _pb2_module(tmp_path_factory, LEGACY_PROTO, "legacy.v1.legacy_pb2")


@pytest.fixture(scope="session")
def shop_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    yield from _pb2_module(tmp_path_factory, SHOP_PROTO, "shop.v1.shop_pb2")


def has_go() -> bool:
    return toolchain.find_go() is not None


def has_rust() -> bool:
    return toolchain.find_rust() is not None
