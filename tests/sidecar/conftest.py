"""Fixtures of the sidecar tests: `bridge serve` run as a user runs it, in its own process."""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from grpc_tools import protoc

from bridge.sidecar.handshake import Handshake
from tests.conftest import EXAMPLES, ROOT, _build_or_skip

READY_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def shop_pricing_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/legacy-shop's Go guest (shop.v1.Pricing), with its schema embedded."""
    out = tmp_path_factory.mktemp("shop") / "go-pricing.wasm"
    return _build_or_skip(EXAMPLES / "legacy-shop" / "guests" / "go-pricing", out)


@pytest.fixture(scope="session")
def shop_stock_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/legacy-shop's Rust guest (shop.v1.Stock), with its schema embedded."""
    out = tmp_path_factory.mktemp("shop") / "rust-stock.wasm"
    return _build_or_skip(EXAMPLES / "legacy-shop" / "guests" / "rust-stock", out)


@dataclass
class Served:
    """A running `bridge serve`: its process, its handshake, what it wrote to stderr."""

    process: subprocess.Popen[bytes]
    handshake: Handshake
    stderr_path: Path

    @property
    def target(self) -> str:
        return self.handshake.target

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Signal it and wait; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()


def start_serve(*args: str, folder: Path, env: dict[str, str] | None = None) -> Served:
    """Start `bridge serve ARGS` and wait for its ready line."""
    stderr_path = folder / f"serve-{time.monotonic_ns()}.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    line = process.stdout.readline().decode() if ready else ""
    if not line:
        process.kill()
        process.wait()
        process.stdout.close()
        raise AssertionError(f"bridge serve did not get ready: {stderr_path.read_text()}")
    return Served(process, Handshake.parse(line), stderr_path)


@contextlib.contextmanager
def serving(*args: str, folder: Path) -> Iterator[Served]:
    """`bridge serve ARGS` for the duration; stopped with SIGTERM, which must exit 0."""
    served = start_serve(*args, folder=folder)
    try:
        yield served
    finally:
        status = served.stop()
    assert status == 0, served.stderr()


@pytest.fixture(scope="session")
def pricing_grpc(pricing_pb2: ModuleType) -> ModuleType:
    """pricing.v1.pricing_pb2_grpc (generated stubs), beside the session's pricing_pb2."""
    root = Path(str(pricing_pb2.__file__)).parents[2]
    proto = ROOT / "proto" / "examples" / "pricing" / "v1" / "pricing.proto"
    include = ROOT / "proto" / "examples"
    assert protoc.main(["protoc", f"-I{include}", f"--grpc_python_out={root}", str(proto)]) == 0
    return importlib.import_module("pricing.v1.pricing_pb2_grpc")
