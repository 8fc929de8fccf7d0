"""Fixtures of bridge.testing's tests: real guests built once per session, and small
projects (a pyproject.toml, a routed legacy function, its generated stubs) around them.

The legacy shop's Vat port rounds half away from zero where Python rounds half to
even; `fixed_shop` builds a copy of that port with the rounding fixed. The textcase
port (tests/guests/textcase-go) upper-cases ASCII only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from grpc_tools import protoc
from hypothesis.configuration import set_hypothesis_home_dir

from tests.conftest import EXAMPLES, ROOT, _build_or_skip

HERE = Path(__file__).resolve().parent
SHOP = EXAMPLES / "legacy-shop"
TEXTCASE_PROTO = HERE / "proto" / "textcase" / "v1" / "textcase.proto"
UPPER = "textcase.v1.Text/Upper"


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In-process diffs keep Hypothesis's caches in a temporary folder, not the
    checkout's .hypothesis."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


def _shop_folder(folder: Path, guest: Path) -> Path:
    _build_or_skip(guest, folder / "build" / "go-pricing.wasm")
    (folder / "pyproject.toml").write_text((SHOP / "pyproject.toml").read_text())
    return folder


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's pyproject.toml beside build/go-pricing.wasm, the port as shipped."""
    return _shop_folder(tmp_path_factory.mktemp("shop"), SHOP / "guests" / "go-pricing")


@pytest.fixture(scope="session")
def fixed_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same with the Go port's Vat rounding half to even, as Python's round()."""
    guest = tmp_path_factory.mktemp("fixed-guest") / "go-pricing"
    shutil.copytree(SHOP / "guests" / "go-pricing", guest)
    main = guest / "main.go"
    source = main.read_text()
    assert "math.Round(" in source
    main.write_text(source.replace("math.Round(", "math.RoundToEven("))
    mod = guest / "go.mod"
    mod.write_text(mod.read_text().replace("=> ../../../../guest-go", f"=> {ROOT / 'guest-go'}"))
    return _shop_folder(tmp_path_factory.mktemp("fixed-shop"), guest)


@pytest.fixture(scope="session")
def textcase_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("textcase") / "textcase-go.wasm"
    return _build_or_skip(ROOT / "tests" / "guests" / "textcase-go", out)


@pytest.fixture(scope="session")
def textcase_stubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """textcase_pb2, compiled as `bridge gen --python-out` does, importable in-process."""
    out = tmp_path_factory.mktemp("textcase-stubs")
    assert (
        protoc.main(["protoc", f"-I{HERE / 'proto'}", f"--python_out={out}", str(TEXTCASE_PROTO)])
        == 0
    )
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))


TEXTAPP = """
import bridge
from textcase.v1 import textcase_pb2  # noqa: F401


@bridge.route("textcase.v1.Text/Upper")
def upper(text: str) -> str:
    return text.upper()
"""


def text_project(folder: Path, wasm: Path, stubs: Path, extra_toml: str = "") -> Path:
    """A project whose textapp.upper is routed to the textcase port."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(stubs / "textcase", folder / "textcase", dirs_exist_ok=True)
    (folder / "textapp.py").write_text(TEXTAPP)
    (folder / "pyproject.toml").write_text(
        f'[tool.bridge.services]\n"textcase.v1.Text" = "{wasm}"\n{extra_toml}'
    )
    return folder


def run_bridge(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`bridge ARGS` as a user runs it (the installed command, in `cwd`), in a process
    of its own: routes register with the process-wide router, which this session must
    not share."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    # Hypothesis's caches go to the session's cache folder, not ~/.cache/bridge
    storage = str(Path(os.environ["BRIDGE_CACHE_DIR"]) / "hypothesis")
    clean.update(
        BRIDGE_REPORT_DIR="off", PYTHONDONTWRITEBYTECODE="1", HYPOTHESIS_STORAGE_DIRECTORY=storage
    )
    clean.update(env)
    return subprocess.run(
        [str(Path(sys.executable).parent / "bridge"), *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
