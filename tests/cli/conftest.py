from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import cli
from bridge.guest import toolchain


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes


def run(*args: str, stdin: bytes = b"") -> Ran:
    """Run the CLI in-process, the way a user's shell would, with stdout and stderr apart."""
    result = CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)


def assert_one_line_error(ran: Ran, *fragments: str) -> None:
    """A bad input gets one line on stderr, a non-zero exit, and no traceback."""
    assert ran.exit_code == 1, ran
    lines = ran.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])


@pytest.fixture
def no_toolchains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """This machine as one without Go or Rust: empty PATH and no known install places."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for name in ("GO_DIRS", "TINYGO_DIRS", "RUST_DIRS"):
        monkeypatch.setattr(toolchain, name, [])
    _clear()
    yield
    _clear()


def _clear() -> None:
    for finder in (toolchain.find_go, toolchain.find_tinygo, toolchain.find_rust):
        finder.cache_clear()
