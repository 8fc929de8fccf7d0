"""Go guests built with TinyGo, where TinyGo is installed.

TinyGo cannot be installed on the machines this project runs on today, so these tests
skip there; guest-go and the generated Go glue are kept valid TinyGo source by
construction (build tags for what differs, no reflection), and `bridge build` picks
TinyGo whenever it is on PATH.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.guest import toolchain
from bridge.guest.build import build
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.skipif(
    toolchain.find_tinygo() is None,
    reason="TinyGo is not on PATH (it cannot be installed on this machine)",
)


@pytest.mark.parametrize("example", ["go-pricing", "go-checkout"])
def test_tinygo_builds_the_go_examples(example: str, tmp_path: Path) -> None:
    built = build(EXAMPLES / example, tmp_path / f"{example}.wasm")
    assert built.toolchain.name == "tinygo"
    with bridge.load(built.output, RuntimeConfig(cache_dir=None)) as guest:
        assert guest.methods
