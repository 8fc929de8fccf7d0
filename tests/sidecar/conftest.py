"""Fixtures of the sidecar tests: `bridge serve` run as a user runs it, in its own process."""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

from bridge.schema.embed import embed
from bridge.sidecar.handshake import Handshake
from tests.conftest import EXAMPLES, ROOT, _build_or_skip

READY_TIMEOUT_S = 60.0
# A health or reflection request: answered at once, or the sidecar is not doing its job.
HEALTH_TIMEOUT_S = 5.0


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


SIDECAR_GO = ROOT / "tests" / "guests" / "sidecar-go"


@pytest.fixture(scope="session")
def probe_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/guests/sidecar-go (sidecar.v1.Probe): Hold and Answer reply "one"."""
    return _build_or_skip(SIDECAR_GO, tmp_path_factory.mktemp("probe") / "probe-one.wasm")


@pytest.fixture(scope="session")
def probe_two_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second build of tests/guests/sidecar-go, from a copy whose answer is "two"."""
    project = tmp_path_factory.mktemp("probe-two") / "sidecar-go"
    shutil.copytree(SIDECAR_GO, project)
    go_mod = project / "go.mod"
    go_mod.write_text(go_mod.read_text().replace("../../../guest-go", str(ROOT / "guest-go")))
    answer = project / "answer.go"
    source = answer.read_text()
    assert 'answer = "one"' in source
    answer.write_text(source.replace('answer = "one"', 'answer = "two"'))
    return _build_or_skip(project, project.parent / "probe-two.wasm")


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


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout_s:g} s")
        time.sleep(0.05)


def health_status(channel: grpc.Channel, service: str = "") -> int:
    """The sidecar's health status for `service` ("" for the whole server)."""
    stub: Any = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=service)
    return int(stub.Check(request, timeout=HEALTH_TIMEOUT_S).status)


def reflected_services(channel: grpc.Channel) -> set[str]:
    """The services the sidecar lists by server reflection."""
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [answer] = stub.ServerReflectionInfo(iter([request]), timeout=HEALTH_TIMEOUT_S)
    return {service.name for service in answer.list_services_response.service}


def reloads(served: Served) -> int:
    """How many module reloads the sidecar has logged."""
    return served.stderr().count("reloaded ")


def wait_reloaded(served: Served, past: int) -> None:
    """Wait until the sidecar has logged more than `past` reloads."""
    wait_until(lambda: reloads(served) > past, f"reload number {past + 1}")


def deploy(build: Path, module: Path) -> None:
    """Put `build` at `module` as a deploy does: write it aside, then rename it over."""
    aside = module.with_name(module.name + ".new")
    shutil.copy(build, aside)
    os.replace(aside, module)


def with_dangling_schema(module: Path, out: Path) -> Path:
    """`module` with an embedded schema whose message names a type it does not define."""
    files = descriptor_pb2.FileDescriptorSet()
    file = files.file.add(name="dangling/v1/dangling.proto", package="dangling.v1")
    file.syntax = "proto3"
    message = file.message_type.add(name="Request")
    message.field.add(
        name="missing",
        number=1,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".dangling.v1.Missing",
    )
    out.write_bytes(embed(module.read_bytes(), files.SerializeToString()))
    return out


@contextlib.contextmanager
def serving(*args: str, folder: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`bridge serve ARGS` for the duration; stopped with SIGTERM, which must exit 0."""
    served = start_serve(*args, folder=folder, env=env)
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


def go_guest(folder: Path, schema: str, service: str, body: str) -> tuple[Path, str]:
    """A Go guest of `service` made by `bridge init` from `schema` (the text of a .proto),
    its first method written as `body` (Go statements), built: the module, and what init
    said on stderr. Skips without Go."""
    from tests.cli.conftest import run
    from tests.conftest import has_go

    if not has_go():
        pytest.skip("needs Go (scripts/bootstrap installs it)")
    proto = folder / "schema.proto"
    proto.write_text(schema)
    init = run("init", "go", str(proto), "--service", service, "--dir", str(folder / "guest"))
    assert init.exit_code == 0, init.stderr
    main_go = folder / "guest" / "main.go"
    text = main_go.read_text()
    unimplemented = text[text.index("\treturn nil, guest.Errorf(guest.CodeUnimplemented") :]
    main_go.write_text(text.replace(unimplemented.splitlines(keepends=True)[0], body))
    module = folder / "guest.wasm"
    built = run("build", str(folder / "guest"), "-o", str(module))
    assert built.exit_code == 0, built.stderr
    return module, init.stderr
