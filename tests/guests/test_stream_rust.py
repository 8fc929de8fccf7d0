"""What only the Rust guest of every kind of RPC is checked for: its methods run natively.

tests/guests/stream-rust implements stream.v1.Numbers (tests/guests/stream-go's
proto/stream/v1/numbers.proto, the schema both guests share); tests/guests/conftest.py
generates its glue and builds it. The checks both guests answer are
tests/guests/test_stream_guests.py's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bridge.guest import toolchain
from tests.conftest import has_rust

pytestmark = pytest.mark.skipif(
    not has_rust(), reason="needs rustc with the wasm32 targets (scripts/bootstrap installs it)"
)


def test_the_methods_natively_on_in_memory_streams(stream_rust: Path) -> None:
    """`cargo test` of the guest: its methods run natively, on `Source::from_messages`
    and `Sink::in_memory`, where the context answers as for no call."""
    rust = toolchain.find_rust()
    assert rust is not None
    done = subprocess.run(
        [str(rust.bin_dir / "cargo"), "test", "--offline"],
        cwd=stream_rust,
        env=rust.env() | {"CARGO_TARGET_DIR": str(stream_rust.parent / "native-target")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "test result: ok. 2 passed" in done.stdout
